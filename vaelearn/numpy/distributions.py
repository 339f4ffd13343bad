"""Log-likelihoods, closed-form KL and the reparameterization step. Lessons 05-06.

Every function takes NumPy arrays and returns NumPy arrays in the dtype of its inputs. Per-example
quantities are summed over the data (or latent) dimensions, in nats.

Every formula a model differentiates is one function here with its ``*_backward`` written beside
it (the forward-beside-backward layout of micrograd): ``f_backward(..., grad)`` takes ``grad``,
the gradient of the loss with respect to ``f``'s output, and returns the gradients with respect
to ``f``'s inputs. The models in :mod:`vaelearn.numpy.models` and :mod:`vaelearn.numpy.vq` only
call these functions; they do not re-derive them.
"""

from __future__ import annotations

import math

import numpy as np

from ..common.checks import _check_levels
from ..common.constants import (
    _CB_LOG_NORM_SERIES,
    _CB_LOG_NORM_SWITCH,
    _CB_MEAN_SWITCH,
    _EXPM1_MINUS_COEFS,
    _LANGEVIN_SERIES,
    LOG_2PI,
)

__all__ = [
    "reparameterize",
    "reparameterize_backward",
    "kl_normal_std_normal",
    "kl_normal_std_normal_backward",
    "log_px_given_z_bernoulli",
    "log_px_given_z_bernoulli_backward",
    "log_px_given_z_gaussian",
    "log_px_given_z_gaussian_backward",
    "squared_error",
    "squared_error_backward",
    "log_px_given_z_continuous_bernoulli",
    "log_px_given_z_continuous_bernoulli_backward",
    "continuous_bernoulli_log_norm",
    "continuous_bernoulli_mean",
    "continuous_bernoulli_sample",
    "log_px_given_z_categorical",
    "log_px_given_z_categorical_backward",
    "log_normal",
    "log_normal_backward",
    "log_normal_eps",
    "log_normal_eps_backward",
    "logmeanexp",
    "logmeanexp_backward",
    "softplus",
    "sigmoid",
]

def _check_finite(name, a):
    if not np.all(np.isfinite(a)):
        raise ValueError(f"argument {name!r} contains NaN or infinite values")


