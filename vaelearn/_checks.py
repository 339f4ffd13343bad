"""Argument checks shared by the NumPy closed-form modules (:mod:`vaelearn.elbo`,
:mod:`vaelearn.likelihoods`): every error names the argument."""

from __future__ import annotations

import numpy as np


def finite(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"argument {name!r} contains NaN or infinite values")
    return arr


def positive(name: str, value) -> np.ndarray:
    arr = finite(name, value)
    if np.any(arr <= 0):
        raise ValueError(f"argument {name!r} must be positive (a variance), got {value!r}")
    return arr


def as_result(value: np.ndarray):
    """Return a Python float for 0-d results, an array otherwise."""
    value = np.asarray(value, dtype=np.float64)
    return float(value) if value.ndim == 0 else value
