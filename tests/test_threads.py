"""vaelearn sets its own thread count (vaelearn.threads); progress follows VAELEARN_PROGRESS.

Thread counts are process-wide, so every test here puts the default back afterwards.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import vaelearn
from vaelearn import threads
from vaelearn.numpy.train import _progress_bar


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.delenv(threads.NUM_THREADS_ENV, raising=False)
    threads.set_num_threads(None)  # an in-process `vaelearn bench` (test_cli) may have set it
    yield
    monkeypatch.delenv(threads.NUM_THREADS_ENV, raising=False)
    threads.set_num_threads(None)  # back to the default, applied


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_default_is_one_thread_and_env_overrides(monkeypatch):
    assert threads.num_threads() == threads.DEFAULT_NUM_THREADS == 1
    monkeypatch.setenv(threads.NUM_THREADS_ENV, " 3 ")
    assert threads.num_threads() == 3
    monkeypatch.setenv(threads.NUM_THREADS_ENV, "AUTO")
    assert threads.num_threads() is None
    threads.set_num_threads(2)  # the function wins over the variable
    assert threads.num_threads() == 2


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_env_value_names_the_variable(monkeypatch, bad):
    monkeypatch.setenv(threads.NUM_THREADS_ENV, bad)
    with pytest.raises(ValueError, match="environment variable VAELEARN_NUM_THREADS"):
        threads.num_threads()


@pytest.mark.parametrize("bad", [0, -2, 1.0, True, "many"])
def test_bad_argument_names_it(bad):
    with pytest.raises(ValueError, match="argument 'n'"):
        threads.set_num_threads(bad)


def test_get_backend_and_fit_limit_blas(monkeypatch):
    if not _blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can see")
    threadpool_limits(limits=2)  # as a library default of 2 threads would leave it
    assert _blas_threads() == {2}
    B = vaelearn.get_backend("numpy")
    assert _blas_threads() == {1}
    threadpool_limits(limits=2)
    model = B.Autoencoder(x_dim=4, hidden_dims=(), z_dim=2, seed=0)
    B.fit(model, np.random.default_rng(0).random((8, 4)), epochs=1, progress=False)
    assert _blas_threads() == {1}
    monkeypatch.setenv(threads.NUM_THREADS_ENV, "2")
    B.fit(model, np.random.default_rng(0).random((8, 4)), epochs=1, progress=False)
    assert _blas_threads() == {2}


def test_auto_leaves_the_pools_alone(monkeypatch):
    if not _blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can see")
    threadpool_limits(limits=2)
    monkeypatch.setenv(threads.NUM_THREADS_ENV, "auto")
    assert threads.apply_num_threads() is None
    assert _blas_threads() == {2}


def test_torch_threads_follow():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    vaelearn.get_backend("torch")
    assert torch.get_num_threads() == 1
    threads.set_num_threads(2)
    assert torch.get_num_threads() == 2


def _bar_output(monkeypatch, capsys, mode, epochs=5):
    monkeypatch.setenv("VAELEARN_PROGRESS", mode)
    bar = _progress_bar(epochs, True, "VAE")
    for _ in bar:
        bar.set_postfix({"train_loss": "1.000"})
    bar.close()
    return capsys.readouterr().err


def test_final_progress_writes_one_line(monkeypatch, capsys):
    err = _bar_output(monkeypatch, capsys, "final")
    assert err.count("\n") == 1 and "\r" not in err, repr(err)
    assert err.startswith("fit VAE: 100%|") and "5/5" in err and "train_loss=1.000" in err


def test_text_progress_redraws(monkeypatch, capsys):
    """The live text bar redraws (the final mode's single line is not vacuous)."""
    err = _bar_output(monkeypatch, capsys, "text")
    assert err.count("\r") >= 2 and "5/5" in err


def test_bad_progress_mode_names_the_variable(monkeypatch):
    monkeypatch.setenv("VAELEARN_PROGRESS", "fancy")
    with pytest.raises(ValueError, match="VAELEARN_PROGRESS"):
        _progress_bar(3, True, "VAE")


def test_off_progress_writes_nothing(monkeypatch, capsys):
    """``off`` (what the classroom sandbox sets) silences the bar even when progress=True."""
    assert _bar_output(monkeypatch, capsys, "off") == ""


def test_classroom_sandbox_progress_mode_is_a_valid_mode(monkeypatch):
    """The grader's student processes set VAELEARN_PROGRESS; an unknown mode would make every
    training cell of a graded lesson raise (it did: every lesson that trains scored 0)."""
    from vaelearn.classroom.sandbox import SANDBOX_ENV

    monkeypatch.setenv("VAELEARN_PROGRESS", SANDBOX_ENV["VAELEARN_PROGRESS"])
    _progress_bar(2, True, "VAE").close()
