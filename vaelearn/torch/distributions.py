"""Log-likelihoods, closed-form KL and the reparameterization step, on torch. Lessons 05-06.

The same names and signatures as :mod:`vaelearn.numpy.distributions`. NumPy arrays in give NumPy
arrays out (computed on :func:`get_device`); torch tensors in give tensors out, keeping the
autograd graph.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._device import get_device

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

LOG_2PI = math.log(2.0 * math.pi)

_TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _torch_dtype(dtype):
    return _TORCH_DTYPES[np.dtype(dtype).name]


def _to_tensors(*arrays, dtype=None, device=None):
    """Convert inputs to tensors on one device; return ``(tensors, tensor_in)``.

    ``tensor_in`` is True when any input was already a tensor (then results stay tensors).
    Floats and NumPy arrays keep their float dtype (float64 by default) unless ``dtype`` is given.
    """
    tensor_in = any(isinstance(a, torch.Tensor) for a in arrays)
    if device is None:
        ref = next((a for a in arrays if isinstance(a, torch.Tensor)), None)
        device = ref.device if ref is not None else get_device()
    if dtype is None:
        ref = next((a for a in arrays if isinstance(a, torch.Tensor) and a.is_floating_point()),
                   None)
        if ref is not None:
            dtype = ref.dtype
        else:
            np_ref = next((np.asarray(a) for a in arrays
                           if np.asarray(a).dtype.kind == "f"), None)
            dtype = _torch_dtype(np_ref.dtype) if np_ref is not None and np_ref.dtype.name in \
                _TORCH_DTYPES else torch.float64
    out = []
    for a in arrays:
        if isinstance(a, torch.Tensor):
            out.append(a.to(device=device, dtype=dtype))
        else:
            a = np.asarray(a)
            if not a.flags.writeable:  # e.g. np.broadcast_to: torch warns on read-only memory
                a = a.copy()
            out.append(torch.as_tensor(a, dtype=dtype, device=device))
    return out, tensor_in


def _out(t, tensor_in):
    """Return ``t`` as it came in: a tensor, or a NumPy array (detached, on the CPU)."""
    if tensor_in:
        return t
    return t.detach().cpu().numpy()


def _backward(f, inputs, grad):
    """The ``*_backward`` of the torch twin: ``grad``-weighted derivatives of ``f(*inputs)``
    with respect to every input, by autograd (``grad`` broadcasts to the output; an input that
    was broadcast gets its gradient summed back to its shape). ``inputs`` are tensors."""
    leaves = [t.detach().requires_grad_(True) for t in inputs]
    with torch.enable_grad():
        y = f(*leaves)
        g = torch.as_tensor(grad, dtype=y.dtype, device=y.device).expand_as(y)
        return torch.autograd.grad(y, leaves, g, allow_unused=True)


def _check_same_shape(names, *arrays):
    shapes = [tuple(a.shape) for a in arrays]
    if len(set(shapes)) != 1:
        pairs = ", ".join(f"{n}{s}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"arguments must have the same shape, got {pairs}")


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``. Shape-preserving."""
    (x,), tin = _to_tensors(x)
    return _out(torch.sigmoid(x), tin)


def _softplus_t(x):
    # torch.nn.functional.softplus switches to x above a threshold; this is exact everywhere.
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-x.abs()))


def softplus(x):
    """``softplus(x) = max(x, 0) + log1p(exp(-|x|))``, overflow-free. Shape-preserving."""
    (x,), tin = _to_tensors(x)
    return _out(_softplus_t(x), tin)


def reparameterize(z_mean, z_logvar, eps):
    r"""The reparameterization step :math:`z = \mu + \exp(\tfrac12 \log\sigma^2)\,\varepsilon`.

    Lesson 06. See :func:`vaelearn.numpy.reparameterize`; here autograd differentiates it.

    Parameters
    ----------
    z_mean, z_logvar : array, shape (batch_size, z_dim)
    eps : array, shape (batch_size, z_dim) or (n_samples, batch_size, z_dim)

    Returns
    -------
    z : array, the shape of ``eps``
    """
    (z_mean, z_logvar, eps), tin = _to_tensors(z_mean, z_logvar, eps)
    _check_same_shape(("z_mean", "z_logvar"), z_mean, z_logvar)
    if tuple(eps.shape[-2:]) != tuple(z_mean.shape) or eps.dim() not in (2, 3):
        raise ValueError(
            f"argument 'eps' has shape {tuple(eps.shape)}; expected {tuple(z_mean.shape)} or "
            f"(n_samples, {', '.join(map(str, z_mean.shape))})"
        )
    return _out(z_mean + torch.exp(0.5 * z_logvar) * eps, tin)


