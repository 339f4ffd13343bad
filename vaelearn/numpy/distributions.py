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
    return -0.5 * np.sum(1 + z_logvar - z_mean * z_mean - np.exp(z_logvar), axis=-1)


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
    inv_var = np.exp(-2 * log_sigma)
    diff = x - x_mean
    log_sigma_sum = np.broadcast_to(log_sigma, (x_dim,)).sum()
    return -0.5 * np.sum(diff * diff * inv_var, axis=-1) - log_sigma_sum - 0.5 * x_dim * LOG_2PI


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
    diff = z - mean
    return -0.5 * np.sum(LOG_2PI + logvar + diff * diff * np.exp(-logvar), axis=-1)


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