def _check_same_shape(names, *arrays):
    shapes = [np.shape(a) for a in arrays]
    if len(set(shapes)) != 1:
        pairs = ", ".join(f"{n}{s}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"arguments must have the same shape, got {pairs}")


def _row_grad(grad):
    """``grad``, the gradient with respect to a per-row output of shape ``(...,)``, as a factor
    for per-element arrays ``(..., d)``: a Python number stays a Python number (it keeps a float32
    array float32), an array gets a trailing axis."""
    if isinstance(grad, int | float):
        return grad
    return np.asarray(grad)[..., None]


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


def kl_normal_std_normal(z_mean, z_logvar, per_dim=False):
    r"""KL(N(mu, diag(sigma^2)) || N(0, I)) per example, in nats.

    .. math::
        \mathrm{KL} = -\tfrac12 \sum_j \left(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\right)
        = \tfrac12 \sum_j \left(\mu_j^2 + [e^{\log\sigma_j^2} - 1 - \log\sigma_j^2]\right)

    Lesson 05 (the KL term of the ELBO in closed form). The VAE's training loss calls this function
    (and its backward, :func:`kl_normal_std_normal_backward`).

    Parameters
    ----------
    z_mean, z_logvar : ndarray, shape (batch_size, z_dim)
    per_dim : bool, default False
        Return the KL of each latent dimension, ``(batch_size, z_dim)``, instead of their sum
        (free bits need it, Kingma et al. 2016).

    Returns
    -------
    kl : ndarray, shape (batch_size,) (or (batch_size, z_dim) with ``per_dim``)
        Summed over the latent dimensions; always >= 0.
    """
    z_mean = np.asarray(z_mean)
    z_logvar = np.asarray(z_logvar)
    _check_same_shape(("z_mean", "z_logvar"), z_mean, z_logvar)
    # both parts are >= 0, and the bracket (see _exp_minus_1_minus) never cancels to a negative
    # number near lv = 0, where a collapsed latent dimension sits
    kl = 0.5 * (z_mean * z_mean + _exp_minus_1_minus(z_logvar))
    return kl if per_dim else kl.sum(axis=-1)


def kl_normal_std_normal_backward(z_mean, z_logvar, grad=1.0, per_dim=False):
    r"""Backward of :func:`kl_normal_std_normal`: ``grad`` times its derivatives.

    .. math::
        \frac{\partial\,\mathrm{KL}}{\partial\mu_j} = \mu_j, \qquad
        \frac{\partial\,\mathrm{KL}}{\partial\log\sigma_j^2} = \tfrac12\,(\sigma_j^2 - 1).

    Lesson 05.

    Parameters
    ----------
    z_mean, z_logvar : ndarray, shape (batch_size, z_dim)
    grad : float or ndarray, default 1.0
        Gradient of the loss with respect to the forward's output: shape ``(batch_size,)``, or
        broadcastable to ``(batch_size, z_dim)`` with ``per_dim``.
    per_dim : bool, default False
        As in the forward.

    Returns
    -------
    d_mean, d_logvar : ndarray, shape (batch_size, z_dim)
    """
    g = grad if per_dim else _row_grad(grad)
    d_mean = z_mean * g
    d_logvar = (np.exp(z_logvar) - 1) * (0.5 * g)
    return d_mean, d_logvar


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
    # softplus(l) = max(l, 0) + log1p(exp(-|l|)), written out: no overflow for any logit
    return np.sum(
        x * x_logits - np.maximum(x_logits, 0) - np.log1p(np.exp(-np.abs(x_logits))), axis=-1
    )


def log_px_given_z_bernoulli_backward(x, x_logits, grad=1.0):
    r"""Backward of :func:`log_px_given_z_bernoulli`: :math:`\partial/\partial\ell_d =
    x_d - \sigma(\ell_d)`, times ``grad``. Lesson 05.

    Parameters
    ----------
    x, x_logits : ndarray, shape (..., x_dim)
    grad : float or ndarray of shape (...,), default 1.0
        Gradient of the loss with respect to the per-example log-likelihood.

    Returns
    -------
    d_logits : ndarray, the broadcast shape of ``x`` and ``x_logits``
    """
    x_logits = np.asarray(x_logits)
    e = np.exp(-np.abs(x_logits))
    r = 1 / (1 + e)
    probs = np.where(x_logits >= 0, r, e * r)  # sigmoid(l), overflow-free
    return (x - probs) * _row_grad(grad)


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


def log_px_given_z_gaussian_backward(x, x_mean, log_sigma, grad=1.0):
    r"""Backward of :func:`log_px_given_z_gaussian`, times ``grad``. Lesson 05.

    .. math::
        \frac{\partial \log p}{\partial m_d} = \frac{x_d - m_d}{\sigma_d^2}, \qquad
        \frac{\partial \log p}{\partial \log\sigma_d} = \frac{(x_d - m_d)^2}{\sigma_d^2} - 1.

    Parameters
    ----------
    x, x_mean : ndarray, shape (..., x_dim)
    log_sigma : float or ndarray broadcastable to (x_dim,)
    grad : float or ndarray of shape (...,), default 1.0
        Gradient of the loss with respect to the per-example log-likelihood.

    Returns
    -------
    d_mean : ndarray, the shape of ``x_mean``
    d_log_sigma : ndarray, the shape of ``log_sigma`` (summed over the examples)
    """
    log_sigma = np.asarray(log_sigma)
    inv_var = np.exp(-2 * log_sigma)
    diff = x - x_mean
    g = _row_grad(grad)
    d_mean = diff * (inv_var * g)
    if log_sigma.size == 1:  # one sigma shared by every dimension: sum over d first
        sq = np.sum(diff * diff, axis=-1, keepdims=True) * inv_var
        d_log_sigma = np.sum(g * (sq - x_mean.shape[-1]))
    else:
        d_log_sigma = g * (diff * diff * inv_var - 1)
        d_log_sigma = d_log_sigma.reshape(-1, d_log_sigma.shape[-1]).sum(axis=0)
    return d_mean, np.reshape(d_log_sigma, log_sigma.shape)


def squared_error(x, x_hat):
    r"""Squared reconstruction error per example, :math:`\sum_d (\hat x_d - x_d)^2`. Lesson 02.

    The Gaussian log-likelihood with :math:`\sigma^2 = 1/2`, up to a constant (lesson 05).

    Parameters
    ----------
    x, x_hat : ndarray, shape (..., x_dim)

    Returns
    -------
    ndarray, shape (...,)
    """
    diff = np.asarray(x_hat) - np.asarray(x)
    return np.sum(diff * diff, axis=-1)


def squared_error_backward(x, x_hat, grad=1.0):
    r"""Backward of :func:`squared_error`: :math:`2(\hat x_d - x_d)` times ``grad``, the
    gradient with respect to ``x_hat``. Lesson 02.

    Parameters
    ----------
    x, x_hat : ndarray, shape (..., x_dim)
    grad : float or ndarray of shape (...,), default 1.0

    Returns
    -------
    d_x_hat : ndarray, the shape of ``x_hat``
    """
    diff = np.asarray(x_hat) - np.asarray(x)
    return diff * (2 * _row_grad(grad))


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


def log_normal_backward(z, mean, logvar, grad=1.0):
    r"""Backward of :func:`log_normal`, times ``grad``. Lesson 07 (the IWAE's log p(z)).

    .. math::
        \frac{\partial \log\mathcal N}{\partial z_j} = -\frac{z_j - \mu_j}{\sigma_j^2}
        = -\frac{\partial \log\mathcal N}{\partial \mu_j}, \qquad
        \frac{\partial \log\mathcal N}{\partial \log\sigma_j^2}
        = \tfrac12\Big(\frac{(z_j-\mu_j)^2}{\sigma_j^2} - 1\Big).

    Parameters
    ----------
    z : ndarray, shape (..., z_dim)
    mean, logvar : ndarray or float, broadcastable to ``z``
    grad : float or ndarray of shape (...,), default 1.0

    Returns
    -------
    dz, d_mean, d_logvar : ndarray, the shapes of ``z``, ``mean`` and ``logvar`` (summed over
        the axes along which ``mean`` and ``logvar`` were broadcast)
    """
    z = np.asarray(z)
    diff = z - np.asarray(mean, dtype=z.dtype)
    inv_var = np.exp(-np.asarray(logvar, dtype=z.dtype))
    g = _row_grad(grad)
    dz = -(diff * inv_var) * g
    d_logvar = (diff * diff * inv_var - 1) * (0.5 * g)
    return dz, _sum_to(-dz, np.shape(mean)), _sum_to(d_logvar, np.shape(logvar))


def _sum_to(g, shape):
    """Sum ``g`` over the axes along which an input of ``shape`` was broadcast."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def log_normal_eps(eps, logvar):
    r"""log N(z; mu, sigma^2) at the reparameterised sample :math:`z = \mu + \sigma\varepsilon`,
    summed over the last axis: :math:`-\tfrac12\sum_j(\varepsilon_j^2 + \log 2\pi +
    \log\sigma_j^2)`.

    The same number as ``log_normal(z, mu, logvar)``, computed from the noise: ``z - mu`` is
    never formed, so it cannot round away when sigma << ``|mu|`` nor give 0 * inf past the exp
    range.
    Lessons 05 and 08 (log q(z|x) in the Monte Carlo KL and the IWAE weights).

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


def log_normal_eps_backward(eps, logvar, grad=1.0):
    r"""Backward of :func:`log_normal_eps` with respect to ``logvar``: :math:`-\tfrac12`
    times ``grad`` in every dimension (the noise is an input, not a parameter). When ``eps`` has
    a leading ``n_samples`` axis the samples' gradients are summed, as in
    :func:`reparameterize_backward`. Lesson 08 (the IWAE's log q(z|x)).

    Parameters
    ----------
    eps : ndarray, shape (batch_size, z_dim) or (n_samples, batch_size, z_dim)
    logvar : ndarray, shape (batch_size, z_dim)
    grad : float or ndarray of shape ``eps.shape[:-1]``, default 1.0

    Returns
    -------
    d_logvar : ndarray, shape (batch_size, z_dim)
    """
    eps = np.asarray(eps)
    d = np.broadcast_to(-0.5 * _row_grad(grad), eps.shape)
    return d.sum(axis=0) if eps.ndim == 3 else d.copy()


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


def logmeanexp_backward(a, axis=0, grad=1.0):
    r"""Backward of :func:`logmeanexp`: the softmax of ``a`` along ``axis``, times ``grad``.

    :math:`\partial \log\frac1k\sum_i e^{a_i} / \partial a_i = e^{a_i}/\sum_l e^{a_l}`: the
    IWAE's normalised importance weights (Burda et al. 2015). Lesson 07.

    Parameters
    ----------
    a : ndarray
    axis : int, default 0
    grad : float or ndarray, ``a``'s shape without ``axis``; default 1.0

    Returns
    -------
    ndarray, the shape of ``a``
    """
    a = np.asarray(a)
    w = np.exp(a - a.max(axis=axis, keepdims=True))
    w /= w.sum(axis=axis, keepdims=True)
    g = grad if isinstance(grad, int | float) else np.expand_dims(np.asarray(grad), axis)
    return w * g


# ----------------------------------------------------------------------------------------------
# likelihoods for grey-level pixels (lesson 05): the continuous Bernoulli and a categorical
# ----------------------------------------------------------------------------------------------

def _poly(coefs, t):
    """``sum_k coefs[k] t^k`` by Horner's rule (``coefs[0]`` the constant)."""
    out = coefs[-1] + 0 * t
    for c in coefs[-2::-1]:
        out = out * t + c
    return out


def _check_logits(name, a):
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"argument {name!r} has dtype {a.dtype}; expected a float array")
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    if np.any(np.isnan(a)):
        raise ValueError(f"argument {name!r} contains NaN values")
    return a


