"""A latent-variable model where everything is exact, and tools to check the VAE objective.

Lesson 04 (variational inference and the ELBO) works with the linear-Gaussian model

.. math::

    z \\sim \\mathcal N(0, a), \\qquad x \\mid z \\sim \\mathcal N(z, s),

(``a = prior_var``, ``s = noise_var``; the lesson uses ``a = s = 1``). Its evidence, posterior,
ELBO and ELBO gap all have closed forms, so the identity
``log p(x) = ELBO(q) + KL(q || p(z|x))`` can be checked to many digits, and each closed form is
cross-checked by numerical quadrature (:mod:`scipy.integrate`). The module also measures what the
alternatives cost: grid quadrature in ``d`` latent dimensions (``n**d`` evaluations) and a short
Metropolis sampler with its autocorrelation and effective sample size.

With ``N`` observations the model also shows expectation-maximisation as coordinate ascent on the
ELBO (:func:`em_prior_var`, learning the prior variance ``a``; Dempster et al. 1977, Neal and
Hinton 1998) and stochastic gradient Langevin dynamics (:func:`sgld`, Welling and Teh 2011) on
the posterior of one ``z`` shared by ``N`` observations, with the sampler's exact stationary
moments (:func:`sgld_stationary`).

The loss-convention helpers of lesson 05 live in :mod:`vaelearn.likelihoods`.

Everything here is NumPy float64; losses are in nats per example, summed over dimensions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special

from .common.checks import _as_result as _result
from .common.checks import _finite, _positive

__all__ = [
    "LinearGaussian",
    "grid_log_evidence",
    "quadrature_cost",
    "MetropolisResult",
    "metropolis",
    "autocorrelation",
    "effective_sample_size",
    "fit_gaussian_q",
    "prior_var_mle",
    "em_prior_var",
    "SGLDResult",
    "sgld",
    "sgld_stationary",
]

LOG_2PI = math.log(2.0 * math.pi)
# Tolerances for scipy quad: integrands here are smooth and Gaussian-tailed.
_QUAD = dict(epsabs=1e-13, epsrel=1e-12, limit=200)


# --- the linear-Gaussian model --------------------------------------------------------------------


@dataclass(frozen=True)
class LinearGaussian:
    """The model ``z ~ N(0, prior_var)``, ``x | z ~ N(z, noise_var)``: everything in closed form.

    Evidence ``p(x) = N(x; 0, a + s)``; posterior ``p(z | x) = N(a x / (a + s), a s / (a + s))``
    (for ``a = s = 1``: ``N(x/2, 1/2)``). Lesson 04 uses it to check the ELBO identity
    ``log p(x) = ELBO(q) + KL(q || p(z|x))`` exactly. Methods broadcast over NumPy arrays and
    return floats for scalar inputs. A Gaussian guide ``q = N(q_mean, q_var)`` is given by its
    mean and variance (``fit_gaussian_q`` works with its log-variance).

    Parameters
    ----------
    prior_var : float
        Variance ``a`` of the prior ``p(z)``; must be positive.
    noise_var : float
        Variance ``s`` of the likelihood ``p(x | z)``; must be positive.
    """

    prior_var: float = 1.0
    noise_var: float = 1.0

    def __post_init__(self):
        _positive("prior_var", self.prior_var)
        _positive("noise_var", self.noise_var)

    # densities ---------------------------------------------------------------------------------
    def log_prior(self, z):
        """``log p(z) = log N(z; 0, a)``, elementwise."""
        z = _finite("z", z)
        return _result(-0.5 * (LOG_2PI + math.log(self.prior_var) + z**2 / self.prior_var))

    def log_likelihood(self, x, z):
        """``log p(x | z) = log N(x; z, s)``, elementwise (broadcasting ``x`` against ``z``)."""
        x, z = _finite("x", x), _finite("z", z)
        return _result(-0.5 * (LOG_2PI + math.log(self.noise_var) + (x - z) ** 2 / self.noise_var))

    def log_joint(self, x, z):
        """``log p(x, z) = log p(x | z) + log p(z)``."""
        return _result(np.asarray(self.log_likelihood(x, z)) + np.asarray(self.log_prior(z)))

    def log_evidence(self, x):
        """``log p(x) = log N(x; 0, a + s)``: the evidence in closed form.

        For ``a = s = 1`` and ``x = 1`` it is -1.5155121 nats.
        """
        x = _finite("x", x)
        v = self.prior_var + self.noise_var
        return _result(-0.5 * (LOG_2PI + math.log(v) + x**2 / v))

    def posterior(self, x):
        """Mean and variance of ``p(z | x) = N(a x / (a + s), a s / (a + s))``.

        Returns
        -------
        (mean, var)
            ``mean`` has the shape of ``x``; ``var`` is a float (it does not depend on ``x``).
        """
        x = _finite("x", x)
        a, s = self.prior_var, self.noise_var
        return _result(a * x / (a + s)), a * s / (a + s)

    def log_posterior(self, z, x):
        """``log p(z | x)``, elementwise, from the closed-form posterior."""
        z = _finite("z", z)
        mean, var = self.posterior(x)
        return _result(-0.5 * (LOG_2PI + math.log(var) + (z - mean) ** 2 / var))

    def sample(self, n: int, rng: np.random.Generator):
        """Draw ``n`` pairs ``(z, x)`` from the joint: ``z ~ p(z)``, then ``x ~ p(x | z)``."""
        if int(n) != n or n < 1:
            raise ValueError(f"argument 'n' must be a positive integer, got {n!r}")
        if not isinstance(rng, np.random.Generator):
            raise ValueError("argument 'rng' must be a numpy.random.Generator")
        z = rng.normal(0.0, math.sqrt(self.prior_var), size=int(n))
        x = z + rng.normal(0.0, math.sqrt(self.noise_var), size=int(n))
        return z, x

    # the ELBO in closed form -------------------------------------------------------------------
    def expected_log_likelihood(self, x, q_mean, q_var):
        """``E_q[log p(x | z)] = -1/2 [ln(2 pi s) + ((x - m)^2 + v) / s]`` for ``q = N(m, v)``."""
        x, m, v = _finite("x", x), _finite("q_mean", q_mean), _positive("q_var", q_var)
        s = self.noise_var
        return _result(-0.5 * (LOG_2PI + math.log(s) + ((x - m) ** 2 + v) / s))

    def kl_to_prior(self, q_mean, q_var):
        """``KL(q || p(z)) = 1/2 [(v + m^2) / a - 1 - ln(v / a)]`` for ``q = N(m, v)``."""
        m, v = _finite("q_mean", q_mean), _positive("q_var", q_var)
        a = self.prior_var
        return _result(0.5 * ((v + m**2) / a - 1.0 - np.log(v / a)))

    def elbo(self, x, q_mean, q_var):
        """``ELBO(q) = E_q[log p(x | z)] - KL(q || p(z))`` in closed form for ``q = N(m, v)``.

        Equal to ``E_q[log p(x, z) - log q(z)]``; for ``x = 1`` and ``q = N(0, 1)`` it is
        -1.9189385 nats.
        """
        return _result(
            np.asarray(self.expected_log_likelihood(x, q_mean, q_var))
            - np.asarray(self.kl_to_prior(q_mean, q_var))
        )

    def kl_to_posterior(self, x, q_mean, q_var):
        """``KL(q || p(z | x))`` in closed form: the gap ``log p(x) - ELBO(q)``, never negative.

        ``KL(N(m, v) || N(mu, w)) = 1/2 [v / w + (m - mu)^2 / w - 1 + ln(w / v)]``.
        """
        m, v = _finite("q_mean", q_mean), _positive("q_var", q_var)
        mu, w = self.posterior(x)
        return _result(0.5 * (v / w + (m - mu) ** 2 / w - 1.0 + np.log(w / v)))

    def elbo_grad(self, x, q_mean, q_logvar):
        """Gradient of the ELBO with respect to ``q_mean`` and ``q_logvar`` (``v = exp(q_logvar)``).

        ``dELBO/dm = (x - m) / s - m / a`` and
        ``dELBO/d(log v) = 1/2 - v / (2 s) - v / (2 a)``.

        Returns
        -------
        (d_mean, d_logvar)
        """
        x, m, lv = _finite("x", x), _finite("q_mean", q_mean), _finite("q_logvar", q_logvar)
        a, s = self.prior_var, self.noise_var
        v = np.exp(lv)
        return _result((x - m) / s - m / a), _result(0.5 - v / (2 * s) - v / (2 * a))

    def elbo_grad_mean_estimates(self, x, q_mean, q_var, eps):
        """Single-draw estimates of ``dELBO/dm`` for ``q = N(m, v)``: score function and pathwise.

        With ``z = m + sqrt(v) eps`` and ``f(z) = log p(x, z) - log q(z)``:

        - score function (REINFORCE, Williams 1992): ``f(z) (z - m) / v``;
        - pathwise (reparameterisation): ``d/dm f(m + sqrt(v) eps) = (x - z) / s - z / a``
          (``log q`` at ``z = m + sqrt(v) eps`` does not depend on ``m``).

        Both average to :meth:`elbo_grad`'s ``d_mean``. Lesson 04 compares their variances (the
        estimator Kingma and Welling 2013, section 2.2, call high-variance is the first one);
        lesson 06 measures the same pair on a VAE.

        Parameters
        ----------
        x, q_mean : float
        q_var : float
            Positive.
        eps : array_like, shape (n_draws,)
            Standard normal draws.

        Returns
        -------
        (score, pathwise) : ndarrays of the shape of ``eps``
        """
        x, m = float(_finite("x", x)), float(_finite("q_mean", q_mean))
        v = float(_positive("q_var", q_var))
        eps = _finite("eps", eps)
        z = m + math.sqrt(v) * eps
        log_q = -0.5 * (LOG_2PI + math.log(v) + eps**2)
        f = np.asarray(self.log_joint(x, z)) - log_q
        score = f * (z - m) / v
        pathwise = (x - z) / self.noise_var - z / self.prior_var
        return score, pathwise

    # derivatives with respect to the prior variance (EM, Fisher's identity) ---------------------
    def dlog_prior_dprior_var(self, z):
        """``d/da log N(z; 0, a) = (z^2 / a - 1) / (2 a)``, elementwise.

        Averaged over the posterior ``p(z | x)`` it is ``d/da log p(x)`` (Fisher's identity):
        a Monte Carlo gradient of the log-evidence through posterior samples. Lesson 04.
        """
        z = _finite("z", z)
        a = self.prior_var
        return _result((z**2 / a - 1.0) / (2.0 * a))

    def dlog_evidence_dprior_var(self, x):
        """``d/da log N(x; 0, a + s) = (x^2 / (a + s) - 1) / (2 (a + s))``, elementwise."""
        x = _finite("x", x)
        v = self.prior_var + self.noise_var
        return _result((x**2 / v - 1.0) / (2.0 * v))

    # one z shared by N observations (the posterior SGLD samples) ------------------------------
    def posterior_shared(self, x):
        """Posterior of one ``z`` given ``N`` observations ``x_i | z ~ N(z, s)`` (i.i.d.).

        ``p(z | x_1..N) = N(a sum(x) / (s + N a), a s / (s + N a))``: the precision is
        ``1/a + N/s``. This is the setting of Welling and Teh (2011): a parameter ``z`` with a
        prior and ``N`` data points.

        Parameters
        ----------
        x : array_like, shape (N,)

        Returns
        -------
        (mean, var) : floats
        """
        x = _finite("x", x)
        if x.ndim != 1 or x.size < 1:
            raise ValueError(f"argument 'x' must have shape (N,) with N >= 1, got {x.shape}")
        a, s, n = self.prior_var, self.noise_var, x.size
        return float(a * x.sum() / (s + n * a)), float(a * s / (s + n * a))

    def log_posterior_shared_unnorm(self, z, x) -> float:
        """``log p(z) + sum_i log p(x_i | z)`` for a scalar ``z``: ``N`` likelihood terms."""
        x = _finite("x", x)
        z = float(np.asarray(_finite("z", z)).reshape(-1)[0])
        return float(self.log_prior(z) + np.sum(np.asarray(self.log_likelihood(x, z))))

    def grad_log_posterior_shared(self, z, x, idx=None):
        """Gradient in ``z`` of ``log p(z) + sum_i log p(x_i | z)``, or its minibatch estimate.

        Full data: ``-z / a + sum_i (x_i - z) / s``. With ``idx`` (a minibatch of ``n`` indices):
        ``-z / a + (N / n) sum_{i in idx} (x_i - z) / s``, an unbiased estimate when ``idx`` is a
        uniformly drawn subset (Welling and Teh 2011, eq. 4).

        Parameters
        ----------
        z : array_like, shape (1,) or scalar
        x : array_like, shape (N,)
        idx : array_like of int, shape (n,), optional

        Returns
        -------
        ndarray, shape of ``z`` (at least 1-d)
        """
        x = _finite("x", x)
        z = np.atleast_1d(_finite("z", z))
        a, s = self.prior_var, self.noise_var
        if idx is None:
            return -z / a + (x.sum() - x.size * z) / s
        idx = np.asarray(idx)
        if idx.ndim != 1 or idx.size < 1:
            raise ValueError("argument 'idx' must be a non-empty 1-d array of indices")
        xb = x[idx]
        return -z / a + (x.size / idx.size) * (xb.sum() - idx.size * z) / s

    # the same quantities by quadrature ---------------------------------------------------------
    def _mode_quad(self, x: float) -> float:
        # The peak of z -> log p(x, z), found numerically (no closed form used).
        res = optimize.minimize_scalar(lambda z: -self.log_joint(x, z))
        return float(res.x)

    def log_evidence_quad(self, x: float) -> float:
        """``log p(x) = log \\int p(x | z) p(z) dz`` by adaptive quadrature (scipy ``quad``).

        The integrand is divided by its peak value ``p(x, z*)`` (``z*`` found numerically) so the
        integral is of order one; the interval is the whole real line.
        """
        x = float(_finite("x", x))
        peak = self._mode_quad(x)
        shift = self.log_joint(x, peak)
        val, _ = integrate.quad(
            lambda z: math.exp(self.log_joint(x, z) - shift), -np.inf, np.inf, **_QUAD
        )
        return shift + math.log(val)

    def posterior_moments_quad(self, x: float) -> tuple[float, float]:
        """Mean and variance of ``p(z | x) = p(x, z) / p(x)`` by quadrature (Bayes' rule)."""
        x = float(_finite("x", x))
        log_px = self.log_evidence_quad(x)

        def post(z):
            return math.exp(self.log_joint(x, z) - log_px)

        mean, _ = integrate.quad(lambda z: z * post(z), -np.inf, np.inf, **_QUAD)
        var, _ = integrate.quad(lambda z: (z - mean) ** 2 * post(z), -np.inf, np.inf, **_QUAD)
        return mean, var

    def elbo_quad(self, x: float, q_mean: float, q_var: float) -> float:
        """``ELBO(q) = \\int q(z) [log p(x, z) - log q(z)] dz`` by quadrature."""
        x = float(_finite("x", x))
        m, v = float(_finite("q_mean", q_mean)), float(_positive("q_var", q_var))

        def integrand(z):
            log_q = -0.5 * (LOG_2PI + math.log(v) + (z - m) ** 2 / v)
            return math.exp(log_q) * (self.log_joint(x, z) - log_q)

        val, _ = integrate.quad(integrand, -np.inf, np.inf, **_QUAD)
        return val

    def kl_to_posterior_quad(self, x: float, q_mean: float, q_var: float) -> float:
        """``KL(q || p(z | x)) = \\int q log(q / p(z | x)) dz`` by quadrature, with the posterior
        itself from quadrature (``p(x, z) / p(x)``): no closed form used."""
        x = float(_finite("x", x))
        m, v = float(_finite("q_mean", q_mean)), float(_positive("q_var", q_var))
        log_px = self.log_evidence_quad(x)

        def integrand(z):
            log_q = -0.5 * (LOG_2PI + math.log(v) + (z - m) ** 2 / v)
            return math.exp(log_q) * (log_q - (self.log_joint(x, z) - log_px))

        val, _ = integrate.quad(integrand, -np.inf, np.inf, **_QUAD)
        return val

    # the model in d latent dimensions ----------------------------------------------------------
    def log_evidence_nd(self, x) -> float:
        """Exact ``log p(x)`` for ``d`` independent copies of the model (``x`` of shape ``(d,)``).

        ``z ~ N(0, a I_d)``, ``x | z ~ N(z, s I_d)``: the log-evidence is the sum over coordinates.
        """
        x = _finite("x", x)
        if x.ndim != 1:
            raise ValueError(f"argument 'x' must have shape (d,), got {x.shape}")
        return float(np.sum(np.asarray(self.log_evidence(x))))


def grid_log_evidence(
    model: LinearGaussian, x, points_per_dim: int = 8, chunk_size: int = 1 << 16
) -> tuple[float, int]:
    """Estimate ``log p(x) = log E_{p(z)}[p(x | z)]`` on a tensor-product grid in ``d`` dimensions.

    The grid is the product of ``points_per_dim`` Gauss-Hermite nodes per latent coordinate
    (exact for polynomials of degree ``< 2 * points_per_dim`` under the prior), so it holds
    ``points_per_dim ** d`` points and costs that many likelihood evaluations. A decoder network
    would be evaluated at every one of them. Lesson 04 measures how that count explodes with ``d``.

    Parameters
    ----------
    model : LinearGaussian
        The model, applied independently to each of the ``d`` coordinates.
    x : array_like, shape (d,)
        The observation.
    points_per_dim : int
        Quadrature nodes per latent dimension.
    chunk_size : int
        Grid points evaluated at once (bounds memory to ``chunk_size * d`` floats).

    Returns
    -------
    (log_evidence, n_evals)
        The estimate of ``log p(x)`` in nats and the number of likelihood evaluations.
    """
    if not isinstance(model, LinearGaussian):
        raise ValueError("argument 'model' must be a LinearGaussian")
    x = _finite("x", x)
    if x.ndim != 1 or x.size < 1:
        raise ValueError(f"argument 'x' must have shape (d,) with d >= 1, got {x.shape}")
    if int(points_per_dim) != points_per_dim or points_per_dim < 1:
        raise ValueError(
            f"argument 'points_per_dim' must be a positive integer, got {points_per_dim!r}"
        )
    n, d = int(points_per_dim), x.size
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)  # weight exp(-t^2 / 2)
    z_nodes = math.sqrt(model.prior_var) * nodes
    log_w = np.log(weights) - 0.5 * LOG_2PI  # weights of E over N(0, 1), in logs
    total = n**d
    running = -np.inf
    for start in range(0, total, chunk_size):
        idx = np.unravel_index(np.arange(start, min(start + chunk_size, total)), (n,) * d)
        idx = np.stack(idx, axis=1)  # (chunk, d)
        z = z_nodes[idx]
        log_terms = log_w[idx].sum(axis=1) + np.sum(
            -0.5 * (LOG_2PI + math.log(model.noise_var) + (x - z) ** 2 / model.noise_var), axis=1
        )
        running = np.logaddexp(running, special.logsumexp(log_terms))
    return float(running), total


def quadrature_cost(
    model: LinearGaussian,
    dims,
    points_per_dim: int = 8,
    x_value: float = 1.0,
) -> list[dict]:
    """Run :func:`grid_log_evidence` for each latent dimension in ``dims`` and time it.

    Parameters
    ----------
    model : LinearGaussian
    dims : iterable of int
        Latent dimensions ``d`` to try (keep ``points_per_dim ** d`` below ~10 million).
    points_per_dim : int
        Grid nodes per dimension.
    x_value : float
        Every coordinate of the observation ``x`` (shape ``(d,)``) equals this.

    Returns
    -------
    list of dict
        One record per ``d`` with keys ``d``, ``n_evals``, ``seconds`` (wall clock, machine
        dependent: never compare it in a test), ``log_evidence`` (the grid estimate), ``exact``
        and ``abs_error``.
    """
    rows = []
    for d in dims:
        if int(d) != d or d < 1:
            raise ValueError(f"argument 'dims' must hold positive integers, got {d!r}")
        x = np.full(int(d), float(x_value))
        start = time.perf_counter()
        estimate, n_evals = grid_log_evidence(model, x, points_per_dim)
        seconds = time.perf_counter() - start
        exact = model.log_evidence_nd(x)
        rows.append(
            dict(d=int(d), n_evals=n_evals, seconds=seconds, log_evidence=estimate, exact=exact,
                 abs_error=abs(estimate - exact))
        )
    return rows


# --- Markov chain Monte Carlo ---------------------------------------------------------------------


@dataclass(frozen=True)
class MetropolisResult:
    """Output of :func:`metropolis`.

    Attributes
    ----------
    samples : ndarray, shape (n_steps, d)
        The chain (after the starting point), one row per step.
    accept_rate : float
        Fraction of proposals accepted.
    n_evals : int
        Evaluations of the log-density (one per step, plus one for the start).
    """

    samples: np.ndarray
    accept_rate: float
    n_evals: int


def metropolis(
    log_density: Callable[[np.ndarray], float],
    z0,
    n_steps: int,
    step_size: float,
    rng: np.random.Generator,
) -> MetropolisResult:
    """Random-walk Metropolis sampler (Metropolis et al. 1953; Hastings 1970).

    Propose ``z' = z + step_size * N(0, I)``; accept with probability
    ``min(1, p(z') / p(z))``, computed from ``log_density`` (known up to a constant, so the
    intractable evidence is never needed). Lesson 04 runs it on a posterior ``p(z | x)``.

    Parameters
    ----------
    log_density : callable
        ``log_density(z)`` for ``z`` of shape ``(d,)``, returning a float (an unnormalised log
        density such as ``log p(x, z)``).
    z0 : array_like, shape (d,) or scalar
        Starting point.
    n_steps : int
        Number of steps (samples returned).
    step_size : float
        Standard deviation of the Gaussian proposal; positive.
    rng : numpy.random.Generator
        The one source of randomness.

    Returns
    -------
    MetropolisResult
    """
    z = np.atleast_1d(_finite("z0", z0)).astype(np.float64)
    if z.ndim != 1:
        raise ValueError(f"argument 'z0' must be a scalar or have shape (d,), got {z.shape}")
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"argument 'n_steps' must be a positive integer, got {n_steps!r}")
    _positive("step_size", step_size)
    if not isinstance(rng, np.random.Generator):
        raise ValueError("argument 'rng' must be a numpy.random.Generator")
    n_steps = int(n_steps)
    logp = float(log_density(z))
    if not np.isfinite(logp):
        raise ValueError(
            "argument 'z0' has log_density -inf or NaN: start where the density is positive"
        )
    noise = rng.standard_normal((n_steps, z.size)) * float(step_size)
    log_u = np.log(rng.uniform(size=n_steps))
    samples = np.empty((n_steps, z.size))
    accepted = 0
    for t in range(n_steps):
        proposal = z + noise[t]
        logp_new = float(log_density(proposal))
        if log_u[t] < logp_new - logp:
            z, logp = proposal, logp_new
            accepted += 1
        samples[t] = z
    return MetropolisResult(samples=samples, accept_rate=accepted / n_steps, n_evals=n_steps + 1)