def reparameterize_backward(dz, z_logvar, eps):
    r"""Backward pass of :func:`reparameterize` written out (what autograd computes).

    ``dz_mean = dz`` (summed over samples), ``dz_logvar = dz * eps * exp(logvar / 2) / 2``.

    Parameters
    ----------
    dz : array, the shape of ``eps``
    z_logvar : array, shape (batch_size, z_dim)
    eps : array, shape (batch_size, z_dim) or (n_samples, batch_size, z_dim)

    Returns
    -------
    dz_mean, dz_logvar : array, shape (batch_size, z_dim)
    """
    (dz, z_logvar, eps), tin = _to_tensors(dz, z_logvar, eps)
    dz_mean = dz
    dz_logvar = dz * eps * (0.5 * torch.exp(0.5 * z_logvar))
    if dz.dim() == 3:
        dz_mean = dz_mean.sum(dim=0)
        dz_logvar = dz_logvar.sum(dim=0)
    return _out(dz_mean, tin), _out(dz_logvar, tin)


# Taylor coefficients 1/k! for k = 2..17, as in vaelearn.numpy.distributions._exp_minus_1_minus
_EXPM1_MINUS_COEFS = tuple(1.0 / math.factorial(k) for k in range(17, 1, -1))


def _exp_minus_1_minus_t(x):
    """``exp(x) - 1 - x >= 0`` without cancellation near 0 (see the NumPy twin for the proof)."""
    small = x.abs() < 0.5
    xs = torch.where(small, x, torch.zeros_like(x))
    poly = torch.full_like(xs, _EXPM1_MINUS_COEFS[0])
    for c in _EXPM1_MINUS_COEFS[1:]:
        poly = poly * xs + c
    big = torch.expm1(torch.where(small, torch.zeros_like(x), x)) - x
    return torch.where(small, xs * xs * poly, big)


def _kl_dims_t(z_mean, z_logvar):
    # 1/2 (mu_j^2 + [exp(lv_j) - 1 - lv_j]): both parts >= 0, no cancellation near lv = 0
    return 0.5 * (z_mean * z_mean + _exp_minus_1_minus_t(z_logvar))


def _kl_t(z_mean, z_logvar):
    return _kl_dims_t(z_mean, z_logvar).sum(dim=-1)


def kl_normal_std_normal(z_mean, z_logvar, per_dim=False):
    r"""KL(N(mu, diag(sigma^2)) || N(0, I)) per example, in nats.

    .. math::
        \mathrm{KL} = -\tfrac12 \sum_j \left(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\right)

    Lesson 05.

    Parameters
    ----------
    z_mean, z_logvar : array, shape (batch_size, z_dim)
    per_dim : bool, default False
        Return the KL of each latent dimension, ``(batch_size, z_dim)``.

    Returns
    -------
    kl : array, shape (batch_size,) (or (batch_size, z_dim) with ``per_dim``)
    """
    (z_mean, z_logvar), tin = _to_tensors(z_mean, z_logvar)
    _check_same_shape(("z_mean", "z_logvar"), z_mean, z_logvar)
    f = _kl_dims_t if per_dim else _kl_t
    return _out(f(z_mean, z_logvar), tin)


def kl_normal_std_normal_backward(z_mean, z_logvar, grad=1.0, per_dim=False):
    r"""Backward of :func:`kl_normal_std_normal` by autograd: ``(grad * mu, grad * (sigma^2 -
    1) / 2)``. See :func:`vaelearn.numpy.kl_normal_std_normal_backward`. Lesson 05.

    Returns
    -------
    d_mean, d_logvar : array, shape (batch_size, z_dim)
    """
    (z_mean, z_logvar, grad), tin = _to_tensors(z_mean, z_logvar, grad)
    f = _kl_dims_t if per_dim else _kl_t
    d_mean, d_logvar = _backward(f, (z_mean, z_logvar), grad)
    return _out(d_mean, tin), _out(d_logvar, tin)


def _log_bernoulli_t(x, x_logits):
    return torch.sum(x * x_logits - _softplus_t(x_logits), dim=-1)


