r"""Information theory in NumPy (float64): entropy, cross-entropy, KL, codes, Gaussians. Lesson 01.

Distributions are arrays whose **last axis** lists the probabilities of the outcomes, so a batch
of distributions has shape ``(..., n_outcomes)`` and a result has shape ``(...)``. Results are in
nats by default; ``base=2`` gives bits. Conventions: :math:`0 \log 0 = 0`, and a KL divergence
or cross-entropy is ``inf`` where ``p > 0`` and ``q = 0``.

The tensor-relevant functions (:func:`entropy`, :func:`cross_entropy`, :func:`kl_divergence`,
:func:`gaussian_entropy`, :func:`kl_normal`) are also exported by both backends
(``vaelearn.numpy``, ``vaelearn.torch``); the rest (codes, messages, fitting a Gaussian) works on
NumPy arrays only.

Bad input raises ``ValueError`` naming the argument and the problem: NaN, negative
probabilities, rows that do not sum to 1 within :func:`sum_tol` of their dtype (1e-9 for float64,
1e-5 for float32, in both backends and for NumPy arrays and tensors alike), mismatched shapes,
non-positive variances.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

__all__ = [
    "SUM_TOL",
    "SUM_TOL_FLOAT32",
    "sum_tol",
    "cross_entropy",
    "decode",
    "encode",
    "entropy",
    "expected_code_length",
    "fit_normal_by_kl",
    "gaussian_entropy",
    "huffman_code",
    "is_prefix_free",
    "kl_divergence",
    "kl_normal",
    "mixture_pdf",
    "normal_pdf",
    "sample_message",
    "conditional_entropy",
    "mutual_information",
]

SUM_TOL = 1e-9
"""How far from 1 the probabilities of one float64 distribution may sum (float64 rounding)."""

SUM_TOL_FLOAT32 = 1e-5
"""The same for float32 (and lower-precision) data: a float32 softmax over a few thousand
outcomes sums to 1 only within about ``n * 6e-8`` in the worst case, ~100 ulp in practice."""


def sum_tol(dtype) -> float:
    """The sum-to-one tolerance for probabilities stored in ``dtype``.

    Chosen from the precision of the data, not from its container, the same in both backends:
    :data:`SUM_TOL` (1e-9) for float64 and for anything that is not a float array (lists, ints),
    :data:`SUM_TOL_FLOAT32` (1e-5) for float32, and 1e-2 for float16 and bfloat16.
    ``dtype`` may be a NumPy dtype or a ``torch.dtype``.
    """
    if dtype is None:
        return SUM_TOL
    try:
        name = np.dtype(dtype).name
    except TypeError:  # a torch.dtype
        name = str(dtype).replace("torch.", "")
    if name in ("float16", "bfloat16", "half"):
        return 1e-2
    if name in ("float32", "float", "single"):
        return SUM_TOL_FLOAT32
    return SUM_TOL


# -- validation ------------------------------------------------------------------------------
def _log_base(base) -> float:
    """The natural log of ``base`` (1.0 for nats), after checking it."""
    if base is None:
        return 1.0
    try:
        b = float(base)
    except (TypeError, ValueError):
        raise ValueError(f"argument 'base' must be a number > 0 and != 1; got {base!r}") from None
    if not (math.isfinite(b) and b > 0 and b != 1):
        raise ValueError(f"argument 'base' must be a finite number > 0 and != 1; got {base!r}")
    return math.log(b)


def _as_array(a, name: str) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"argument '{name}' must be an array of real numbers ({exc})") from None
    if np.isnan(arr).any():
        raise ValueError(f"argument '{name}' contains NaN")
    return arr


def _as_distribution(p, name: str) -> np.ndarray:
    """Check that ``p`` holds distributions along its last axis; return it as float64.

    The sum-to-one tolerance is :func:`sum_tol` of ``p``'s own dtype (float32 data may be off
    by 1e-5), taken before the conversion to float64."""
    tol = sum_tol(getattr(p, "dtype", None))
    arr = _as_array(p, name)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(
            f"argument '{name}' must have the outcomes on a non-empty last axis; "
            f"got shape {arr.shape}"
        )
    if np.isinf(arr).any():
        raise ValueError(f"argument '{name}' contains inf")
    if (arr < 0).any():
        raise ValueError(
            f"argument '{name}' has negative entries (smallest {arr.min():.3g}); "
            "probabilities must be >= 0"
        )
    sums = arr.sum(axis=-1)
    err = np.abs(sums - 1.0)
    if (err > tol).any():
        worst = np.asarray(sums).flat[int(np.argmax(err))]
        raise ValueError(
            f"argument '{name}' is not a distribution: its last axis must sum to 1 within "
            f"{tol:g}, but a row sums to {worst:.12g}"
        )
    return arr


def _check_pair(p: np.ndarray, q: np.ndarray) -> None:
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"arguments 'p' and 'q' must have the same number of outcomes (last axis); "
            f"got shapes {p.shape} and {q.shape}"
        )
    try:
        np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise ValueError(
            f"arguments 'p' and 'q' have shapes {p.shape} and {q.shape}, which do not broadcast"
        ) from None


def _as_variance(v, name: str) -> np.ndarray:
    arr = _as_array(v, name)
    if not (arr > 0).all():
        raise ValueError(
            f"argument '{name}' must be a variance > 0; smallest value is {arr.min():.3g}"
        )
    if np.isinf(arr).any():
        raise ValueError(f"argument '{name}' contains inf")
    return arr


def _log_or_zero(a: np.ndarray) -> np.ndarray:
    """``log(a)`` where ``a > 0`` and 0 elsewhere, without warnings."""
    return np.log(np.where(a > 0, a, 1.0))


# -- entropy, cross-entropy, KL --------------------------------------------------------------
def entropy(p, base=None):
    r"""Entropy :math:`H(p) = -\sum_i p_i \log p_i`, with :math:`0 \log 0 = 0`.

    The average number of nats (``base=e``) or bits (``base=2``) an optimal code spends per
    outcome drawn from ``p``. Lesson 01.

    Parameters
    ----------
    p : array_like, shape (..., n_outcomes)
        Probabilities; the last axis sums to 1.
    base : float, optional
        Logarithm base; ``None`` (default) gives nats, ``2`` gives bits.

    Returns
    -------
    ndarray, shape (...)
        float64, >= 0; a 0-d array for a single distribution (the torch backend returns the
        same 0-d array for NumPy input).

    Raises
    ------
    ValueError
        If ``p`` is not a distribution along its last axis, or ``base`` is invalid.
    """
    lb = _log_base(base)
    p = _as_distribution(p, "p")
    # -p log p >= 0 term by term: log(min(p, 1)) so a p of 1 + 1e-12 (within the sum tolerance)
    # cannot give a negative term; "+ 0.0" turns the -0.0 of a point mass into 0.0.
    return np.asarray(-np.sum(p * _log_or_zero(np.minimum(p, 1.0)), axis=-1) / lb + 0.0)


def cross_entropy(p, q, base=None):
    r"""Cross-entropy :math:`H(p, q) = -\sum_i p_i \log q_i = H(p) + D_{KL}(p \| q)`.

    The average code length per outcome drawn from ``p`` when the code is optimal for ``q``.
    Terms with ``p_i = 0`` contribute 0; the result is ``inf`` where ``p_i > 0 = q_i``. Lesson 01.

    Parameters
    ----------
    p, q : array_like, shape (..., n_outcomes)
        Distributions on the last axis; other axes broadcast.
    base : float, optional
        ``None`` (default) gives nats, ``2`` gives bits.

    Returns
    -------
    ndarray, shape (...)

    Raises
    ------
    ValueError
        If ``p`` or ``q`` is not a distribution, their shapes do not match, or ``base`` is invalid.
    """
    lb = _log_base(base)
    p = _as_distribution(p, "p")
    q = _as_distribution(q, "q")
    _check_pair(p, q)
    with np.errstate(divide="ignore"):
        # -p log q >= 0 term by term (min(q, 1): q may exceed 1 by the sum tolerance)
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, np.minimum(q, 1.0), 1.0)), 0.0)
    return np.asarray(np.sum(terms, axis=-1) / lb)


def kl_divergence(p, q, base=None):
    r"""Kullback-Leibler divergence :math:`D_{KL}(p \| q) = \sum_i p_i \log (p_i / q_i)`.

    The extra code length per outcome drawn from ``p`` when coding with a code optimal for
    ``q`` instead of ``p``; :math:`\ge 0`, and 0 only when ``p == q`` (Gibbs' inequality,
    :func:`vaelearn.derivations.info.gibbs_inequality`). Not symmetric. Terms with ``p_i = 0``
    contribute 0; the result is ``inf`` where ``p_i > 0 = q_i``. Lesson 01.

    Parameters
    ----------
    p, q : array_like, shape (..., n_outcomes)
        Distributions on the last axis; other axes broadcast.
    base : float, optional
        ``None`` (default) gives nats, ``2`` gives bits.

    Returns
    -------
    ndarray, shape (...)

    Raises
    ------
    ValueError
        If ``p`` or ``q`` is not a distribution, their shapes do not match, or ``base`` is invalid.
    """
    lb = _log_base(base)
    p = _as_distribution(p, "p")
    q = _as_distribution(q, "q")
    _check_pair(p, q)
    return np.asarray(np.sum(_kl_terms(p, q), axis=-1) / lb)


# -- mutual information ------------------------------------------------------------------------
def _as_joint(joint) -> np.ndarray:
    """Check that ``joint`` is a 2-D table of probabilities summing to 1; return it as float64.

    The sum-to-one tolerance is :func:`sum_tol` of ``joint``'s own dtype, as for a distribution."""
    arr = _as_array(joint, "joint")
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(
            "argument 'joint' must be a 2-D table p(x, y), rows x and columns y; "
            f"got shape {arr.shape}"
        )
    raw = joint if isinstance(joint, np.ndarray) else arr
    _as_distribution(raw.reshape(-1), "joint")  # NaN, inf, negative entries, sum to 1
    return arr