def autocorrelation(chain, max_lag: int | None = None) -> np.ndarray:
    """Sample autocorrelation ``rho_k`` of a 1-D chain for lags ``k = 0 .. max_lag``.

    ``rho_k = sum_t (z_t - zbar)(z_{t+k} - zbar) / sum_t (z_t - zbar)^2`` (computed with an FFT);
    ``rho_0 = 1``.

    Parameters
    ----------
    chain : array_like, shape (n,)
    max_lag : int, optional
        Largest lag (default ``n - 1``).

    Returns
    -------
    ndarray, shape (max_lag + 1,)
    """
    x = _finite("chain", chain)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"argument 'chain' must have shape (n,) with n >= 2, got {x.shape}")
    n = x.size
    max_lag = n - 1 if max_lag is None else int(max_lag)
    if not 0 <= max_lag < n:
        raise ValueError(f"argument 'max_lag' must be in [0, {n - 1}], got {max_lag}")
    x = x - x.mean()
    denom = float(np.dot(x, x))
    if denom == 0:
        raise ValueError("argument 'chain' is constant: its autocorrelation is undefined")
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(x, size)
    acov = np.fft.irfft(f * np.conj(f), size)[: max_lag + 1]
    return acov / denom


def effective_sample_size(chain) -> float:
    """Effective sample size ``n / (1 + 2 sum_k rho_k)`` of a 1-D chain.

    The sum runs over Geyer's initial positive sequence: pairs ``rho_{2m} + rho_{2m+1}`` are
    added while they are positive (Geyer 1992), which stops before the noisy tail. For
    independent draws this is about ``n``; for an AR(1) chain with coefficient ``phi`` it is
    about ``n (1 - phi) / (1 + phi)``.

    Parameters
    ----------
    chain : array_like, shape (n,)

    Returns
    -------
    float
    """
    rho = autocorrelation(chain)
    n = rho.size
    total = -1.0  # 1 + 2 sum_{k>=1} rho_k  ==  -1 + 2 sum_{k>=0} rho_k
    for m in range(0, n - 1, 2):
        pair = rho[m] + rho[m + 1]
        if pair <= 0:
            break
        total += 2.0 * pair
    return float(n / max(total, 1e-12))


