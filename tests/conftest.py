"""Shared pytest setup.

* Plots never open a window, whatever the caller's environment.
* ``backend``: a test that takes it runs once per backend, with the module ``vaelearn.numpy`` and
  then ``vaelearn.torch`` (skipped, saying why, where torch is not installed); its ids are
  ``[numpy]`` and ``[torch]``. Checks that compare the two backends with each other belong in
  ``tests/test_parity.py``; ``backend`` is for checks each backend must pass on its own (oracles,
  edge cases, error messages).
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

import vaelearn  # noqa: E402

BACKEND_NAMES = ("numpy", "torch")


@pytest.fixture(params=[pytest.param(name, marks=[pytest.mark.torch] if name == "torch" else [])
                        for name in BACKEND_NAMES])
def backend(request):
    """Each backend module in turn (the same modules ``vaelearn.get_backend`` returns)."""
    if request.param == "torch":
        pytest.importorskip("torch")
    return vaelearn.get_backend(request.param)