def conditional_entropy(joint, base=None):
    r"""Conditional entropy :math:`H(X \mid Y) = -\sum_{x,y} p(x, y) \log p(x \mid y)`.

    The average number of nats (bits for ``base=2``) still needed to code ``x`` once ``y`` is
    known: :math:`H(X \mid Y) = H(X, Y) - H(Y) \le H(X)`. Computed term by term as
    :math:`-p(x,y)\,[\log p(x,y) - \log p(y)]`, each term :math:`\ge 0` (no difference of two
    entropies, which could cancel). For :math:`H(Y \mid X)` pass ``joint.T``. Lesson 01.

    Parameters
    ----------
    joint : array_like, shape (n_x, n_y)
        The joint distribution :math:`p(x, y)`: rows are the values of ``x``, columns those of
        ``y``; all entries sum to 1.
    base : float, optional
        ``None`` (default) gives nats, ``2`` gives bits.

    Returns
    -------
    ndarray, shape ()
        float64, >= 0.

    Raises
    ------
    ValueError
        If ``joint`` is not a 2-D table of probabilities summing to 1, or ``base`` is invalid.
    """
    lb = _log_base(base)
    p = _as_joint(joint)
    p_y = p.sum(axis=0, keepdims=True)
    # p(x, y) <= p(y), so each term -p log(p / p_y) is >= 0; p = 0 terms are 0
    terms = -p * (_log_or_zero(p) - _log_or_zero(np.broadcast_to(p_y, p.shape)))
    return np.asarray(np.maximum(terms, 0.0).sum() / lb)