# --- variational inference by gradient ascent -----------------------------------------------------


def fit_gaussian_q(
    model: LinearGaussian,
    x: float,
    q_mean: float = 0.0,
    q_logvar: float = 0.0,
    lr: float = 0.1,
    steps: int = 100,
) -> dict[str, np.ndarray]:
    """Maximise ``ELBO(q)`` over a Gaussian guide ``q = N(m, exp(log v))`` by gradient ascent.

    Each step is ``(m, log v) += lr * grad ELBO`` with the exact gradient
    :meth:`LinearGaussian.elbo_grad`. The maximiser is the exact posterior (the gap
    ``KL(q || p(z|x))`` reaches zero), so the ELBO climbs to ``log p(x)``. Lesson 04.

    Parameters
    ----------
    model : LinearGaussian
    x : float
        The observation.
    q_mean, q_logvar : float
        Starting guide.
    lr : float
        Step size (positive).
    steps : int
        Number of gradient steps.

    Returns
    -------
    dict
        ``"q_mean"``, ``"q_logvar"``, ``"elbo"``: arrays of shape ``(steps + 1,)`` (start included).
    """
    if not isinstance(model, LinearGaussian):
        raise ValueError("argument 'model' must be a LinearGaussian")
    x = float(_finite("x", x))
    m, lv = float(_finite("q_mean", q_mean)), float(_finite("q_logvar", q_logvar))
    _positive("lr", lr)
    if int(steps) != steps or steps < 0:
        raise ValueError(f"argument 'steps' must be a non-negative integer, got {steps!r}")
    means, logvars, elbos = [m], [lv], [model.elbo(x, m, math.exp(lv))]
    for _ in range(int(steps)):
        dm, dlv = model.elbo_grad(x, m, lv)
        m, lv = m + lr * dm, lv + lr * dlv
        means.append(m)
        logvars.append(lv)
        elbos.append(model.elbo(x, m, math.exp(lv)))
    return {"q_mean": np.array(means), "q_logvar": np.array(logvars), "elbo": np.array(elbos)}