def log_px_given_z_bernoulli(x, x_logits):
    r"""Bernoulli log-likelihood per example from logits: :math:`\sum_d x_d\ell_d -
    \operatorname{softplus}(\ell_d)`, in nats. Lesson 05.

    Parameters
    ----------
    x : array, shape (..., x_dim)
        Data in [0, 1].
    x_logits : array, shape (..., x_dim)

    Returns
    -------
    array, shape (...,)
    """
    (x, x_logits), tin = _to_tensors(x, x_logits)
    return _out(_log_bernoulli_t(x, x_logits), tin)


def log_px_given_z_bernoulli_backward(x, x_logits, grad=1.0):
    r"""d/d logits of :func:`log_px_given_z_bernoulli` times ``grad``, by autograd:
    ``(x - sigmoid(l)) * grad``. Lesson 05.

    Returns
    -------
    d_logits : array, the broadcast shape of ``x`` and ``x_logits``
    """
    (x, x_logits, grad), tin = _to_tensors(x, x_logits, grad)
    x_logits = x_logits.expand(torch.broadcast_shapes(x.shape, x_logits.shape))
    (d,) = _backward(lambda lg: _log_bernoulli_t(x, lg), (x_logits,), grad)
    return _out(d, tin)


def _log_gaussian_t(x, x_mean, log_sigma):
    x_dim = x_mean.shape[-1]
    log_sigma_sum = torch.broadcast_to(log_sigma, (x_dim,)).sum()
    sq = _sq_over_var_t(x - x_mean, 2 * log_sigma)  # (x - m)^2 / sigma^2, no 0 * inf
    return -0.5 * torch.sum(sq, dim=-1) - log_sigma_sum - 0.5 * x_dim * LOG_2PI


def log_px_given_z_gaussian(x, x_mean, log_sigma):
    r"""Gaussian log-likelihood per example, :math:`-\sum_d [(x_d-m_d)^2/(2\sigma_d^2) +
    \log\sigma_d + \tfrac12\log 2\pi]`, in nats. Lesson 05.

    Parameters
    ----------
    x, x_mean : array, shape (..., x_dim)
    log_sigma : float or array broadcastable to (x_dim,)

    Returns
    -------
    array, shape (...,)
    """
    (x, x_mean, log_sigma), tin = _to_tensors(x, x_mean, log_sigma)
    return _out(_log_gaussian_t(x, x_mean, log_sigma), tin)


def log_px_given_z_gaussian_backward(x, x_mean, log_sigma, grad=1.0):
    r"""Backward of :func:`log_px_given_z_gaussian` times ``grad``, by autograd. Lesson 05.

    Returns
    -------
    d_mean : array, the shape of ``x_mean``
    d_log_sigma : array, the shape of ``log_sigma``
    """
    (x, x_mean, log_sigma, grad), tin = _to_tensors(x, x_mean, log_sigma, grad)
    d_mean, d_log_sigma = _backward(
        lambda m, s: _log_gaussian_t(x, m, s), (x_mean, log_sigma), grad
    )
    return _out(d_mean, tin), _out(d_log_sigma, tin)


def _squared_error_t(x, x_hat):
    diff = x_hat - x
    return torch.sum(diff * diff, dim=-1)


def squared_error(x, x_hat):
    r"""Squared reconstruction error per example, :math:`\sum_d (\hat x_d - x_d)^2`. Lesson 02.

    Parameters
    ----------
    x, x_hat : array, shape (..., x_dim)

    Returns
    -------
    array, shape (...,)
    """
    (x, x_hat), tin = _to_tensors(x, x_hat)
    return _out(_squared_error_t(x, x_hat), tin)


def squared_error_backward(x, x_hat, grad=1.0):
    r"""d/d x_hat of :func:`squared_error` times ``grad``, by autograd: ``2 (x_hat - x) grad``.

    Returns
    -------
    d_x_hat : array, the shape of ``x_hat``
    """
    (x, x_hat, grad), tin = _to_tensors(x, x_hat, grad)
    (d,) = _backward(lambda h: _squared_error_t(x, h), (x_hat,), grad)
    return _out(d, tin)


def _sq_over_var_t(diff, logvar):
    """``diff^2 / exp(logvar)`` as ``exp(2 log|diff| - logvar)`` (0 where diff = 0): finite
    wherever the true value is, with a finite gradient at diff = 0 (see the NumPy twin)."""
    a = diff.abs()
    pos = a > 0
    out = torch.exp(2 * torch.log(torch.where(pos, a, torch.ones_like(a))) - logvar)
    return torch.where(pos, out, torch.zeros_like(out))


