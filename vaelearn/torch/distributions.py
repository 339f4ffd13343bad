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
    "log_px_given_z_bernoulli",
    "log_px_given_z_gaussian",
    "log_normal",
    "logmeanexp",
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


def _kl_t(z_mean, z_logvar):
    # 1/2 sum_j (mu_j^2 + [exp(lv_j) - 1 - lv_j]): both parts >= 0, no cancellation near lv = 0
    return 0.5 * torch.sum(z_mean * z_mean + _exp_minus_1_minus_t(z_logvar), dim=-1)


def kl_normal_std_normal(z_mean, z_logvar):
    r"""KL(N(mu, diag(sigma^2)) || N(0, I)) per example, in nats.

    .. math::
        \mathrm{KL} = -\tfrac12 \sum_j \left(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\right)

    Lesson 05.

    Parameters
    ----------
    z_mean, z_logvar : array, shape (batch_size, z_dim)

    Returns
    -------
    kl : array, shape (batch_size,)
    """
    (z_mean, z_logvar), tin = _to_tensors(z_mean, z_logvar)
    _check_same_shape(("z_mean", "z_logvar"), z_mean, z_logvar)
    return _out(_kl_t(z_mean, z_logvar), tin)


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