# --- expectation-maximisation: coordinate ascent on the ELBO --------------------------------------


def prior_var_mle(x, noise_var: float) -> float:
    """Maximum-likelihood prior variance of pairs ``z_i ~ N(0, a)``, ``x_i | z_i ~ N(z_i, s)``.

    Marginally ``x_i ~ N(0, a + s)``, so ``log p(x; a) = sum_i log N(x_i; 0, a + s)`` is largest
    at ``a + s = mean(x^2)``: ``a* = mean(x^2) - s``. When ``mean(x^2) <= s`` the maximum is on the
    boundary ``a -> 0`` and there is no positive maximiser.

    Raises
    ------
    ValueError
        If ``mean(x^2) <= noise_var`` (no positive maximiser), naming ``x``.
    """
    x = _finite("x", x)
    s = float(_positive("noise_var", noise_var))
    if x.ndim != 1 or x.size < 1:
        raise ValueError(f"argument 'x' must have shape (N,) with N >= 1, got {x.shape}")
    second = float(np.mean(x**2))
    if second <= s:
        raise ValueError(
            f"argument 'x': mean(x^2) = {second:g} <= noise_var = {s:g}, so the likelihood is "
            "largest at prior_var -> 0 and has no positive maximiser"
        )
    return second - s


def em_prior_var(x, prior_var0: float, noise_var: float, n_iter: int) -> dict[str, np.ndarray]:
    """Learn the prior variance ``a`` of the linear-Gaussian model by expectation-maximisation.

    Data: ``N`` pairs ``z_i ~ N(0, a)``, ``x_i | z_i ~ N(z_i, s)`` with ``s`` known and only ``x``
    seen. EM is coordinate ascent on ``ELBO(q, a) = sum_i E_{q_i}[log p(x_i, z_i; a) - log q_i]``
    (Neal and Hinton 1998; Dempster et al. 1977):

    - **E-step**: ``q_i = p(z_i | x_i; a_t) = N(m_i, v)`` with ``m_i = a_t x_i / (a_t + s)``,
      ``v = a_t s / (a_t + s)``. The gap ``KL(q || p(z | x; a_t))`` becomes 0, so the ELBO equals
      ``log p(x; a_t)``.
    - **M-step**: ``a_{t+1} = argmax_a ELBO(q, a) = mean_i(m_i^2 + v)`` (only
      ``E_q[log p(z_i; a)]`` depends on ``a``).

    Neither step lowers the ELBO, and after each E-step it touches ``log p(x; a)``, so the
    log-evidence never decreases. The fixed point is :func:`prior_var_mle`; near it the error
    shrinks by ``1 - (a* / (a* + s))^2`` per iteration. Lesson 04.

    Parameters
    ----------
    x : array_like, shape (N,)
        The observations.
    prior_var0 : float
        Starting value of ``a`` (positive).
    noise_var : float
        The known ``s`` (positive).
    n_iter : int
        Number of E+M iterations (non-negative).

    Returns
    -------
    dict of ndarrays
        ``"prior_var"`` (``n_iter + 1``,): ``a_0 .. a_T``; ``"log_evidence"`` (``n_iter + 1``,):
        ``log p(x; a_t)`` summed over the ``N`` points (nats), equal to the ELBO after the
        E-step at ``a_t``; ``"elbo_before_e"`` (``n_iter``,): ``ELBO(q_{t-1}, a_t)`` after the
        M-step of iteration ``t`` and before the next E-step; ``"gap_before_e"``: the KL that the
        next E-step closes, ``log p(x; a_t) - ELBO(q_{t-1}, a_t)``, never negative.
    """
    x = _finite("x", x)
    if x.ndim != 1 or x.size < 1:
        raise ValueError(f"argument 'x' must have shape (N,) with N >= 1, got {x.shape}")
    a = float(_positive("prior_var0", prior_var0))
    s = float(_positive("noise_var", noise_var))
    if int(n_iter) != n_iter or n_iter < 0:
        raise ValueError(f"argument 'n_iter' must be a non-negative integer, got {n_iter!r}")
    a_hist = [a]
    log_ev = [float(np.sum(np.asarray(LinearGaussian(a, s).log_evidence(x))))]
    elbo_m, gaps = [], []
    for _ in range(int(n_iter)):
        m, v = LinearGaussian(a, s).posterior(x)  # E-step: q_i = exact posterior
        a = float(np.mean(np.asarray(m) ** 2 + v))  # M-step: closed form
        new = LinearGaussian(a, s)
        e = float(np.sum(np.asarray(new.elbo(x, m, v))))
        le = float(np.sum(np.asarray(new.log_evidence(x))))
        a_hist.append(a)
        log_ev.append(le)
        elbo_m.append(e)
        gaps.append(float(np.sum(np.asarray(new.kl_to_posterior(x, m, v)))))
    return {
        "prior_var": np.array(a_hist),
        "log_evidence": np.array(log_ev),
        "elbo_before_e": np.array(elbo_m),
        "gap_before_e": np.array(gaps),
    }


