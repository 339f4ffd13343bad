"""The exercise-test helper hides the library function and restores it, also after a failure."""

import numpy as np
import pytest

from vaelearn import info
from vaelearn.classroom.forbid import DelegatedToLibrary, forbid


def test_delegating_answer_fails_and_own_answer_passes():
    original = info.entropy
    ns = {"info": info, "entropy": info.entropy}

    def delegating(p):
        return ns["info"].entropy(p, base=2)

    def own(p):
        p = np.asarray(p, dtype=float)
        return float(-np.sum(p * np.log2(p)))

    with forbid(ns, (info, "entropy")):
        with pytest.raises(DelegatedToLibrary, match="vaelearn.info.entropy"):
            delegating([0.5, 0.5])
        with pytest.raises(DelegatedToLibrary):
            ns["entropy"]([0.5, 0.5])
        assert own([0.5, 0.5]) == 1.0
    assert info.entropy is original and ns["entropy"] is original
    with pytest.raises(ZeroDivisionError):
        with forbid(ns, (info, "entropy")):
            raise ZeroDivisionError("inside the block")
    assert info.entropy is original and ns["entropy"] is original
    assert delegating([0.5, 0.5]) == pytest.approx(1.0, abs=1e-12)


def test_forbid_rejects_bad_arguments():
    with pytest.raises(TypeError, match="namespace"):
        with forbid([], (info, "entropy")):
            pass
    with pytest.raises(ValueError, match="targets"):
        with forbid({}):
            pass
    with pytest.raises(ValueError, match="no attribute 'nope'"):
        with forbid({}, (info, "nope")):
            pass
    with pytest.raises(TypeError, match="pair"):
        with forbid({}, info.entropy):
            pass


def test_a_method_can_be_hidden_and_is_restored():
    class Model:
        def grads(self):
            return "library"

        def proba(self):
            return 0.5

    original = Model.grads
    with forbid({}, (Model, "grads")):
        with pytest.raises(DelegatedToLibrary):
            Model().grads()
        assert Model().proba() == 0.5
    assert Model.grads is original and Model().grads() == "library"