def mutual_information(joint, base=None):
    r"""Mutual information :math:`I(X; Y) = \mathrm{KL}\big(p(x, y) \,\|\, p(x)\,p(y)\big)`.

    .. math::
        I(X; Y) = \sum_{x,y} p(x, y) \log \frac{p(x, y)}{p(x)\,p(y)}
        = H(X) - H(X \mid Y) = H(X) + H(Y) - H(X, Y)

    How many nats (bits for ``base=2``) knowing ``y`` saves, on average, in coding ``x`` (and
    vice versa: it is symmetric). It is :math:`\ge 0`, zero exactly when ``x`` and ``y`` are
    independent, and at most :math:`\min(H(X), H(Y))`; :math:`I(X; X) = H(X)`. Computed as
    the KL divergence of the joint from the product of its marginals with the non-negative
    terms of :func:`kl_divergence`, so it never comes out negative by cancellation. Derived in
    :func:`vaelearn.derivations.info.mutual_information_identities`. Lesson 01; lesson 05 meets
    it again as the part :math:`I_q(x; z)` of a VAE's rate (Hoffman & Johnson 2016).

    Parameters
    ----------
    joint : array_like, shape (n_x, n_y)
        The joint distribution :math:`p(x, y)`: rows are the values of ``x``, columns those of
        ``y``; all entries sum to 1 (within :func:`sum_tol` of the dtype).
    base : float, optional
        ``None`` (default) gives nats, ``2`` gives bits.

    Returns
    -------
    ndarray, shape ()
        float64, >= 0.

    Raises
    ------
    ValueError
        If ``joint`` has NaN, inf or negative entries, is not 2-D, does not sum to 1, or
        ``base`` is invalid.
    """
    lb = _log_base(base)
    p = _as_joint(joint)
    product = p.sum(axis=1, keepdims=True) * p.sum(axis=0, keepdims=True)
    return np.asarray(np.sum(_kl_terms(p, product)) / lb)