# --- stochastic gradient Langevin dynamics --------------------------------------------------------


@dataclass(frozen=True)
class SGLDResult:
    """Output of :func:`sgld`.

    Attributes
    ----------
    samples : ndarray, shape (n_steps, d)
        The chain (after the starting point), one row per step.
    n_grad_evals : int
        Calls of ``grad_log_density`` (one per step).
    n_data_grads : int
        Per-datum gradient terms computed: ``n_steps * batch_size`` with minibatches,
        ``n_steps * n_data`` without (0 when ``n_data`` is not given).
    """

    samples: np.ndarray
    n_grad_evals: int
    n_data_grads: int


def sgld(
    grad_log_density: Callable,
    z0,
    n_steps: int,
    step_size: float,
    rng: np.random.Generator,
    n_data: int | None = None,
    batch_size: int | None = None,
) -> SGLDResult:
    """Stochastic gradient Langevin dynamics (Welling and Teh 2011).

    Each step moves along the gradient of the log-density and adds Gaussian noise:

    ``z <- z + (step_size / 2) g(z) + sqrt(step_size) N(0, I)``,

    where ``g`` is the gradient of ``log p(z | data)`` (up to a constant), or an unbiased
    minibatch estimate of it. With exact gradients this is the unadjusted Langevin algorithm;
    without a Metropolis correction its stationary distribution is the target only as
    ``step_size -> 0`` (the bias is of order ``step_size``; :func:`sgld_stationary` gives it
    exactly for the Gaussian posterior of lesson 04).

    Parameters
    ----------
    grad_log_density : callable
        Without minibatches, ``grad_log_density(z)`` for ``z`` of shape ``(d,)``; with
        ``batch_size``, ``grad_log_density(z, idx)`` where ``idx`` holds ``batch_size`` distinct
        indices drawn uniformly from ``range(n_data)`` and the function returns the unbiased
        estimate ``grad log p(z) + (n_data / batch_size) sum_{i in idx} grad log p(x_i | z)``.
    z0 : array_like, shape (d,) or scalar
        Starting point.
    n_steps : int
        Number of steps (samples returned).
    step_size : float
        ``epsilon`` above; positive.
    rng : numpy.random.Generator
        The one source of randomness (noise and minibatches).
    n_data : int, optional
        Number of data points (needed with ``batch_size``; counts work without it).
    batch_size : int, optional
        Minibatch size ``1 <= batch_size <= n_data``.

    Returns
    -------
    SGLDResult
    """
    z = np.atleast_1d(_finite("z0", z0)).astype(np.float64)
    if z.ndim != 1:
        raise ValueError(f"argument 'z0' must be a scalar or have shape (d,), got {z.shape}")
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"argument 'n_steps' must be a positive integer, got {n_steps!r}")
    eps = float(_positive("step_size", step_size))
    if not isinstance(rng, np.random.Generator):
        raise ValueError("argument 'rng' must be a numpy.random.Generator")
    if n_data is not None and (int(n_data) != n_data or n_data < 1):
        raise ValueError(f"argument 'n_data' must be a positive integer, got {n_data!r}")
    if batch_size is not None:
        if n_data is None:
            raise ValueError("argument 'n_data' is needed with 'batch_size'")
        if int(batch_size) != batch_size or not 1 <= batch_size <= n_data:
            raise ValueError(
                f"argument 'batch_size' must be an integer in [1, n_data={n_data}], "
                f"got {batch_size!r}"
            )
    n_steps = int(n_steps)
    noise = rng.standard_normal((n_steps, z.size)) * math.sqrt(eps)
    samples = np.empty((n_steps, z.size))
    chunk = 1024
    for t in range(n_steps):
        if batch_size is None:
            g = grad_log_density(z)
        else:
            if t % chunk == 0:
                # uniform subsets of size batch_size without replacement, drawn for a chunk of
                # steps at once: the batch_size smallest of n_data uniform keys
                keys = rng.random((min(chunk, n_steps - t), int(n_data)))
                batches = np.argpartition(keys, int(batch_size) - 1, axis=1)[:, : int(batch_size)]
            g = grad_log_density(z, batches[t % chunk])
        g = np.asarray(g, dtype=np.float64).reshape(z.shape)
        if not np.all(np.isfinite(g)):
            raise ValueError(f"argument 'grad_log_density' returned a non-finite value at step {t}")
        z = z + 0.5 * eps * g + noise[t]
        samples[t] = z
    per_step = 0 if n_data is None else int(n_data if batch_size is None else batch_size)
    return SGLDResult(samples=samples, n_grad_evals=n_steps, n_data_grads=n_steps * per_step)


