"""Log-likelihoods, closed-form KL and the reparameterization step. Lessons 05-06.

Every function takes NumPy arrays and returns NumPy arrays in the dtype of its inputs. Per-example
quantities are summed over the data (or latent) dimensions, in nats. Each forward function that a
model differentiates has a ``*_backward`` twin in :mod:`vaelearn.numpy.models`; the ones a student
needs to see (the reparameterization step) are written out here.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "reparameterize",
    "reparameterize_backward",
    "kl_normal_std_normal",
    "log_px_given_z_bernoulli",
    "log_px_given_z_gaussian",
    "log_normal",
    "logmeanexp",
    "softplus",
    "sigmoid",
]

LOG_2PI = math.log(2.0 * math.pi)
"""ln(2 pi), a Python float so it never promotes a float32 array to float64."""


def _check_finite(name, a):
    if not np.all(np.isfinite(a)):
        raise ValueError(f"argument {name!r} contains NaN or infinite values")


def _check_same_shape(names, *arrays):
    shapes = [np.shape(a) for a in arrays]
    if len(set(shapes)) != 1:
        pairs = ", ".join(f"{n}{s}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"arguments must have the same shape, got {pairs}")


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``.

    Shape-preserving; keeps the dtype of ``x``.
    """
    x = np.asarray(x)
    # exp(-|x|) is in (0, 1], so neither branch overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def softplus(x):
    """``softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))``, overflow-free.

    Its derivative is ``sigmoid(x)``. Shape-preserving; keeps the dtype of ``x``.
    """
    x = np.asarray(x)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def reparameterize(z_mean, z_logvar, eps):
    r"""The reparameterization step :math:`z = \mu + \exp(\tfrac12 \log\sigma^2)\,\varepsilon`.

    Lesson 06 (the reparameterization trick, Kingma & Welling 2013).

    Parameters
    ----------
    z_mean, z_logvar : ndarray, shape (batch_size, z_dim)
        Mean and log-variance of the diagonal Gaussian q(z|x).
    eps : ndarray, shape (batch_size, z_dim) or (n_samples, batch_size, z_dim)
        Standard normal noise. With a leading ``n_samples`` axis, ``n_samples`` z's are drawn per
        example (broadcasting over the first axis).

    Returns
    -------
    z : ndarray, the shape of ``eps``
    """
    z_mean = np.asarray(z_mean)
    z_logvar = np.asarray(z_logvar)
    eps = np.asarray(eps)
    _check_same_shape(("z_mean", "z_logvar"), z_mean, z_logvar)
    if eps.shape[-2:] != z_mean.shape or eps.ndim not in (2, 3):
        raise ValueError(
            f"argument 'eps' has shape {eps.shape}; expected {z_mean.shape} or "
            f"(n_samples, {', '.join(map(str, z_mean.shape))})"
        )
    return z_mean + np.exp(0.5 * z_logvar) * eps


def reparameterize_backward(dz, z_logvar, eps):
    r"""Backward of :func:`reparameterize`: carry ``dL/dz`` to ``dL/dz_mean`` and ``dL/dz_logvar``.

    With :math:`z = \mu + e^{\log\sigma^2/2}\varepsilon` the chain rule needs two local derivatives,

    .. math::
        \frac{\partial z}{\partial \mu} = 1, \qquad
        \frac{\partial z}{\partial \log\sigma^2} = \tfrac12\,\varepsilon\, e^{\log\sigma^2/2},

    so the noise never needs a gradient: it is an input, like the data. When ``eps`` has a leading
    ``n_samples`` axis, the gradients of the samples are summed, because every sample used the same
    ``z_mean`` and ``z_logvar``. Lesson 06.

    Parameters
    ----------
    dz : ndarray, the shape of ``eps``
        Gradient of the loss with respect to ``z``.
    z_logvar : ndarray, shape (batch_size, z_dim)
    eps : ndarray, shape (batch_size, z_dim) or (n_samples, batch_size, z_dim)

    Returns
    -------
    dz_mean, dz_logvar : ndarray, shape (batch_size, z_dim)
    """
    # dz/dmu = 1: the gradient passes straight through to the mean.
    dz_mean = dz
    # dz/dlogvar = eps * exp(logvar / 2) / 2: scaled by the noise that was used.
    dz_logvar = dz * eps * (0.5 * np.exp(0.5 * z_logvar))
    if dz.ndim == 3:  # several samples per example share one (mean, logvar): sum their gradients
        dz_mean = dz_mean.sum(axis=0)
        dz_logvar = dz_logvar.sum(axis=0)
    return dz_mean, dz_logvar