# Taylor coefficients (-1)^k / (k (k - 1)) for k = 17..2 of
# h(d) = (1 + d) log(1 + d) - d = d^2/2 - d^3/6 + d^4/12 - ...
_H_COEFS = tuple((-1.0) ** k / (k * (k - 1)) for k in range(17, 1, -1))


def _kl_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    r"""The terms :math:`p_i \log(p_i/q_i) - p_i + q_i \ge 0` of :math:`D_{KL}(p\|q)`.

    They sum to the KL (the :math:`-p_i + q_i` parts cancel in the sum, up to how far p and q
    are from summing to 1) and each is non-negative (:math:`q\,h(d) \ge 0` with
    :math:`h(d) = (1+d)\log(1+d) - d`, :math:`d = (p-q)/q`), so a KL of two nearly equal
    distributions cannot come out negative by cancellation (the form scipy's ``kl_div`` uses).
    For :math:`\tfrac12 \le p/q \le 2` the term is computed as :math:`q\,h(d)` (the subtraction
    ``p - q`` is exact there), by its Taylor series for :math:`|d| < 0.1` (sum positive,
    truncation below 1e-17 relative); elsewhere as ``p (log p - log q) - p + q``, a difference
    of logs (the ratio overflows for a subnormal q). ``inf`` where ``p > 0 = q``; a term with
    ``p = 0`` is ``q``. Round-off below 0 is clipped to 0.
    """
    p, q = np.broadcast_arrays(p, q)
    pos = p > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        safe_q = np.where(pos, q, 1.0)
        t = p / safe_q
        near = pos & (t >= 0.5) & (t <= 2.0)
        d = np.where(near, (p - q) / safe_q, 0.0)
        small = np.abs(d) < 0.1
        ds = np.where(small, d, 0.0)
        poly = np.full_like(ds, _H_COEFS[0])
        for c in _H_COEFS[1:]:
            poly = poly * ds + c
        dl = np.where(small, 0.0, d)
        h = np.where(small, ds * ds * poly, (1.0 + dl) * np.log1p(dl) - dl)
        far = p * (_log_or_zero(p) - np.log(safe_q)) - p + q
        terms = np.where(near, q * h, np.where(pos, far, q))
    return np.maximum(terms, 0.0)