def continuous_bernoulli_log_norm(logits):
    r"""Log normaliser :math:`\log C(\lambda)` of the continuous Bernoulli, from logits.

    :math:`\mathcal{CB}(x;\lambda) = C(\lambda)\,\lambda^x(1-\lambda)^{1-x}` on [0, 1]
    (Loaiza-Ganem & Cunningham 2019) has
    :math:`C(\lambda) = 2\,\mathrm{artanh}(1-2\lambda)/(1-2\lambda)`, 0/0 at
    :math:`\lambda = 1/2`. With :math:`\lambda = \sigma(\ell)`,
    :math:`1 - 2\lambda = -\tanh(\ell/2)` and :math:`\mathrm{artanh}(1-2\lambda) = -\ell/2`, so

    .. math::
        C = \frac{\ell}{\tanh(\ell/2)}, \qquad \log C = \log 2 + \log(u\coth u),\ u = \ell/2,

    even in :math:`\ell`, :math:`\log 2` at 0 and :math:`\approx \log|\ell|` far from it. Near 0 a
    Taylor series in :math:`u^2` is used (see ``_CB_LOG_NORM_SWITCH`` for the switch point);
    ``vaelearn.derivations.likelihoods`` derives both. Finite for every finite logit in
    float32 and float64; keeps the dtype. Lesson 05.

    Parameters
    ----------
    logits : ndarray, any shape

    Returns
    -------
    ndarray, the shape of ``logits``
    """
    a = np.abs(_check_logits("logits", logits))
    small = a < _CB_LOG_NORM_SWITCH
    u2 = np.where(small, a, 0) ** 2 / 4
    series = math.log(2.0) + u2 * _poly(_CB_LOG_NORM_SERIES, u2)
    big = np.where(small, 1, a)
    closed = np.log(big / np.tanh(big / 2))
    return np.where(small, series, closed).astype(a.dtype, copy=False)