# Taylor coefficients 1/k! for k = 2..17: exp(x) - 1 - x = x^2 (1/2! + x/3! + x^2/4! + ...).
_EXPM1_MINUS_COEFS = tuple(1.0 / math.factorial(k) for k in range(17, 1, -1))


def _exp_minus_1_minus(x):
    r""":math:`g(x) = e^x - 1 - x \ge 0`, accurate to a few ulp and never negative.

    Written naively, ``exp(x) - 1 - x`` cancels to round-off (and can come out negative) near
    ``x = 0``, which is exactly where a collapsed latent dimension of a VAE sits
    (:math:`\mathrm{KL} = \tfrac12(\mu^2 + g(\log\sigma^2))`). For :math:`|x| < 1/2` the
    Taylor series :math:`x^2 \sum_{k\ge2} x^{k-2}/k!` (16 terms, truncation below 1e-17
    relative) is used; elsewhere ``expm1(x) - x``, whose two parts differ by at least 0.1.
    On :math:`|x| < 1/2` the series' sum is at least 0.4 and it is multiplied by :math:`x^2 \ge 0`;
    elsewhere the difference is at least 0.1, far above round-off: so ``g >= 0`` holds in float32
    and float64.
    ``inf`` where :math:`e^x` overflows. Keeps the dtype of ``x``.
    """
    x = np.asarray(x)
    small = np.abs(x) < 0.5
    xs = np.where(small, x, 0)
    poly = _EXPM1_MINUS_COEFS[0] + 0 * xs
    for c in _EXPM1_MINUS_COEFS[1:]:
        poly = poly * xs + c
    with np.errstate(over="ignore", invalid="ignore"):
        big = np.expm1(np.where(small, 0, x)) - x
    return np.where(small, xs * xs * poly, big)


def kl_normal_std_normal(z_mean, z_logvar):
    r"""KL(N(mu, diag(sigma^2)) || N(0, I)) per example, in nats.

    .. math::
        \mathrm{KL} = -\tfrac12 \sum_j \left(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\right)

    Lesson 05 (the KL term of the ELBO in closed form).

    Parameters
    ----------
    z_mean, z_logvar : ndarray, shape (batch_size, z_dim)

    Returns
    -------
    kl : ndarray, shape (batch_size,)
        Summed over the latent dimensions; always >= 0.
    """
    z_mean = np.asarray(z_mean)
    z_logvar = np.asarray(z_logvar)
    _check_same_shape(("z_mean", "z_logvar"), z_mean, z_logvar)
    # the same sum written as 1/2 sum_j (mu_j^2 + [exp(lv_j) - 1 - lv_j]): both parts are >= 0,
    # and the bracket (see _exp_minus_1_minus) never cancels to a negative number near lv = 0
    return 0.5 * np.sum(z_mean * z_mean + _exp_minus_1_minus(z_logvar), axis=-1)


def log_px_given_z_bernoulli(x, x_logits):
    r"""Bernoulli log-likelihood per example, from logits, in nats.

    .. math::
        \log p(x \mid z) = \sum_d x_d \ell_d - \operatorname{softplus}(\ell_d),

    which equals :math:`\sum_d x_d\log p_d + (1-x_d)\log(1-p_d)` with :math:`p = \sigma(\ell)`,
    but never takes the log of 0. ``x`` may be any value in [0, 1] (grey levels). Lesson 05.

    Parameters
    ----------
    x : ndarray, shape (..., x_dim)
        Data in [0, 1].
    x_logits : ndarray, shape (..., x_dim)
        Decoder outputs before the sigmoid; broadcasts against ``x``.

    Returns
    -------
    ndarray, shape (...,)
    """
    x = np.asarray(x)
    x_logits = np.asarray(x_logits)
    return np.sum(x * x_logits - softplus(x_logits), axis=-1)