# -- Gaussians ---------------------------------------------------------------------------------
def gaussian_entropy(var, base=None):
    r"""Differential entropy of :math:`N(\mu, \sigma^2)`: :math:`\tfrac12 \log(2\pi e \sigma^2)`.

    Elementwise, so for a diagonal Gaussian sum the result over dimensions. It does not depend
    on the mean; ``H(N(0, 1)) = 1.4189385`` nats. Lesson 01.

    Parameters
    ----------
    var : array_like
        Variances :math:`\sigma^2 > 0`, any shape.
    base : float, optional
        ``None`` (default) gives nats, ``2`` gives bits.

    Returns
    -------
    ndarray, the shape of ``var``

    Raises
    ------
    ValueError
        If a variance is NaN, inf or not positive, or ``base`` is invalid.
    """
    lb = _log_base(base)
    var = _as_variance(var, "var")
    # log(2 pi e) + log(var): the product 2 pi e var overflows for var > 1.6e307
    return np.asarray(0.5 * (math.log(2.0 * math.pi * math.e) + np.log(var)) / lb)


def kl_normal(mu_q, var_q, mu_p=0.0, var_p=1.0):
    r"""KL between univariate Gaussians, elementwise, in nats.

    .. math::
        D_{KL}(N(\mu_q, \sigma_q^2) \| N(\mu_p, \sigma_p^2)) = \tfrac12 \left[
        \log\frac{\sigma_p^2}{\sigma_q^2} + \frac{\sigma_q^2 + (\mu_q - \mu_p)^2}{\sigma_p^2}
        - 1 \right]

    For diagonal Gaussians of shape ``(batch_size, z_dim)`` sum the result over ``z_dim``;
    with the defaults ``mu_p = 0``, ``var_p = 1`` this is the VAE's KL to the prior.
    Derived in :func:`vaelearn.derivations.info.kl_gaussians`. Lesson 01.

    Parameters
    ----------
    mu_q, var_q : array_like
        Mean and variance (> 0) of q.
    mu_p, var_p : array_like, default 0.0 and 1.0
        Mean and variance (> 0) of p. All four broadcast together.

    Returns
    -------
    ndarray, the broadcast shape

    Raises
    ------
    ValueError
        If an argument has NaN, a variance is not positive, or the shapes do not broadcast.
    """
    mu_q = _as_array(mu_q, "mu_q")
    mu_p = _as_array(mu_p, "mu_p")
    var_q = _as_variance(var_q, "var_q")
    var_p = _as_variance(var_p, "var_p")
    for name, a in (("mu_q", mu_q), ("mu_p", mu_p)):
        if np.isinf(a).any():
            raise ValueError(f"argument '{name}' contains inf")
    try:
        np.broadcast_shapes(mu_q.shape, var_q.shape, mu_p.shape, var_p.shape)
    except ValueError:
        raise ValueError(
            f"arguments do not broadcast: mu_q{mu_q.shape}, var_q{var_q.shape}, "
            f"mu_p{mu_p.shape}, var_p{var_p.shape}"
        ) from None
    # 1/2 [g + (mu_q - mu_p)^2 / var_p] with g = var_q/var_p - 1 - log(var_q/var_p) >= 0,
    # computed by _variance_term without overflow (var_p / var_q for var_q = 1e-200, var_p =
    # 1e200) or cancellation (var_q ~ var_p), so the result is >= 0.
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(0.5 * (_variance_term(var_q, var_p) + (mu_q - mu_p) ** 2 / var_p))


# Taylor coefficients (-1)^k / k for k = 17..2 of d - log1p(d) = d^2/2 - d^3/3 + d^4/4 - ...
_D_MINUS_LOG1P_COEFS = tuple((-1.0) ** k / k for k in range(17, 1, -1))


