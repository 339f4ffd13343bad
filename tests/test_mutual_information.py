"""vaelearn.info.mutual_information and conditional_entropy against independent oracles (lesson 01).

Oracles: scikit-learn's ``mutual_info_score`` (its own code, from a contingency table of counts
or from paired samples), scipy's ``entropy`` of the marginals and of the flattened joint, and
closed forms (independence gives 0, I(X;X) = H(X)). The two lesson 01 derivations are verified,
compared with the numbers, and every checked step is corrupted to see the verifier reject it.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from sklearn.metrics import mutual_info_score

from vaelearn import info
from vaelearn.derivations import info as dinfo
from vaelearn.derive import Derivation, DerivationError

JOINT = np.array([[0.30, 0.10, 0.05], [0.05, 0.20, 0.30]])


def _entropies(joint):
    """H(X), H(Y), H(X, Y) by scipy (nats)."""
    return (stats.entropy(joint.sum(axis=1)), stats.entropy(joint.sum(axis=0)),
            stats.entropy(joint.ravel()))


def test_against_sklearn_contingency_table():
    # sklearn normalises a table of counts itself; 1e-12: both sum a handful of float64 terms
    counts = np.array([[30, 10, 5], [5, 20, 30]])
    want = mutual_info_score(None, None, contingency=counts)
    assert abs(float(info.mutual_information(counts / counts.sum())) - want) < 1e-12


def test_against_sklearn_on_samples():
    # the plug-in estimate from paired labels is the MI of their empirical joint table
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=5000)
    y = (x + rng.integers(0, 2, size=5000)) % 4
    table = np.zeros((3, 4))
    np.add.at(table, (x, y), 1.0)
    assert abs(float(info.mutual_information(table / table.sum()))
               - mutual_info_score(x, y)) < 1e-12


def test_identities_with_scipy_entropies():
    h_x, h_y, h_xy = _entropies(JOINT)
    mi = float(info.mutual_information(JOINT))
    assert abs(mi - (h_x + h_y - h_xy)) < 1e-12
    # H(X|Y) = H(X, Y) - H(Y), H(Y|X) = H(X, Y) - H(X); I = H(X) - H(X|Y) = H(Y) - H(Y|X)
    assert abs(float(info.conditional_entropy(JOINT)) - (h_xy - h_y)) < 1e-12
    assert abs(float(info.conditional_entropy(JOINT.T)) - (h_xy - h_x)) < 1e-12
    assert abs(mi - (h_x - float(info.conditional_entropy(JOINT)))) < 1e-12
    # KL of the joint from the product of the marginals, by scipy
    product = np.outer(JOINT.sum(axis=1), JOINT.sum(axis=0))
    assert abs(mi - stats.entropy(JOINT.ravel(), product.ravel())) < 1e-12
    # bits: divide by ln 2
    assert abs(float(info.mutual_information(JOINT, base=2)) - mi / np.log(2)) < 1e-12


def test_independence_gives_zero_and_copy_gives_entropy():
    p_x, p_y = np.array([0.2, 0.5, 0.3]), np.array([0.1, 0.9])
    assert float(info.mutual_information(np.outer(p_x, p_y))) < 1e-15
    # I(X; X) = H(X): the joint of X with itself is diagonal
    assert abs(float(info.mutual_information(np.diag(p_x))) - stats.entropy(p_x)) < 1e-12
    assert abs(float(info.conditional_entropy(np.diag(p_x)))) < 1e-15
    # two fair bits copied: 1 bit; a point mass: 0
    assert abs(float(info.mutual_information(np.eye(2) / 2, base=2)) - 1.0) < 1e-15
    assert float(info.mutual_information([[1.0]])) == 0.0


# tables of counts (sklearn's contingency argument takes counts), normalised to a joint
_tables = arrays(np.int64, st.tuples(st.integers(1, 5), st.integers(1, 5)),
                 elements=st.integers(0, 50))


@settings(max_examples=200, deadline=None)
@given(_tables)
def test_properties_over_random_tables(counts):
    if counts.sum() == 0:
        return
    joint = counts / counts.sum()
    mi = float(info.mutual_information(joint))
    h_x, h_y, _ = _entropies(joint)
    # nonnegative, symmetric, at most min(H(X), H(Y)); 1e-12 covers float64 sums of <= 25 terms
    assert mi >= 0.0
    assert abs(mi - float(info.mutual_information(joint.T))) < 1e-12
    assert mi <= min(h_x, h_y) + 1e-12
    assert abs(mi - mutual_info_score(None, None, contingency=counts)) < 1e-12
    assert float(info.conditional_entropy(joint)) >= 0.0


@pytest.mark.parametrize(
    ("joint", "match"),
    [
        ([0.5, 0.5], "argument 'joint' must be a 2-D table"),
        (np.ones((2, 2, 1)) / 4, "argument 'joint' must be a 2-D table"),
        (np.zeros((0, 3)), "argument 'joint' must be a 2-D table"),
        ([[0.5, 0.6]], "argument 'joint' is not a distribution"),
        ([[np.nan, 1.0]], "argument 'joint' contains NaN"),
        ([[np.inf, 1.0]], "argument 'joint' contains inf"),
        ([[-0.1, 1.1]], "argument 'joint' has negative entries"),
        ([["a", "b"]], "argument 'joint' must be an array of real numbers"),
    ],
)
def test_bad_input_names_the_argument(joint, match):
    for fn in (info.mutual_information, info.conditional_entropy):
        with pytest.raises(ValueError, match=match):
            fn(joint)
    with pytest.raises(ValueError, match="argument 'base'"):
        info.mutual_information(JOINT, base=1)


def test_float32_table_uses_its_own_tolerance():
    # a float32 table off by 1e-6 from summing to 1 is accepted (tolerance 1e-5), as for entropy
    t32 = (JOINT * (1 + 1e-6)).astype(np.float32)
    assert abs(float(info.mutual_information(t32)) - float(info.mutual_information(JOINT))) < 1e-5


# -- the derivations -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make", [dinfo.mutual_information_identities, dinfo.rate_as_mutual_information],
    ids=lambda m: m.__name__,
)
def test_derivations_verify_and_reject_corrupted_steps(make):
    good = make()
    assert good.verify().verified and len(good) >= 4
    checked = 0
    for k, step in enumerate(good.steps):
        if k == 0 or step.rule in ("given", "definition"):
            continue
        bad = Derivation(good.title)
        for j, s in enumerate(good.steps):
            expr = s.expr
            if j == k:  # wrong by a constant
                expr = sp.Eq(expr.lhs, expr.rhs + sp.Rational(1, 7))
            bad.step(s.text, expr, rule=s.rule, **s.options)
        with pytest.raises(DerivationError, match=f"step {k + 1} "):
            bad.verify()
        checked += 1
    assert checked >= 2


def test_identities_derivation_matches_the_numbers():
    # the derivation's last two forms, evaluated with scipy's entropies, give info's number
    d = dinfo.mutual_information_identities().verify()
    h_x, h_y, h_xy = _entropies(JOINT)
    values = {sp.Symbol("H(X)"): h_x, sp.Symbol("H(Y)"): h_y, sp.Symbol("H(X,Y)"): h_xy,
              sp.Symbol("H(X|Y)"): h_xy - h_y}
    mi = float(info.mutual_information(JOINT))
    for step in d.steps[-2:]:
        assert abs(float(step.expr.rhs.subs(values)) - mi) < 1e-12
