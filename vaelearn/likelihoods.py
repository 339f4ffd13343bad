"""The VAE objective's units and likelihoods, as plain NumPy oracles (lesson 05).

A Monte Carlo KL to ``N(0, I)`` next to its closed form, the Gaussian and Bernoulli negative
log-likelihoods summed over dimensions, the optimal shared decoder variance, bits per dimension and
the trivial ``D ln 2`` baseline. The backends' ``distributions`` modules hold the versions models
train with; these are the independent references lessons and tests check them against.

Everything here is NumPy float64; losses are in nats per example, summed over dimensions.
"""

from __future__ import annotations

import math

import numpy as np

from .common.checks import _as_result as _result
from .common.checks import _finite, _positive

__all__ = [
    "kl_std_normal",
    "gaussian_nll",
    "bernoulli_nll_with_logits",
    "optimal_sigma2",
    "nats_to_bits_per_dim",
    "bernoulli_baseline_nats",
    "reduce_loss",
]

LOG_2PI = math.log(2.0 * math.pi)


def _two_d(name: str, value) -> np.ndarray:
    arr = _finite(name, value)
    if arr.ndim != 2:
        raise ValueError(f"argument {name!r} must have shape (batch_size, dim), got {arr.shape}")
    return arr


def kl_std_normal(z_mean, z_logvar) -> np.ndarray:
    """``KL(N(mu, diag sigma^2) || N(0, I)) = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)``.

    A plain NumPy oracle for lesson 05 (the backends' ``kl_normal_std_normal`` is the one models
    use).

    Parameters
    ----------
    z_mean, z_logvar : array_like, shape (batch_size, z_dim)

    Returns
    -------
    ndarray, shape (batch_size,)
        Nats per example, summed over latent dimensions.
    """
    mu, lv = _two_d("z_mean", z_mean), _two_d("z_logvar", z_logvar)
    if mu.shape != lv.shape:
        raise ValueError(f"arguments 'z_mean' {mu.shape} and 'z_logvar' {lv.shape} differ in shape")
    return -0.5 * np.sum(1.0 + lv - mu**2 - np.exp(lv), axis=1)


def gaussian_nll(x, x_mean, sigma2) -> np.ndarray:
    """``-log N(x; mean, sigma^2 I) = ||x - mean||^2 / (2 sigma^2) + D/2 ln(2 pi sigma^2)``.

    The Gaussian decoder's reconstruction loss: squared error scaled by ``1 / (2 sigma^2)`` plus a
    constant that matters as soon as ``sigma`` is learned or losses are compared. Lesson 05.

    Parameters
    ----------
    x, x_mean : array_like, shape (batch_size, x_dim)
    sigma2 : float or array_like broadcastable to ``x``
        Decoder variance; positive.

    Returns
    -------
    ndarray, shape (batch_size,)
        Nats per example, summed over the ``x_dim`` dimensions.
    """
    x, mean = _two_d("x", x), _two_d("x_mean", x_mean)
    if x.shape != mean.shape:
        raise ValueError(f"arguments 'x' {x.shape} and 'x_mean' {mean.shape} differ in shape")
    s2 = np.broadcast_to(_positive("sigma2", sigma2), x.shape)
    return np.sum((x - mean) ** 2 / (2 * s2) + 0.5 * (LOG_2PI + np.log(s2)), axis=1)


def bernoulli_nll_with_logits(x, x_logits) -> np.ndarray:
    """``-log Bernoulli(x; sigmoid(l)) = sum_j softplus(l_j) - x_j l_j``: binary cross-entropy.

    Computed from the logits ``l`` (never from probabilities, which round to 0 or 1), valid for
    ``x`` in ``[0, 1]`` (grey levels are the continuous relaxation). Lesson 05.

    Parameters
    ----------
    x : array_like, shape (batch_size, x_dim), values in [0, 1]
    x_logits : array_like, shape (batch_size, x_dim)

    Returns
    -------
    ndarray, shape (batch_size,)
        Nats per example, summed over the ``x_dim`` dimensions.
    """
    x, logits = _two_d("x", x), _two_d("x_logits", x_logits)
    if x.shape != logits.shape:
        raise ValueError(f"arguments 'x' {x.shape} and 'x_logits' {logits.shape} differ in shape")
    if np.any((x < 0) | (x > 1)):
        raise ValueError("argument 'x' must lie in [0, 1] for a Bernoulli likelihood")
    return np.sum(np.logaddexp(0.0, logits) - x * logits, axis=1)


def optimal_sigma2(x, x_mean) -> float:
    """The shared decoder variance maximising the Gaussian likelihood: the MSE per dimension.

    ``argmin_{sigma^2} sum_n gaussian_nll(x_n, mean_n, sigma^2)
    = 1/(N D) sum_{n,j} (x_nj - mean_nj)^2``. Lesson 05.

    Parameters
    ----------
    x, x_mean : array_like, shape (batch_size, x_dim)

    Returns
    -------
    float
    """
    x, mean = _two_d("x", x), _two_d("x_mean", x_mean)
    if x.shape != mean.shape:
        raise ValueError(f"arguments 'x' {x.shape} and 'x_mean' {mean.shape} differ in shape")
    mse = float(np.mean((x - mean) ** 2))
    if mse == 0:
        raise ValueError("arguments 'x' and 'x_mean' are equal: the optimal sigma^2 would be 0")
    return mse


def nats_to_bits_per_dim(nats, x_dim: int):
    """``bits/dim = nats / (x_dim * ln 2)``: a loss per example in nats to bits per dimension."""
    if int(x_dim) != x_dim or x_dim < 1:
        raise ValueError(f"argument 'x_dim' must be a positive integer, got {x_dim!r}")
    return _result(_finite("nats", nats) / (x_dim * math.log(2.0)))


def bernoulli_baseline_nats(x_dim: int) -> float:
    """``D ln 2``: the loss of the trivial model ``p(x_j = 1) = 1/2`` in every dimension.

    Any image costs exactly this many nats (1 bit per dimension), whatever its pixels: 44.36 nats
    for 8x8 digits, 543.43 for MNIST. A trained model must beat it. Lesson 05.
    """
    if int(x_dim) != x_dim or x_dim < 1:
        raise ValueError(f"argument 'x_dim' must be a positive integer, got {x_dim!r}")
    return x_dim * math.log(2.0)


_DIMS = ("sum", "mean")
_BATCH = ("mean", "sum")


def reduce_loss(per_dim_loss, dims: str = "sum", batch: str = "mean") -> float:
    """Reduce a ``(batch_size, x_dim)`` array of per-dimension losses to one number.

    vaelearn's convention is ``dims="sum", batch="mean"``: nats per example, summed over
    dimensions. ``dims="mean"`` divides the reconstruction term by ``x_dim`` (and silently
    re-weights it against the KL, like a ``beta = x_dim``); ``batch="sum"`` makes the number grow
    with the batch size. Lesson 05 tabulates all four.

    Parameters
    ----------
    per_dim_loss : array_like, shape (batch_size, x_dim)
    dims : {"sum", "mean"}
    batch : {"mean", "sum"}

    Returns
    -------
    float
    """
    loss = _two_d("per_dim_loss", per_dim_loss)
    if dims not in _DIMS:
        raise ValueError(f"argument 'dims' must be one of {_DIMS}, got {dims!r}")
    if batch not in _BATCH:
        raise ValueError(f"argument 'batch' must be one of {_BATCH}, got {batch!r}")
    per_example = loss.sum(axis=1) if dims == "sum" else loss.mean(axis=1)
    return float(per_example.mean() if batch == "mean" else per_example.sum())
