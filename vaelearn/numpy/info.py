r"""Information theory on this backend's arrays: entropy, cross-entropy, KL, rate. Lessons 01, 05.

The NumPy backend re-exports the reference implementations in :mod:`vaelearn.info` (float64,
last axis is the distribution, nats by default, ``base=2`` for bits). :mod:`vaelearn.torch.info`
has the same names and signatures on torch tensors.

:func:`rate_decomposition` splits a VAE's rate, the average
:math:`\mathrm{KL}(q(z\mid x)\,\|\,p(z))`, into the mutual information :math:`I_q(x; z)` and
the KL of the aggregate posterior from the prior (Hoffman & Johnson 2016). Lesson 05.
"""

from __future__ import annotations

import math

import numpy as np

from ..common.checks import RateDecomposition
from ..info import cross_entropy, entropy, gaussian_entropy, kl_divergence, kl_normal
from .distributions import LOG_2PI, kl_normal_std_normal

__all__ = [
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "gaussian_entropy",
    "kl_normal",
    "rate_decomposition",
]



def _check_rate_inputs(z_mean, z_logvar, eps, chunk_size):
    """Validate; return ``z_mean, z_logvar (N, D)`` and ``eps (n_samples, N, D)`` as float64."""
    arrays = {}
    for name, a in (("z_mean", z_mean), ("z_logvar", z_logvar), ("eps", eps)):
        try:
            a = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"argument '{name}' must be an array of real numbers ({exc})"
            ) from None
        if not np.all(np.isfinite(a)):
            raise ValueError(f"argument '{name}' contains NaN or infinite values")
        arrays[name] = a
    z_mean, z_logvar, eps = arrays["z_mean"], arrays["z_logvar"], arrays["eps"]
    if z_mean.ndim != 2 or z_mean.shape[0] < 1 or z_mean.shape[1] < 1:
        raise ValueError(
            f"argument 'z_mean' must have shape (n_examples, z_dim); got {z_mean.shape}"
        )
    if z_logvar.shape != z_mean.shape:
        raise ValueError(
            f"arguments 'z_mean' and 'z_logvar' must have the same shape; got {z_mean.shape} "
            f"and {z_logvar.shape}"
        )
    if eps.ndim == 2:
        eps = eps[None]
    if eps.ndim != 3 or eps.shape[1:] != z_mean.shape or eps.shape[0] < 1:
        raise ValueError(
            f"argument 'eps' must have shape {z_mean.shape} or (n_samples, "
            f"{z_mean.shape[0]}, {z_mean.shape[1]}); got {np.shape(arrays['eps'])}"
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise ValueError(f"argument 'chunk_size' must be an int >= 1; got {chunk_size!r}")
    return z_mean, z_logvar, eps


def _log_aggregate(z, z_mean, z_logvar, chunk_size):
    r""":math:`\log q(z) = \log \frac1N \sum_m \mathcal N(z; \mu_m, \sigma_m^2)` for each row of
    ``z`` (shape ``(n_points, D)``), ``chunk_size`` rows at a time (memory: ``chunk_size * N``
    floats)."""
    n, d = z_mean.shape
    mean_t = z_mean.T.copy()                                    # (D, N)
    inv_var_t = np.exp(-z_logvar).T.copy()                      # (D, N)
    log_norm = -0.5 * (d * LOG_2PI + z_logvar.sum(axis=1))     # (N,)
    out = np.empty(z.shape[0])
    for start in range(0, z.shape[0], chunk_size):
        zc = z[start:start + chunk_size]
        sq = np.zeros((zc.shape[0], n))                         # sum_j (z_j - mu_mj)^2 / var_mj
        for j in range(d):  # one latent dimension at a time: no (c, N, D) temporaries
            t = zc[:, j, None] - mean_t[j]
            t *= t
            t *= inv_var_t[j]
            sq += t
        log_q = log_norm - 0.5 * sq                             # (c, N)
        top = log_q.max(axis=1, keepdims=True)                  # logsumexp: no overflow
        log_q -= top
        np.exp(log_q, out=log_q)
        out[start:start + chunk_size] = np.log(log_q.sum(axis=1)) + top[:, 0] - math.log(n)
    return out


def rate_decomposition(z_mean, z_logvar, eps, per_example=False, chunk_size=64):
    r"""Split the rate into mutual information and marginal KL ("ELBO surgery").

    For an encoder :math:`q(z\mid x_n) = \mathcal N(\mu_n, \operatorname{diag}\sigma_n^2)` on a
    data set of :math:`N` examples and the prior :math:`p(z) = \mathcal N(0, I)`,

    .. math::
        \underbrace{\frac1N \sum_n \mathrm{KL}\big(q(z\mid x_n)\,\|\,p(z)\big)}_{\text{rate}}
        = \underbrace{\frac1N \sum_n \mathbb E_{q(z\mid x_n)}
          \log\frac{q(z\mid x_n)}{q(z)}}_{I_q(x;\,z)}
        + \underbrace{\mathrm{KL}\big(q(z)\,\|\,p(z)\big)}_{\text{marginal KL}},
        \qquad q(z) = \frac1N \sum_m q(z\mid x_m),

    where :math:`I_q` is the mutual information between the index of the example and its code
    under the joint :math:`q(n, z) = q(z\mid x_n)/N`, and :math:`q(z)` is the aggregate
    posterior (Hoffman & Johnson 2016; derived in
    :func:`vaelearn.derivations.info.rate_as_mutual_information`). The rate is computed in
    closed form; the two parts by Monte Carlo with :math:`z_{sn} = \mu_n + \sigma_n
    \varepsilon_{sn}`, averaging :math:`\log q(z\mid x_n) - \log q(z)` and
    :math:`\log q(z) - \log p(z)`, where :math:`\log q(z)` is the exact log-mean-exp of the
    :math:`N` encoder densities (no approximation besides the draws, so both estimates are
    unbiased for the empirical data distribution). Their sum is a Monte Carlo estimate of the
    rate. Because :math:`I_q` is a mutual information with an index uniform over :math:`N`
    values, :math:`0 \le I_q \le \log N`: on a small data set the estimate saturates at
    :math:`\log N` and says nothing about a larger population. Each term of the :math:`I_q`
    estimate is at most :math:`\log N` too (the own term of the log-sum is one of the
    :math:`N`).

    Lesson 05 (the rate as mutual information), lesson 08 (per β).

    Parameters
    ----------
    z_mean, z_logvar : array_like, shape (n_examples, z_dim)
        The encoder's means and log-variances for the ``N = n_examples`` data points.
    eps : array_like, shape (n_examples, z_dim) or (n_samples, n_examples, z_dim)
        Standard normal noise: ``n_samples`` draws of z per example.
    per_example : bool, default False
        Return the per-example terms, each of shape ``(n_examples,)``, instead of their means
        (their spread gives a standard error).
    chunk_size : int, default 64
        How many draws of z are compared with all ``N`` densities at once; memory is about
        ``chunk_size * n_examples`` floats (the torch backend: times ``z_dim``). The result does
        not depend on it.

    Returns
    -------
    RateDecomposition
        ``(rate, mutual_information, marginal_kl)``: float64 0-d arrays (or ``(n_examples,)``
        arrays with ``per_example=True``), in nats per example, summed over latent dimensions.

    Raises
    ------
    ValueError
        If an argument has NaN or inf, the shapes do not match, or ``chunk_size`` is not an
        int >= 1.
    """
    z_mean, z_logvar, eps = _check_rate_inputs(z_mean, z_logvar, eps, chunk_size)
    n_samples, n, d = eps.shape
    rate = kl_normal_std_normal(z_mean, z_logvar)                          # (N,) closed form
    z = z_mean + np.exp(0.5 * z_logvar) * eps                              # (S, N, D)
    log_q_own = -0.5 * np.sum(eps * eps + LOG_2PI + z_logvar, axis=-1)      # log q(z_sn | x_n)
    log_q_agg = _log_aggregate(z.reshape(-1, d), z_mean, z_logvar, int(chunk_size))
    log_q_agg = log_q_agg.reshape(n_samples, n)                            # log q(z_sn)
    log_prior = -0.5 * np.sum(z * z + LOG_2PI, axis=-1)                   # log p(z_sn)
    mi = np.mean(log_q_own - log_q_agg, axis=0)
    marginal = np.mean(log_q_agg - log_prior, axis=0)
    if per_example:
        return RateDecomposition(rate, mi, marginal)
    return RateDecomposition(np.asarray(rate.mean()), np.asarray(mi.mean()),
                             np.asarray(marginal.mean()))