def _variance_term(var_q, var_p):
    r""":math:`t - 1 - \log t \ge 0` for :math:`t = \sigma_q^2/\sigma_p^2`, the variance part
    of :math:`2\,D_{KL}` between Gaussians, accurate to a few ulp and never negative.

    Near :math:`t = 1` (:math:`\tfrac12 \le t \le 2`) it is :math:`d - \log(1 + d)` with
    :math:`d = (\sigma_q^2 - \sigma_p^2)/\sigma_p^2` (the subtraction is exact there), by its
    Taylor series for :math:`|d| < 0.1` (16 terms, truncation below 1e-17 relative; the series'
    sum is positive) and by ``d - log1p(d)`` otherwise (a difference of at least 0.005). Away
    from 1 it is ``t - 1 - (log var_q - log var_p)``: a difference of logs, never the ratio
    ``var_p / var_q`` that overflows, and a sum of parts of at least 0.19.
    """
    var_q, var_p = np.broadcast_arrays(np.asarray(var_q, float), np.asarray(var_p, float))
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        t = var_q / var_p
        near = (t >= 0.5) & (t <= 2.0)
        d = np.where(near, (var_q - var_p) / var_p, 0.0)
        small = np.abs(d) < 0.1
        ds = np.where(small, d, 0.0)
        poly = np.full_like(ds, _D_MINUS_LOG1P_COEFS[0])
        for c in _D_MINUS_LOG1P_COEFS[1:]:
            poly = poly * ds + c
        near_value = np.where(small, ds * ds * poly, d - np.log1p(np.where(small, 0.0, d)))
        far_value = t - 1.0 - (np.log(var_q) - np.log(var_p))
        return np.where(near, near_value, far_value)


def normal_pdf(x, mean=0.0, var=1.0):
    r"""Density :math:`N(x; \mu, \sigma^2) = e^{-(x-\mu)^2 / 2\sigma^2} / \sqrt{2\pi\sigma^2}`.

    Elementwise; ``var > 0``. Lesson 01 (pictures of KL's asymmetry).
    """
    x = _as_array(x, "x")
    mean = _as_array(mean, "mean")
    var = _as_variance(var, "var")
    # sqrt(2 pi) * sqrt(var): 2 pi var overflows for var > 2.8e307
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(-((x - mean) ** 2) / (2.0 * var)) / (math.sqrt(2.0 * math.pi) * np.sqrt(var))


def mixture_pdf(x, weights, means, variances):
    r"""Density of a 1-D Gaussian mixture :math:`\sum_k w_k N(x; \mu_k, \sigma_k^2)`.

    Parameters
    ----------
    x : array_like, any shape
    weights : array_like, shape (n_components,)
        A distribution (sums to 1).
    means, variances : array_like, shape (n_components,)

    Returns
    -------
    ndarray, the shape of ``x``
    """
    w = _as_distribution(weights, "weights")
    means = _as_array(means, "means")
    variances = _as_variance(variances, "variances")
    if not (w.ndim == 1 and means.shape == w.shape and variances.shape == w.shape):
        raise ValueError(
            f"arguments 'weights', 'means', 'variances' must be 1-D of one length; got shapes "
            f"{w.shape}, {means.shape}, {variances.shape}"
        )
    x = _as_array(x, "x")
    comps = normal_pdf(x[..., None], means, variances)
    return comps @ w