def _log_normal_t(z, mean, logvar):
    if not isinstance(logvar, torch.Tensor):  # a Python float (the prior: logvar = 0)
        if logvar == 0:  # unit variance: the plain square is exact
            diff = z - mean
            return -0.5 * torch.sum(LOG_2PI + diff * diff, dim=-1)
        logvar = torch.full_like(z, float(logvar))
    return -0.5 * torch.sum(LOG_2PI + logvar + _sq_over_var_t(z - mean, logvar), dim=-1)


def _log_normal_eps_t(eps, logvar):
    """log N(mu + sigma * eps; mu, sigma^2) summed over the last axis, from the noise:
    ``-1/2 sum(eps^2 + log 2 pi + logvar)``; ``z - mu`` is never formed."""
    return -0.5 * torch.sum(eps * eps + LOG_2PI + logvar, dim=-1)


def log_normal(z, mean, logvar):
    r"""Log-density of a diagonal Gaussian summed over the last axis, in nats. Lesson 05.

    Parameters
    ----------
    z : array, shape (..., z_dim)
    mean, logvar : array or float, broadcastable to ``z``

    Returns
    -------
    array, shape (...,)
    """
    (z, mean, logvar), tin = _to_tensors(z, mean, logvar)
    return _out(_log_normal_t(z, mean, logvar), tin)


def log_normal_backward(z, mean, logvar, grad=1.0):
    r"""Backward of :func:`log_normal` times ``grad``, by autograd. Lesson 07.

    Returns
    -------
    dz, d_mean, d_logvar : array, the shapes of ``z``, ``mean`` and ``logvar``
    """
    (z, mean, logvar, grad), tin = _to_tensors(z, mean, logvar, grad)
    dz, d_mean, d_logvar = _backward(_log_normal_t, (z, mean, logvar), grad)
    return _out(dz, tin), _out(d_mean, tin), _out(d_logvar, tin)


def log_normal_eps(eps, logvar):
    r"""log N(z; mu, sigma^2) at :math:`z = \mu + \sigma\varepsilon`, from the noise:
    :math:`-\tfrac12\sum_j(\varepsilon_j^2 + \log 2\pi + \log\sigma_j^2)`. Lessons 05-07.

    Parameters
    ----------
    eps : array, shape (..., z_dim)
    logvar : array, broadcastable to ``eps``

    Returns
    -------
    array, shape (...,)
    """
    (eps, logvar), tin = _to_tensors(eps, logvar)
    return _out(_log_normal_eps_t(eps, logvar), tin)


def log_normal_eps_backward(eps, logvar, grad=1.0):
    r"""d/d logvar of :func:`log_normal_eps` times ``grad``, by autograd (summed over a leading
    ``n_samples`` axis of ``eps``). Lesson 07.

    Returns
    -------
    d_logvar : array, the shape of ``logvar``
    """
    (eps, logvar, grad), tin = _to_tensors(eps, logvar, grad)
    (d,) = _backward(lambda lv: _log_normal_eps_t(eps, lv), (logvar,), grad)
    return _out(d, tin)


def _logmeanexp_t(a, axis=0):
    return torch.logsumexp(a, dim=axis) - math.log(a.shape[axis])


def logmeanexp(a, axis=0):
    r"""``log(mean(exp(a), axis))`` without overflow. Lesson 07.

    Parameters
    ----------
    a : array
    axis : int, default 0

    Returns
    -------
    array, ``a`` with ``axis`` removed
    """
    (a,), tin = _to_tensors(a)
    return _out(_logmeanexp_t(a, axis), tin)


def logmeanexp_backward(a, axis=0, grad=1.0):
    r"""Backward of :func:`logmeanexp`: the softmax of ``a`` along ``axis`` times ``grad``, by
    autograd. Lesson 07.

    Returns
    -------
    array, the shape of ``a``
    """
    (a, grad), tin = _to_tensors(a, grad)
    (d,) = _backward(lambda t: _logmeanexp_t(t, axis), (a,), grad)
    return _out(d, tin)


# ----------------------------------------------------------------------------------------------
# likelihoods for grey-level pixels (lesson 05); see vaelearn.numpy.distributions for the maths
# ----------------------------------------------------------------------------------------------