def log_px_given_z_gaussian(x, x_mean, log_sigma):
    r"""Gaussian log-likelihood per example with a shared or per-dimension sigma, in nats.

    .. math::
        \log p(x \mid z) = -\sum_d \left[\frac{(x_d - m_d)^2}{2\sigma_d^2} + \log\sigma_d
        + \tfrac12 \log 2\pi\right]

    Lesson 05 (MSE is this with a fixed sigma, up to scale and a constant).

    Parameters
    ----------
    x, x_mean : ndarray, shape (..., x_dim)
    log_sigma : float or ndarray broadcastable to (x_dim,)
        Log standard deviation of the decoder.

    Returns
    -------
    ndarray, shape (...,)
    """
    x = np.asarray(x)
    x_mean = np.asarray(x_mean)
    log_sigma = np.asarray(log_sigma, dtype=x_mean.dtype)
    x_dim = x_mean.shape[-1]
    log_sigma_sum = np.broadcast_to(log_sigma, (x_dim,)).sum()
    sq = _sq_over_var(x - x_mean, 2 * log_sigma)  # (x - m)^2 / sigma^2, no 0 * inf
    return -0.5 * np.sum(sq, axis=-1) - log_sigma_sum - 0.5 * x_dim * LOG_2PI


def log_normal(z, mean, logvar):
    r"""Log-density of a diagonal Gaussian, summed over the last axis, in nats.

    .. math::
        \log \mathcal N(z; \mu, \operatorname{diag}\sigma^2) = -\tfrac12 \sum_j \left[
        \log 2\pi + \log\sigma_j^2 + \frac{(z_j-\mu_j)^2}{\sigma_j^2}\right]

    Lesson 05; the prior p(z) is ``log_normal(z, 0, 0)``.

    Parameters
    ----------
    z : ndarray, shape (..., z_dim)
    mean, logvar : ndarray or float, broadcastable to ``z``

    Returns
    -------
    ndarray, shape (...,)
    """
    z = np.asarray(z)
    mean = np.asarray(mean, dtype=z.dtype)
    logvar = np.asarray(logvar, dtype=z.dtype)
    return -0.5 * np.sum(LOG_2PI + logvar + _sq_over_var(z - mean, logvar), axis=-1)


def _log_normal_eps(eps, logvar):
    r"""log N(z; mu, sigma^2) at the reparameterised sample :math:`z = \mu + \sigma\varepsilon`,
    summed over the last axis: :math:`-\tfrac12\sum_j(\varepsilon_j^2 + \log 2\pi +
    \log\sigma_j^2)`.

    The same number as ``log_normal(z, mu, logvar)``, computed from the noise: ``z - mu`` is
    never formed, so it cannot round away when sigma << |mu| nor give 0 * inf past the exp range.
    Lessons 05-07 (log q(z|x) in the Monte Carlo KL and the IWAE weights).

    Parameters
    ----------
    eps : ndarray, shape (..., z_dim)
    logvar : ndarray, broadcastable to ``eps``

    Returns
    -------
    ndarray, shape (...,)
    """
    eps = np.asarray(eps)
    logvar = np.asarray(logvar, dtype=eps.dtype)
    return -0.5 * np.sum(eps * eps + LOG_2PI + logvar, axis=-1)


def _sq_over_var(diff, logvar):
    r""":math:`d^2 / \sigma^2 = d^2 e^{-\log\sigma^2}` without overflow or 0 * inf.

    Computed as ``exp(2 log|d| - logvar)`` (0 where ``d = 0``), so it is finite whenever the true
    value is, e.g. ``d = 1e-300, logvar = -800`` gives 1e-252 where ``d*d*exp(-logvar)`` gives
    0 * inf = NaN. Relative error about ``|2 log|d| - logvar|`` ulp.
    """
    diff = np.asarray(diff)
    logvar = np.asarray(logvar)
    if logvar.ndim == 0 and logvar == 0:  # unit variance (the prior): the plain square is exact
        return diff * diff
    a = np.abs(diff)
    pos = a > 0
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        out = np.exp(2 * np.log(np.where(pos, a, 1)) - logvar)
    return np.where(pos, out, 0)


def logmeanexp(a, axis=0):
    r"""``log(mean(exp(a), axis))`` without overflow: :math:`m + \log \tfrac1k\sum e^{a_i - m}`.

    The IWAE bound is ``logmeanexp`` of the log importance weights over the samples. Lesson 07.

    Parameters
    ----------
    a : ndarray
    axis : int, default 0

    Returns
    -------
    ndarray, ``a`` with ``axis`` removed
    """
    a = np.asarray(a)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.mean(np.exp(a - m), axis=axis)) + np.squeeze(m, axis=axis)
    return out