def fit_normal_by_kl(x, p_density, direction, *, init=None):
    r"""Fit one Gaussian q to a density p on a 1-D grid, by forward or reverse KL.

    ``direction="forward"`` minimises :math:`D_{KL}(p \| q)`: the optimum matches p's mean and
    variance (q covers all of p's mass). ``direction="reverse"`` minimises
    :math:`D_{KL}(q \| p)` numerically (scipy's L-BFGS-B over :math:`(\mu, \log\sigma^2)`,
    integrals by the trapezoid rule on ``x``): q settles on one mode (mode-seeking), which one
    depending on ``init``. This is the picture behind variational inference. Lesson 01.

    Parameters
    ----------
    x : array_like, shape (n_grid,)
        Increasing grid that covers p's mass.
    p_density : array_like, shape (n_grid,)
        p evaluated on ``x`` (>= 0; normalised here).
    direction : {"forward", "reverse"}
    init : (float, float), optional
        Starting ``(mean, var)`` for ``"reverse"``; default p's mean and variance.

    Returns
    -------
    mean, var : float
    """
    from scipy.optimize import minimize

    x = _as_array(x, "x")
    dens = _as_array(p_density, "p_density")
    if x.ndim != 1 or x.shape != dens.shape or x.size < 3 or not (np.diff(x) > 0).all():
        raise ValueError(
            "arguments 'x' and 'p_density' must be 1-D of one length >= 3 with 'x' increasing; "
            f"got shapes {x.shape} and {dens.shape}"
        )
    if not np.isfinite(x).all() or not np.isfinite(dens).all():
        raise ValueError("arguments 'x' and 'p_density' must be finite")
    if (dens < 0).any():
        raise ValueError("argument 'p_density' has negative values")
    mass = np.trapezoid(dens, x)
    if not (mass > 0 and math.isfinite(mass)):
        raise ValueError(
            f"argument 'p_density' has total mass {mass:g} on the grid 'x'; it needs a finite, "
            "positive integral to be normalised"
        )
    dens = dens / mass
    mean = float(np.trapezoid(x * dens, x))
    var = float(np.trapezoid((x - mean) ** 2 * dens, x))
    if direction == "forward":
        return mean, var
    if direction != "reverse":
        raise ValueError(f"argument 'direction' must be 'forward' or 'reverse'; got {direction!r}")
    log_p = np.log(np.maximum(dens, 1e-300))

    def reverse_kl(theta):
        m, log_v = theta
        v = math.exp(log_v)
        q = normal_pdf(x, m, v)
        log_q = -((x - m) ** 2) / (2 * v) - 0.5 * math.log(2 * math.pi * v)
        return float(np.trapezoid(q * (log_q - log_p), x))

    m0, v0 = (mean, var) if init is None else (float(init[0]), float(init[1]))
    res = minimize(
        reverse_kl,
        np.array([m0, math.log(v0)]),
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-10},
    )
    return float(res.x[0]), float(math.exp(res.x[1]))


# -- codes ---------------------------------------------------------------------------------------
def huffman_code(p):
    r"""An optimal prefix-free binary code for ``p`` (Huffman 1952).

    Repeatedly merges the two least probable nodes; the first of the two gets ``'0'``, the
    second ``'1'``. Ties are broken deterministically: symbols before merged nodes, then by
    index (merged nodes by creation order). Its expected length ``L`` satisfies
    :math:`H_2(p) \le L \le H_2(p) + 1`, with equality on the left for dyadic ``p``. The right
    inequality is strict, :math:`L < H_2(p) + 1`, unless one symbol has probability 1: a
    codeword has at least one bit, so a point mass has :math:`H_2 = 0` and :math:`L = 1`.
    Lesson 01.

    Parameters
    ----------
    p : array_like, shape (n_symbols,)
        A distribution.

    Returns
    -------
    list of str
        ``code[i]`` is the codeword of symbol ``i`` (``'0'`` for a single symbol).

    Examples
    --------
    >>> huffman_code([0.5, 0.25, 0.125, 0.125])
    ['0', '10', '110', '111']
    """
    p = _as_distribution(p, "p")
    if p.ndim != 1:
        raise ValueError(f"argument 'p' must be 1-D (one distribution); got shape {p.shape}")
    n = p.size
    if n == 1:
        return ["0"]
    # Heap entries: (probability, tie-break order, node). Leaves are ints, merged nodes tuples.
    heap = [(float(pi), i, i) for i, pi in enumerate(p)]
    heapq.heapify(heap)
    order = n
    while len(heap) > 1:
        p0, _, a = heapq.heappop(heap)
        p1, _, b = heapq.heappop(heap)
        heapq.heappush(heap, (p0 + p1, order, (a, b)))
        order += 1
    code = [""] * n
    stack = [(heap[0][2], "")]
    while stack:
        node, prefix = stack.pop()
        if isinstance(node, tuple):
            stack.append((node[0], prefix + "0"))
            stack.append((node[1], prefix + "1"))
        else:
            code[node] = prefix
    return code


def _check_code(code, name: str = "code") -> list[str]:
    if isinstance(code, str) or not hasattr(code, "__len__"):
        raise ValueError(f"argument '{name}' must be a list of codeword strings")
    code = list(code)
    for i, w in enumerate(code):
        if not isinstance(w, str) or not w or set(w) - {"0", "1"}:
            raise ValueError(
                f"argument '{name}' entry {i} is {w!r}; codewords are non-empty strings of 0/1"
            )
    return code