from ..common.checks import _check_levels  # noqa: E402
from ..common.constants import (  # noqa: E402  (the same constants in both backends)
    _CB_LOG_NORM_SERIES,
    _CB_LOG_NORM_SWITCH,
    _CB_MEAN_SWITCH,
    _LANGEVIN_SERIES,
)


def _poly_t(coefs, t):
    out = torch.full_like(t, coefs[-1])
    for c in coefs[-2::-1]:
        out = out * t + c
    return out


def _check_logits_t(name, t):
    if torch.isnan(t).any():
        raise ValueError(f"argument {name!r} contains NaN values")


def _cb_log_norm_t(logits):
    # series below the switch; the other branch gets a safe input so its gradient is finite
    a = logits.abs()
    small = a < _CB_LOG_NORM_SWITCH
    u2 = torch.where(small, a, torch.zeros_like(a)) ** 2 / 4
    series = math.log(2.0) + u2 * _poly_t(_CB_LOG_NORM_SERIES, u2)
    big = torch.where(small, torch.ones_like(a), a)
    closed = torch.log(big / torch.tanh(big / 2))
    return torch.where(small, series, closed)


def _cb_mean_t(logits):
    # series below the switch; 1/|l| - 1/expm1(|l|) (the mean at -|l|) above, as in NumPy
    a = logits.abs()
    small = a < _CB_MEAN_SWITCH
    us = torch.where(small, logits, torch.zeros_like(logits)) / 2
    series = 0.5 + 0.5 * us * _poly_t(_LANGEVIN_SERIES, us * us)
    big = torch.where(small, torch.ones_like(a), a)
    at_neg = 1 / big - 1 / torch.expm1(big)
    closed = torch.where(logits < 0, at_neg, 1 - at_neg)
    return torch.where(small, series, closed)


def continuous_bernoulli_log_norm(logits):
    r"""Log normaliser :math:`\log C = \log(\ell/\tanh(\ell/2))` of the continuous Bernoulli
    from logits; a Taylor series below ``|logit| < 0.1``. See
    :func:`vaelearn.numpy.continuous_bernoulli_log_norm`. Lesson 05.

    Parameters
    ----------
    logits : array, any shape

    Returns
    -------
    array, the shape of ``logits``
    """
    (logits,), tin = _to_tensors(logits)
    _check_logits_t("logits", logits)
    return _out(_cb_log_norm_t(logits), tin)


def continuous_bernoulli_mean(logits):
    r"""Mean :math:`\tfrac12 + \tfrac12(\coth(\ell/2) - 2/\ell)` of the continuous Bernoulli.
    See :func:`vaelearn.numpy.continuous_bernoulli_mean`. Lesson 05.

    Parameters
    ----------
    logits : array, any shape

    Returns
    -------
    array, the shape of ``logits``
    """
    (logits,), tin = _to_tensors(logits)
    _check_logits_t("logits", logits)
    return _out(_cb_mean_t(logits), tin)


def _cb_sample_t(logits, u):
    a = logits.abs()
    tiny = a < 1e-6
    far = a >= 30
    mid = ~(tiny | far)
    lt = torch.where(tiny, logits, torch.zeros_like(logits))
    x_tiny = u + u * (1 - u) * (lt / 2 + lt * lt * (1 - 2 * u) / 6)
    lm = torch.where(mid, logits, torch.ones_like(logits))
    x_mid = torch.log1p(u * torch.expm1(lm)) / lm
    lf = torch.where(far, logits, torch.full_like(logits, 30.0))
    x_far = torch.logaddexp(torch.log1p(-u), torch.log(u) + lf) / lf
    x = torch.where(tiny, x_tiny, torch.where(mid, x_mid, x_far))
    return torch.clamp(x, 0, 1)


def continuous_bernoulli_sample(logits, u):
    r"""Inverse-CDF draws :math:`x = \log((1-u) + u e^\ell)/\ell` from the continuous
    Bernoulli given uniform noise ``u``. See :func:`vaelearn.numpy.continuous_bernoulli_sample`.
    Lesson 05.

    Parameters
    ----------
    logits : array
    u : array in [0, 1], broadcastable to ``logits``

    Returns
    -------
    array in [0, 1], the broadcast shape
    """
    (logits, u), tin = _to_tensors(logits, u)
    _check_logits_t("logits", logits)
    if torch.isnan(u).any() or ((u < 0) | (u > 1)).any():
        raise ValueError("argument 'u' must lie in [0, 1]")
    logits, u = torch.broadcast_tensors(logits, u)
    return _out(_cb_sample_t(logits, u), tin)