def sgld_stationary(
    model: LinearGaussian, x, step_size: float, batch_size: int | None = None
) -> tuple[float, float]:
    """Exact stationary mean and variance of :func:`sgld` on the shared-``z`` posterior.

    The target is :meth:`LinearGaussian.posterior_shared`.

    With posterior mean ``mu`` and precision ``lam = 1/a + N/s`` the gradient is
    ``-lam (z - mu) + eta``, where ``eta`` is the minibatch error (0 for full batches; it does not
    depend on ``z`` here). One step is the autoregression
    ``z' - mu = (1 - eps lam / 2)(z - mu) + (eps / 2) eta + sqrt(eps) xi``, whose stationary
    variance is ``(1 + eps tau^2 / 4) / (lam (1 - eps lam / 4))`` with ``tau^2 = Var(eta)``
    (batches of ``n`` drawn without replacement:
    ``tau^2 = N^2 (N - n) sigma_x^2 / (n (N - 1) s^2)``, ``sigma_x^2`` the population variance of
    ``x``). The mean is ``mu`` (no bias); the variance exceeds the posterior's ``1 / lam`` by the
    factor ``(1 + eps tau^2 / 4) / (1 - eps lam / 4)``, ``1 + O(eps)``. Lesson 04.

    Raises
    ------
    ValueError
        If ``step_size * lam >= 4`` (the chain diverges).
    """
    if not isinstance(model, LinearGaussian):
        raise ValueError("argument 'model' must be a LinearGaussian")
    mu, var = model.posterior_shared(x)
    x = _finite("x", x)
    eps = float(_positive("step_size", step_size))
    lam = 1.0 / var
    if eps * lam >= 4.0:
        raise ValueError(
            f"argument 'step_size' = {eps:g} is too large: step_size * precision = {eps * lam:g} "
            ">= 4 and the chain diverges"
        )
    n_all = x.size
    if batch_size is None or batch_size == n_all:
        tau2 = 0.0
    else:
        if int(batch_size) != batch_size or not 1 <= batch_size <= n_all:
            raise ValueError(
                f"argument 'batch_size' must be an integer in [1, {n_all}], got {batch_size!r}"
            )
        n = int(batch_size)
        pop_var = float(np.mean((x - x.mean()) ** 2))
        tau2 = n_all**2 * (n_all - n) * pop_var / (n * (n_all - 1) * model.noise_var**2)
    return mu, (1.0 + eps * tau2 / 4.0) / (lam * (1.0 - eps * lam / 4.0))