def _cb_mean(l_):
    """The CB mean for an array of logits (see :func:`continuous_bernoulli_mean`)."""
    a = np.abs(l_)
    small = a < _CB_MEAN_SWITCH
    us = np.where(small, l_, 0) / 2
    series = 0.5 + 0.5 * us * _poly(_LANGEVIN_SERIES, us * us)
    # the mean at -|l|: 1/|l| - 1/(e^|l| - 1), two positive terms, the second at most 0.582 of
    # the first for |l| >= 1 (no cancellation, relative accuracy even for means near 0)
    big = np.where(small, 1, a)
    with np.errstate(over="ignore"):
        at_neg = 1 / big - 1 / np.expm1(big)
    closed = np.where(l_ < 0, at_neg, 1 - at_neg)  # CB(x; l) = CB(1 - x; -l)
    return np.where(small, series, closed)


def continuous_bernoulli_mean(logits):
    r"""Mean of :math:`\mathcal{CB}(\lambda)`, :math:`\lambda = \sigma(\ell)`: not :math:`\lambda`.

    .. math::
        \mathbb E[x] = \frac{\lambda}{2\lambda - 1} + \frac{1}{2\,\mathrm{artanh}(1-2\lambda)}
        = \frac12 + \frac12\Big(\coth\frac{\ell}{2} - \frac{2}{\ell}\Big)
        = \frac1\ell - \frac{1}{e^{-\ell} - 1}\ (\ell < 0),

    half a Langevin function, pulled towards 1/2 compared with :math:`\lambda` (the washed-out
    look of CB decoders' means). A series near 0 (see ``_CB_MEAN_SWITCH``). Lesson 05.

    Parameters
    ----------
    logits : ndarray, any shape

    Returns
    -------
    ndarray, the shape and dtype of ``logits``
    """
    a = _check_logits("logits", logits)
    return _cb_mean(a).astype(a.dtype, copy=False)