def _log_cb_t(x, x_logits):
    # softplus(l) = -logsigmoid(-l): exact everywhere, with the derivative sigmoid(l) also at
    # l = 0 (autograd of max(l, 0) + log1p(exp(-|l|)) gives 1 there, not 1/2)
    softplus = -torch.nn.functional.logsigmoid(-x_logits)
    return torch.sum(x * x_logits - softplus + _cb_log_norm_t(x_logits), dim=-1)


def log_px_given_z_continuous_bernoulli(x, x_logits):
    r"""Continuous Bernoulli log-density per example, :math:`\sum_d x_d\ell_d -
    \operatorname{softplus}(\ell_d) + \log C(\ell_d)`, in nats. Lesson 05.

    Parameters
    ----------
    x : array, shape (..., x_dim), values in [0, 1]
    x_logits : array, shape (..., x_dim)

    Returns
    -------
    array, shape (...,)
    """
    (x, x_logits), tin = _to_tensors(x, x_logits)
    _check_logits_t("x_logits", x_logits)
    return _out(_log_cb_t(x, x_logits), tin)


def log_px_given_z_continuous_bernoulli_backward(x, x_logits, grad=1.0):
    r"""d/d logits of :func:`log_px_given_z_continuous_bernoulli` written out, ``(x - mean) *
    grad`` (what autograd computes). Lesson 05.

    Parameters
    ----------
    x, x_logits : array, shape (..., x_dim)
    grad : float or array of shape (...,)

    Returns
    -------
    array, the broadcast shape of ``x`` and ``x_logits``
    """
    (x, x_logits, grad), tin = _to_tensors(x, x_logits, grad)
    _check_logits_t("x_logits", x_logits)
    return _out((x - _cb_mean_t(x_logits)) * grad[..., None], tin)


def _log_categorical_t(x_levels, logits):
    """``x_levels``: a long tensor broadcastable to ``logits.shape[:-1]``."""
    lsm = torch.log_softmax(logits, dim=-1)
    idx = x_levels.expand(logits.shape[:-1])[..., None]
    return torch.gather(lsm, -1, idx)[..., 0].sum(dim=-1)


def _levels_t(x_levels, n_levels, device):
    if isinstance(x_levels, torch.Tensor):
        x_levels = x_levels.detach().cpu().numpy()
    return torch.as_tensor(_check_levels(x_levels, n_levels), dtype=torch.long, device=device)


def log_px_given_z_categorical(x_levels, logits):
    r"""Categorical log-likelihood per example over K levels per pixel, :math:`\sum_d
    \log\operatorname{softmax}(\ell_d)_{x_d}`, in nats. Lesson 05.

    Parameters
    ----------
    x_levels : array of int, shape (..., x_dim), values in 0..K-1
    logits : array, shape (..., x_dim, K)

    Returns
    -------
    array, shape (...,)
    """
    tin = isinstance(x_levels, torch.Tensor) or isinstance(logits, torch.Tensor)
    (logits,), _ = _to_tensors(logits)
    _check_logits_t("logits", logits)
    if logits.dim() < 2:
        raise ValueError(
            f"argument 'logits' has shape {tuple(logits.shape)}; expected (..., x_dim, K)"
        )
    x = _levels_t(x_levels, logits.shape[-1], logits.device)
    return _out(_log_categorical_t(x, logits), tin)


def log_px_given_z_categorical_backward(x_levels, logits, grad=1.0):
    r"""d/d logits of :func:`log_px_given_z_categorical` written out: ``(onehot(x) -
    softmax(logits)) * grad``, shape of ``logits``. Lesson 05.

    Parameters
    ----------
    x_levels : array of int, shape (..., x_dim)
    logits : array, shape (..., x_dim, K)
    grad : float or array of shape (...,)
    """
    tin = any(isinstance(a, torch.Tensor) for a in (x_levels, logits, grad))
    (logits, grad), _ = _to_tensors(logits, grad)
    _check_logits_t("logits", logits)
    x = _levels_t(x_levels, logits.shape[-1], logits.device).expand(logits.shape[:-1])
    onehot = torch.nn.functional.one_hot(x, logits.shape[-1]).to(logits.dtype)
    return _out((onehot - torch.softmax(logits, dim=-1)) * grad[..., None, None], tin)
