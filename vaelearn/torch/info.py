"""Information theory on this backend's arrays: entropy, cross-entropy, KL, Gaussians. Lesson 01.

The same names and signatures as :mod:`vaelearn.numpy.info` (whose reference implementations
live in :mod:`vaelearn.info`), written with torch operations. NumPy arrays in give NumPy arrays
out (computed in float64 on :func:`vaelearn.torch.get_device`); torch tensors in give tensors
out, keeping the autograd graph. Validation is the same (``ValueError`` naming the argument),
including the sum-to-one tolerance, chosen from the data's dtype by :func:`vaelearn.info.sum_tol`
(1e-9 for float64, 1e-5 for float32, whether a NumPy array or a tensor).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..common.checks import RateDecomposition
from ..info import _D_MINUS_LOG1P_COEFS, _H_COEFS, _log_base, sum_tol
from ._device import get_device
from .distributions import LOG_2PI, _kl_t, _out

__all__ = [
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "gaussian_entropy",
    "kl_normal",
    "rate_decomposition",
]

def _to_tensors(args: dict):
    """Convert named inputs to tensors on one device and dtype.

    Returns ``(tensors, tensor_in, tols)``: ``tols[name]`` is the sum-to-one tolerance of the
    input's own dtype (:func:`vaelearn.info.sum_tol`), taken before any conversion."""
    tensor_in = any(isinstance(a, torch.Tensor) for a in args.values())
    ref = next((a for a in args.values() if isinstance(a, torch.Tensor)), None)
    device = ref.device if ref is not None else get_device()
    floats = [
        a.dtype for a in args.values() if isinstance(a, torch.Tensor) and a.is_floating_point()
    ]
    dtype = floats[0] if floats else torch.float64
    out = {}
    tols = {}
    for name, a in args.items():
        tols[name] = sum_tol(getattr(a, "dtype", None))  # the precision the data came in
        if isinstance(a, torch.Tensor):
            out[name] = a.to(device=device, dtype=dtype)
            continue
        try:
            arr = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"argument '{name}' must be an array of real numbers ({exc})"
            ) from None
        out[name] = torch.as_tensor(arr, dtype=dtype, device=device)
    for name, t in out.items():
        if torch.isnan(t).any().item():
            raise ValueError(f"argument '{name}' contains NaN")
    return out, tensor_in, tols


def _check_distribution(t: torch.Tensor, name: str, tol: float) -> None:
    if t.dim() == 0 or t.shape[-1] == 0:
        raise ValueError(
            f"argument '{name}' must have the outcomes on a non-empty last axis; "
            f"got shape {tuple(t.shape)}"
        )
    with torch.no_grad():
        if torch.isinf(t).any().item():
            raise ValueError(f"argument '{name}' contains inf")
        if (t < 0).any().item():
            raise ValueError(
                f"argument '{name}' has negative entries (smallest {t.min().item():.3g}); "
                "probabilities must be >= 0"
            )
        sums = t.sum(dim=-1)
        err = (sums - 1.0).abs()
        if (err > tol).any().item():
            worst = sums.reshape(-1)[int(err.reshape(-1).argmax())].item()
            raise ValueError(
                f"argument '{name}' is not a distribution: its last axis must sum to 1 within "
                f"{tol:g}, but a row sums to {worst:.12g}"
            )


def _check_pair(p: torch.Tensor, q: torch.Tensor) -> None:
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"arguments 'p' and 'q' must have the same number of outcomes (last axis); "
            f"got shapes {tuple(p.shape)} and {tuple(q.shape)}"
        )
    try:
        torch.broadcast_shapes(p.shape, q.shape)
    except RuntimeError:
        raise ValueError(
            f"arguments 'p' and 'q' have shapes {tuple(p.shape)} and {tuple(q.shape)}, "
            "which do not broadcast"
        ) from None


def _check_variance(t: torch.Tensor, name: str) -> None:
    with torch.no_grad():
        if not (t > 0).all().item():
            raise ValueError(
                f"argument '{name}' must be a variance > 0; smallest value is {t.min().item():.3g}"
            )
        if torch.isinf(t).any().item():
            raise ValueError(f"argument '{name}' contains inf")