def continuous_bernoulli_sample(logits, u):
    r"""Inverse-CDF draws from :math:`\mathcal{CB}(\sigma(\ell))` given uniform noise ``u``.

    The CDF is :math:`F(x) = (\lambda^x(1-\lambda)^{1-x} + \lambda - 1)/(2\lambda - 1)`; solved
    for x, with :math:`(2\lambda-1)/(1-\lambda) = e^\ell - 1`,

    .. math::
        x = F^{-1}(u) = \frac{\log(1 + u\,(e^\ell - 1))}{\ell}
          = \frac{\log\!\big((1-u) + u\,e^{\ell}\big)}{\ell}.

    Computed as ``log1p(u * expm1(l)) / l`` for moderate logits, as a ``logaddexp`` for
    ``|l| >= 30`` (no overflow), and as its Taylor expansion
    :math:`u + u(1-u)[\ell/2 + \ell^2(1-2u)/6]` for :math:`|\ell| < 10^{-6}` (error below
    :math:`10^{-18}`). Differentiable in ``logits`` (a reparameterised sample). Lesson 05.

    Parameters
    ----------
    logits : ndarray
    u : ndarray in [0, 1], broadcastable to ``logits``

    Returns
    -------
    ndarray in [0, 1], the broadcast shape
    """
    l_ = _check_logits("logits", logits)
    u = np.asarray(u, dtype=l_.dtype)
    if np.any(np.isnan(u)) or np.any((u < 0) | (u > 1)):
        raise ValueError("argument 'u' must lie in [0, 1]")
    l_, u = np.broadcast_arrays(l_, u)
    a = np.abs(l_)
    tiny = a < 1e-6
    far = a >= 30
    mid = ~(tiny | far)
    lt = np.where(tiny, l_, 0)
    x_tiny = u + u * (1 - u) * (lt / 2 + lt * lt * (1 - 2 * u) / 6)
    lm = np.where(mid, l_, 1)
    x_mid = np.log1p(u * np.expm1(lm)) / lm
    lf = np.where(far, l_, 30)
    with np.errstate(divide="ignore"):
        x_far = np.logaddexp(np.log1p(-u), np.log(u) + lf) / lf
    x = np.where(tiny, x_tiny, np.where(mid, x_mid, x_far))
    return np.clip(x, 0, 1).astype(l_.dtype, copy=False)