def is_prefix_free(code) -> bool:
    """True when no codeword is a prefix of another (so a bit stream decodes uniquely)."""
    code = sorted(_check_code(code))
    return all(not b.startswith(a) for a, b in zip(code, code[1:], strict=False))


def expected_code_length(p, code):
    r"""Expected codeword length :math:`\sum_i p_i \ell_i` in bits per symbol. Lesson 01.

    Parameters
    ----------
    p : array_like, shape (..., n_symbols)
        Distribution(s) of the symbols.
    code : list of str, length n_symbols
        ``code[i]`` is symbol ``i``'s codeword.

    Returns
    -------
    ndarray, shape (...)
    """
    p = _as_distribution(p, "p")
    code = _check_code(code)
    if len(code) != p.shape[-1]:
        raise ValueError(
            f"arguments 'p' and 'code' must have one entry per symbol; got {p.shape[-1]} "
            f"probabilities and {len(code)} codewords"
        )
    lengths = np.array([len(w) for w in code], dtype=np.float64)
    return np.sum(p * lengths, axis=-1)


def sample_message(p, n_symbols: int, rng: np.random.Generator) -> np.ndarray:
    """Draw a message of ``n_symbols`` i.i.d. symbols from ``p``: an int array of indices.

    Parameters
    ----------
    p : array_like, shape (n_outcomes,)
    n_symbols : int
    rng : numpy.random.Generator
        The one source of randomness (seed it for reproducible lessons).
    """
    p = _as_distribution(p, "p")
    if p.ndim != 1:
        raise ValueError(f"argument 'p' must be 1-D; got shape {p.shape}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"argument 'rng' must be a numpy.random.Generator; got {type(rng).__name__}"
        )
    if int(n_symbols) != n_symbols or n_symbols < 0:
        raise ValueError(f"argument 'n_symbols' must be an integer >= 0; got {n_symbols!r}")
    # Inverse-CDF sampling with one uniform per symbol (reproducible across NumPy versions).
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(int(n_symbols)), side="right").astype(np.int64)


def encode(message, code) -> str:
    """Concatenate the codewords of a message's symbols into one bit string.

    Parameters
    ----------
    message : array_like of int, shape (n_symbols,)
        Symbol indices into ``code``.
    code : list of str

    Returns
    -------
    str of '0'/'1'; its length is the message's cost in bits.
    """
    code = _check_code(code)
    msg = np.asarray(message)
    if msg.ndim != 1 or (msg.size and msg.dtype.kind not in "iu"):
        raise ValueError("argument 'message' must be a 1-D array of integer symbol indices")
    if msg.size == 0:
        return ""  # an empty message costs no bits
    if msg.min() < 0 or msg.max() >= len(code):
        raise ValueError(f"argument 'message' has symbols outside 0..{len(code) - 1}")
    table = np.array(code, dtype=object)
    return "".join(table[msg])


def decode(bits: str, code) -> np.ndarray:
    """Split a bit string back into symbols with a prefix-free ``code``.

    Raises
    ------
    ValueError
        If ``code`` is not prefix-free, or ``bits`` contains a non-codeword or ends mid-codeword.
    """
    code = _check_code(code)
    if not is_prefix_free(code):
        raise ValueError("argument 'code' is not prefix-free, so decoding is ambiguous")
    if not isinstance(bits, str) or set(bits) - {"0", "1"}:
        raise ValueError("argument 'bits' must be a string of '0' and '1'")
    lookup = {w: i for i, w in enumerate(code)}
    longest = max(len(w) for w in code)
    out = []
    start = 0
    n = len(bits)
    while start < n:
        for end in range(start + 1, min(start + longest, n) + 1):
            sym = lookup.get(bits[start:end])
            if sym is not None:
                out.append(sym)
                start = end
                break
        else:
            raise ValueError(f"argument 'bits' has no codeword starting at position {start}")
    return np.array(out, dtype=np.int64)
