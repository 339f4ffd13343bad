"""Measuring disentanglement: the mutual information gap (MIG) of Chen et al. (2018). Lesson 08.

A code is *disentangled* in the sense of Higgins et al. (2017) and Chen et al. (2018) when each
generative factor ``v_k`` of the data (a position, a width, ...) is captured by one latent
coordinate ``z_j`` and by no other. The MIG scores this with mutual information, in four steps:

1. discretise every latent coordinate (the posterior means ``mu(x)``) into ``n_bins`` equal-width
   bins (:func:`discretize`), so that mutual information is a sum over a contingency table;
2. the empirical mutual information ``I(z_j; v_k)`` of every latent with every factor
   (:func:`mutual_info_matrix`, computed by :func:`sklearn.metrics.mutual_info_score`);
3. for each factor, the gap between the largest and the second largest ``I(z_j; v_k)`` over
   ``j``, divided by the factor's entropy ``H(v_k)`` (:func:`factor_entropies`), which bounds
   every ``I(z_j; v_k)`` from above;
4. the average of the normalised gaps over the factors (:func:`mig_from_mi`, :func:`mig`):

``MIG = (1/K) sum_k [I(z_{j_k}; v_k) - max_{j != j_k} I(z_j; v_k)] / H(v_k)``,
``j_k = argmax_j I(z_j; v_k)``.

MIG lies in ``[0, 1]``: 1 when every factor is read off one latent exactly and that latent says
nothing about it through any other coordinate, 0 when the two best latents know equally much
(a factor spread over two coordinates, or a code that ignores it). Everything here works on
NumPy arrays (a torch tensor is converted), so it measures either backend's models. The factors
must be discrete (finitely many values), as those of :func:`vaelearn.data.factor_images` are.

Units: nats (natural logarithms) for mutual information and entropy; MIG has none.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "discretize",
    "mutual_info_matrix",
    "factor_entropies",
    "mig_from_mi",
    "mig",
]


def _as_2d(a, name: str) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor: detach and move to the CPU
        a = a.detach().cpu().numpy()
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"argument {name!r} must be a numeric array") from None
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(
            f"argument {name!r} must have shape (n, d) with n >= 2 rows and d >= 1 columns, "
            f"got {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"argument {name!r} contains NaN or infinite values")
    return a


def _check_n_bins(n_bins) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 2:
        raise ValueError(f"argument 'n_bins' must be an int >= 2, got {n_bins!r}")
    return int(n_bins)


def discretize(z, n_bins: int = 20) -> np.ndarray:
    """Bin every column of ``z`` into ``n_bins`` equal-width bins between its minimum and maximum.

    Bin ``b`` of column ``j`` holds the values in
    ``[lo_j + b h_j, lo_j + (b + 1) h_j)``, ``h_j = (max_j - min_j) / n_bins`` (the maximum goes
    into the last bin), as in Chen et al. (2018)'s and Locatello et al. (2019)'s MIG code. A
    constant column (an unused latent) falls into a single bin and so carries no information.

    Parameters
    ----------
    z : ndarray, shape (n, z_dim)
        Latent codes, usually the posterior means ``mu(x)`` (a 1-D array is one column).
    n_bins : int, default 20
        Number of bins per column, >= 2.

    Returns
    -------
    ndarray of int64, shape (n, z_dim)
        Bin index of every value, in ``0 .. n_bins - 1``.

    Raises
    ------
    ValueError
        If ``z`` is not a finite 2-D array with at least two rows or ``n_bins`` is not an int >= 2.
    """
    z = _as_2d(z, "z")
    n_bins = _check_n_bins(n_bins)
    lo, hi = z.min(0), z.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    bins = np.floor((z - lo) / span * n_bins).astype(np.int64)
    return np.clip(bins, 0, n_bins - 1)


def mutual_info_matrix(z, factors, n_bins: int = 20) -> np.ndarray:
    """Empirical mutual information between every binned latent and every factor, in nats.

    ``mi[j, k] = I(bin(z_j); v_k) = sum_{a,b} p(a, b) ln(p(a, b) / (p(a) p(b)))``, the plug-in
    estimate from the ``n`` joint samples (:func:`sklearn.metrics.mutual_info_score`, one
    contingency table per pair). The plug-in estimate is biased upwards by about
    ``(#cells - #rows - #columns + 1) / (2n)`` nats when the two are independent (Miller-Madow),
    so keep ``n`` large against ``n_bins`` times the number of factor values.

    Parameters
    ----------
    z : ndarray, shape (n, z_dim)
        Latent codes (binned here with :func:`discretize`).
    factors : ndarray, shape (n, n_factors)
        Discrete factor values (any numbers; equal values are the same class).
    n_bins : int, default 20

    Returns
    -------
    ndarray, shape (z_dim, n_factors)
        Nats, each in ``[0, min(H(bin(z_j)), H(v_k))]``.

    Raises
    ------
    ValueError
        If the arrays are not finite 2-D arrays with the same number of rows (>= 2).
    """
    from sklearn.metrics import mutual_info_score

    z_bins = discretize(z, n_bins)
    factors = _as_2d(factors, "factors")
    if factors.shape[0] != z_bins.shape[0]:
        raise ValueError(
            f"arguments 'z' and 'factors' must have the same number of rows, got "
            f"{z_bins.shape[0]} and {factors.shape[0]}"
        )
    # class labels 0, 1, ... of every factor, and one contingency table (counts of each pair of
    # values) per latent and factor, which sklearn turns into the mutual information
    labels = [np.unique(factors[:, k], return_inverse=True)[1] for k in range(factors.shape[1])]
    mi = np.empty((z_bins.shape[1], factors.shape[1]))
    for j in range(z_bins.shape[1]):
        for k in range(factors.shape[1]):
            table = np.zeros((labels[k].max() + 1, z_bins[:, j].max() + 1), dtype=np.int64)
            np.add.at(table, (labels[k], z_bins[:, j]), 1)
            mi[j, k] = mutual_info_score(None, None, contingency=table)
    return np.maximum(mi, 0.0)  # sklearn clips tiny negative round-off the same way


def factor_entropies(factors) -> np.ndarray:
    """Empirical entropy ``H(v_k) = -sum_v p(v) ln p(v)`` of every discrete factor, in nats.

    Parameters
    ----------
    factors : ndarray, shape (n, n_factors)

    Returns
    -------
    ndarray, shape (n_factors,)
        Nats; ``ln m`` for a factor spread evenly over ``m`` values, 0 for a constant factor.
    """
    factors = _as_2d(factors, "factors")
    out = np.empty(factors.shape[1])
    for k in range(factors.shape[1]):
        _, counts = np.unique(factors[:, k], return_counts=True)
        p = counts / counts.sum()
        out[k] = float(-(p * np.log(p)).sum())
    return out


def mig_from_mi(mi, entropies) -> float:
    """The mutual information gap from a mutual-information matrix and the factors' entropies.

    ``MIG = (1/K) sum_k (mi[(1), k] - mi[(2), k]) / entropies[k]``, with ``mi[(1), k]`` and
    ``mi[(2), k]`` the largest and second largest entry of column ``k`` (Chen et al. 2018, eq. 6).

    Parameters
    ----------
    mi : ndarray, shape (z_dim, n_factors)
        ``I(z_j; v_k)`` in nats (or any unit, the same as ``entropies``), ``z_dim >= 2``.
    entropies : ndarray, shape (n_factors,)
        ``H(v_k)``, each > 0 (a constant factor has nothing to disentangle).

    Returns
    -------
    float
        In ``[0, 1]`` when every ``mi[j, k] <= entropies[k]``, as mutual information is.

    Raises
    ------
    ValueError
        If the shapes disagree, ``z_dim < 2``, an entry is negative or not finite, or an entropy
        is not > 0.
    """
    mi = _as_2d(mi, "mi")
    h = np.asarray(entropies, dtype=np.float64).reshape(-1)
    if h.shape != (mi.shape[1],):
        raise ValueError(
            f"argument 'entropies' must have shape ({mi.shape[1]},) (one per column of 'mi'), "
            f"got {np.shape(entropies)}"
        )
    if np.any(mi < 0):
        raise ValueError("argument 'mi' has a negative entry; mutual information is >= 0")
    if not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise ValueError(f"argument 'entropies' must be finite and > 0, got {h}")
    top2 = -np.sort(-mi, axis=0)[:2]  # largest and second largest of every column
    return float(np.mean((top2[0] - top2[1]) / h))


def mig(z, factors, n_bins: int = 20) -> float:
    """The mutual information gap (Chen et al. 2018) of latent codes against known factors.

    ``mig_from_mi(mutual_info_matrix(z, factors, n_bins), factor_entropies(factors))``; see the
    module docstring for the formula and its steps.

    Even a code that *is* the factors (a rescaled, permuted copy) scores slightly below 1: the
    plug-in mutual information of a latent with an unrelated factor is a little above 0 (see
    :func:`mutual_info_matrix`), which shrinks the gap.

    Parameters
    ----------
    z : ndarray, shape (n, z_dim)
        Latent codes, usually the posterior means (:func:`vaelearn.latent.encode_dataset`);
        ``z_dim >= 2``.
    factors : ndarray, shape (n, n_factors)
        The discrete factor values of the same ``n`` examples, none constant.
    n_bins : int, default 20
        Bins per latent (:func:`discretize`).

    Returns
    -------
    float
        MIG, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If the arrays are malformed (see :func:`mutual_info_matrix`), ``z_dim < 2`` or a factor
        is constant.

    References
    ----------
    Chen, Li, Grosse, Duvenaud (2018), Isolating Sources of Disentanglement in VAEs, NeurIPS.
    Lesson 08.
    """
    z = _as_2d(z, "z")
    if z.shape[1] < 2:
        raise ValueError(f"argument 'z' must have at least 2 columns for a gap, got {z.shape[1]}")
    mi = mutual_info_matrix(z, factors, n_bins)
    h = factor_entropies(factors)
    if np.any(h <= 0):
        raise ValueError(
            f"argument 'factors': column(s) {np.flatnonzero(h <= 0).tolist()} are constant"
        )
    return mig_from_mi(mi, h)