def log_px_given_z_continuous_bernoulli(x, x_logits):
    r"""Continuous Bernoulli log-density per example, from logits, in nats.

    .. math::
        \log p(x \mid z) = \sum_d x_d \ell_d - \operatorname{softplus}(\ell_d) + \log C(\ell_d),

    the Bernoulli "log-likelihood" plus the log normaliser that makes it a density on
    :math:`[0, 1]^D` (Loaiza-Ganem & Cunningham 2019). Unlike the Bernoulli cross-entropy on
    grey pixels it is a log-likelihood: comparable with other densities on the same space.
    Lesson 05.

    Parameters
    ----------
    x : ndarray, shape (..., x_dim), values in [0, 1]
    x_logits : ndarray, shape (..., x_dim); broadcasts against ``x``

    Returns
    -------
    ndarray, shape (...,)
    """
    x = np.asarray(x)
    x_logits = _check_logits("x_logits", x_logits)
    return np.sum(x * x_logits - softplus(x_logits) + continuous_bernoulli_log_norm(x_logits),
                  axis=-1)


def log_px_given_z_continuous_bernoulli_backward(x, x_logits, grad=1.0):
    r"""d/d logits of :func:`log_px_given_z_continuous_bernoulli`, times ``grad``.

    The CB is an exponential family with natural parameter :math:`\ell` and sufficient
    statistic :math:`x`, so :math:`\partial_\ell \log\mathcal{CB}(x;\ell) = x - \mathbb E[x]`:
    with :math:`\partial_\ell \log C = 1/\ell - 1/\sinh\ell = \sigma(\ell) - \mathbb E[x]`
    (derived in ``vaelearn.derivations.likelihoods``),
    ``x - sigmoid(l) + (sigmoid(l) - mean(l))``. Lesson 05.

    Parameters
    ----------
    x, x_logits : ndarray, shape (..., x_dim)
    grad : float or ndarray of shape (...,)
        Gradient of the loss with respect to the per-example log-likelihood.

    Returns
    -------
    ndarray, the broadcast shape of ``x`` and ``x_logits``
    """
    x = np.asarray(x)
    x_logits = _check_logits("x_logits", x_logits)
    grad = np.asarray(grad, dtype=x_logits.dtype)
    return (x - continuous_bernoulli_mean(x_logits)) * grad[..., None]


def _log_softmax(logits):
    m = np.max(logits, axis=-1, keepdims=True)
    s = logits - m
    return s - np.log(np.sum(np.exp(s), axis=-1, keepdims=True))


def log_px_given_z_categorical(x_levels, logits):
    r"""Categorical log-likelihood per example over K levels per pixel, in nats.

    .. math::
        \log p(x \mid z) = \sum_d \Big(\ell_{d,x_d} - \log\sum_{k=0}^{K-1} e^{\ell_{d,k}}\Big)

    An exactly normalised likelihood for discrete data (for the 8x8 digits, K = 17 grey levels
    ``x * 16``), comparable in nats across models of the same data (Tomczak, *Deep Generative
    Modeling*). Lesson 05.

    Parameters
    ----------
    x_levels : ndarray of int (or integral floats), shape (..., x_dim), values in 0..K-1
    logits : ndarray, shape (..., x_dim, K)

    Returns
    -------
    ndarray, shape (...,)
    """
    logits = _check_logits("logits", logits)
    if logits.ndim < 2:
        raise ValueError(f"argument 'logits' has shape {logits.shape}; expected (..., x_dim, K)")
    x = _check_levels(x_levels, logits.shape[-1])
    x = np.broadcast_to(x, logits.shape[:-1])
    lsm = _log_softmax(logits)
    return np.sum(np.take_along_axis(lsm, x[..., None], axis=-1)[..., 0], axis=-1)


def log_px_given_z_categorical_backward(x_levels, logits, grad=1.0):
    r"""d/d logits of :func:`log_px_given_z_categorical`, times ``grad``: ``onehot(x) -
    softmax(logits)``, shape of ``logits``. Lesson 05.

    Parameters
    ----------
    x_levels : ndarray of int, shape (..., x_dim)
    logits : ndarray, shape (..., x_dim, K)
    grad : float or ndarray of shape (...,)
    """
    logits = _check_logits("logits", logits)
    x = _check_levels(x_levels, logits.shape[-1])
    x = np.broadcast_to(x, logits.shape[:-1])
    d = -np.exp(_log_softmax(logits))
    np.put_along_axis(d, x[..., None], np.take_along_axis(d, x[..., None], -1) + 1, axis=-1)
    grad = np.asarray(grad, dtype=logits.dtype)
    return d * grad[..., None, None]