def _plogq(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``p * log q`` with 0 where ``p = 0`` (whatever q), ``-inf`` where ``p > 0 = q``."""
    pos = p > 0
    safe_q = torch.where(pos, q, torch.ones_like(q))
    return torch.where(pos, p * torch.log(safe_q), torch.zeros_like(p * safe_q))


def entropy(p, base=None):
    r"""Entropy :math:`H(p) = -\sum_i p_i \log p_i`, with :math:`0 \log 0 = 0`. Lesson 01.

    See :func:`vaelearn.info.entropy`. ``p`` has shape ``(..., n_outcomes)``; returns ``(...)``.
    """
    lb = _log_base(base)
    t, tin, tols = _to_tensors({"p": p})
    _check_distribution(t["p"], "p", tols["p"])
    p = t["p"]
    # -p log min(p, 1) >= 0 term by term (p may exceed 1 by the sum tolerance)
    return _out(-_plogq(p, p.clamp(max=1.0)).sum(dim=-1) / lb + 0.0, tin)


def cross_entropy(p, q, base=None):
    r"""Cross-entropy :math:`H(p, q) = -\sum_i p_i \log q_i`. Lesson 01.

    See :func:`vaelearn.info.cross_entropy`. ``inf`` where ``p_i > 0 = q_i``.
    """
    lb = _log_base(base)
    t, tin, tols = _to_tensors({"p": p, "q": q})
    _check_distribution(t["p"], "p", tols["p"])
    _check_distribution(t["q"], "q", tols["q"])
    _check_pair(t["p"], t["q"])
    p, q = torch.broadcast_tensors(t["p"], t["q"])
    return _out(-_plogq(p, q.clamp(max=1.0)).sum(dim=-1) / lb, tin)


def kl_divergence(p, q, base=None):
    r"""KL divergence :math:`D_{KL}(p \| q) = \sum_i p_i \log (p_i / q_i)`. Lesson 01.

    See :func:`vaelearn.info.kl_divergence`. ``inf`` where ``p_i > 0 = q_i``.
    """
    lb = _log_base(base)
    t, tin, tols = _to_tensors({"p": p, "q": q})
    _check_distribution(t["p"], "p", tols["p"])
    _check_distribution(t["q"], "q", tols["q"])
    _check_pair(t["p"], t["q"])
    p, q = torch.broadcast_tensors(t["p"], t["q"])
    # terms p log(p/q) - p + q >= 0, computed as in vaelearn.info._kl_terms (read its doc)
    pos = p > 0
    one, zero = torch.ones_like(p), torch.zeros_like(p)
    safe_q = torch.where(pos, q, one)
    t = p / safe_q
    near = pos & (t >= 0.5) & (t <= 2.0)
    d = torch.where(near, (p - q) / safe_q, zero)
    small = d.abs() < 0.1
    ds = torch.where(small, d, zero)
    poly = torch.full_like(ds, _H_COEFS[0])
    for c in _H_COEFS[1:]:
        poly = poly * ds + c
    dl = torch.where(small, zero, d)
    h = torch.where(small, ds * ds * poly, (1.0 + dl) * torch.log1p(dl) - dl)
    far = p * (torch.log(torch.where(pos, p, one)) - torch.log(safe_q)) - p + q
    terms = torch.where(near, q * h, torch.where(pos, far, q))
    return _out(terms.clamp(min=0.0).sum(dim=-1) / lb, tin)


def gaussian_entropy(var, base=None):
    r"""Differential entropy of :math:`N(\mu, \sigma^2)`: :math:`\tfrac12 \log(2\pi e \sigma^2)`.

    Elementwise. See :func:`vaelearn.info.gaussian_entropy`. Lesson 01.
    """
    lb = _log_base(base)
    t, tin, tols = _to_tensors({"var": var})
    _check_variance(t["var"], "var")
    # log(2 pi e) + log(var): the product overflows for var > 1.6e307
    return _out(0.5 * (math.log(2.0 * math.pi * math.e) + torch.log(t["var"])) / lb, tin)


def kl_normal(mu_q, var_q, mu_p=0.0, var_p=1.0):
    r"""KL between univariate Gaussians, elementwise, in nats. Lesson 01.

    .. math::
        D_{KL}(N(\mu_q, \sigma_q^2) \| N(\mu_p, \sigma_p^2)) = \tfrac12 \left[
        \log\frac{\sigma_p^2}{\sigma_q^2} + \frac{\sigma_q^2 + (\mu_q - \mu_p)^2}{\sigma_p^2}
        - 1 \right]

    See :func:`vaelearn.info.kl_normal`.
    """
    t, tin, tols = _to_tensors({"mu_q": mu_q, "var_q": var_q, "mu_p": mu_p, "var_p": var_p})
    for name in ("var_q", "var_p"):
        _check_variance(t[name], name)
    for name in ("mu_q", "mu_p"):
        if torch.isinf(t[name]).any().item():
            raise ValueError(f"argument '{name}' contains inf")
    try:
        torch.broadcast_shapes(*(v.shape for v in t.values()))
    except RuntimeError:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in t.items())
        raise ValueError(f"arguments do not broadcast: {shapes}") from None
    mq, vq, mp, vp = t["mu_q"], t["var_q"], t["mu_p"], t["var_p"]
    # 1/2 [g + (mu_q - mu_p)^2 / var_p], g = t - 1 - log t >= 0 for t = var_q / var_p, without
    # overflow or cancellation (see vaelearn.info._variance_term): never negative
    return _out(0.5 * (_variance_term_t(vq, vp) + (mq - mp) ** 2 / vp), tin)


def _variance_term_t(vq, vp):
    """``t - 1 - log t`` for ``t = vq / vp``; the torch twin of ``vaelearn.info._variance_term``."""
    vq, vp = torch.broadcast_tensors(vq, vp)
    t = vq / vp
    near = (t >= 0.5) & (t <= 2.0)
    zero = torch.zeros_like(t)
    d = torch.where(near, (vq - vp) / vp, zero)
    small = d.abs() < 0.1
    ds = torch.where(small, d, zero)
    poly = torch.full_like(ds, _D_MINUS_LOG1P_COEFS[0])
    for c in _D_MINUS_LOG1P_COEFS[1:]:
        poly = poly * ds + c
    near_value = torch.where(small, ds * ds * poly, d - torch.log1p(torch.where(small, zero, d)))
    far_value = t - 1.0 - (torch.log(vq) - torch.log(vp))
    return torch.where(near, near_value, far_value)


def _check_rate_inputs_t(z_mean, z_logvar, eps, chunk_size):
    """The torch twin of ``vaelearn.numpy.info._check_rate_inputs``: the same errors."""
    t, tin, _ = _to_tensors({"z_mean": z_mean, "z_logvar": z_logvar, "eps": eps})
    for name in ("z_mean", "z_logvar", "eps"):
        if not torch.isfinite(t[name]).all().item():
            raise ValueError(f"argument '{name}' contains NaN or infinite values")
    z_mean, z_logvar, eps = t["z_mean"], t["z_logvar"], t["eps"]
    shape = tuple(z_mean.shape)
    if z_mean.dim() != 2 or shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"argument 'z_mean' must have shape (n_examples, z_dim); got {shape}")
    if tuple(z_logvar.shape) != shape:
        raise ValueError(
            f"arguments 'z_mean' and 'z_logvar' must have the same shape; got {shape} "
            f"and {tuple(z_logvar.shape)}"
        )
    eps_shape = tuple(eps.shape)
    if eps.dim() == 2:
        eps = eps[None]
    if eps.dim() != 3 or tuple(eps.shape[1:]) != shape or eps.shape[0] < 1:
        raise ValueError(
            f"argument 'eps' must have shape {shape} or (n_samples, {shape[0]}, {shape[1]}); "
            f"got {eps_shape}"
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise ValueError(f"argument 'chunk_size' must be an int >= 1; got {chunk_size!r}")
    return z_mean, z_logvar, eps, tin


def _log_aggregate_t(z, z_mean, z_logvar, chunk_size):
    """log q(z) = logsumexp_m log N(z; mu_m, sigma_m^2) - log N, ``chunk_size`` rows at a time."""
    n, d = z_mean.shape
    inv_var = torch.exp(-z_logvar)
    log_norm = -0.5 * (d * LOG_2PI + z_logvar.sum(dim=1))
    parts = []
    for start in range(0, z.shape[0], chunk_size):
        diff = z[start:start + chunk_size, None, :] - z_mean[None, :, :]
        log_q = log_norm - 0.5 * torch.sum(diff * diff * inv_var, dim=-1)
        parts.append(torch.logsumexp(log_q, dim=1) - math.log(n))
    return torch.cat(parts)


def rate_decomposition(z_mean, z_logvar, eps, per_example=False, chunk_size=64):
    r"""Split the rate into mutual information and marginal KL ("ELBO surgery"). Lesson 05.

    .. math::
        \frac1N \sum_n \mathrm{KL}\big(q(z\mid x_n)\,\|\,p(z)\big)
        = I_q(x; z) + \mathrm{KL}\big(q(z)\,\|\,p(z)\big)

    See :func:`vaelearn.numpy.info.rate_decomposition` (same arguments, errors and result,
    Hoffman & Johnson 2016). Tensors in give tensors out, differentiable with respect to
    ``z_mean`` and ``z_logvar``; NumPy in gives NumPy out.
    """
    z_mean, z_logvar, eps, tin = _check_rate_inputs_t(z_mean, z_logvar, eps, chunk_size)
    n_samples, n, d = eps.shape
    rate = _kl_t(z_mean, z_logvar)
    z = z_mean + torch.exp(0.5 * z_logvar) * eps
    log_q_own = -0.5 * torch.sum(eps * eps + LOG_2PI + z_logvar, dim=-1)
    log_q_agg = _log_aggregate_t(z.reshape(-1, d), z_mean, z_logvar, int(chunk_size))
    log_q_agg = log_q_agg.reshape(n_samples, n)
    log_prior = -0.5 * torch.sum(z * z + LOG_2PI, dim=-1)
    mi = torch.mean(log_q_own - log_q_agg, dim=0)
    marginal = torch.mean(log_q_agg - log_prior, dim=0)
    if not per_example:
        rate, mi, marginal = rate.mean(), mi.mean(), marginal.mean()
    return RateDecomposition(_out(rate, tin), _out(mi, tin), _out(marginal, tin))
