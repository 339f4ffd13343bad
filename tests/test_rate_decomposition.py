"""rate_decomposition (lesson 05, Hoffman & Johnson 2016) in both backends, against oracles.

The rate (average KL(q(z|x_n) || p(z))) splits into I_q(x; z) and KL(q(z) || p(z)), q(z) the
aggregate posterior over the N examples. Oracles: a direct implementation with scipy's normal
log-density and logsumexp (no chunking); 1-D quadrature of the exact I_q and marginal KL for a
mixture of a few Gaussians (scipy.integrate.quad); the closed cases z independent of x (I_q = 0)
and codes so far apart that q(z|x_n) never overlap (I_q = log N). Parity: the torch backend in
float64 gives the NumPy numbers to 1e-10; its autograd gradient matches central finite
differences of the NumPy function.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

import vaelearn.numpy as VN
import vaelearn.torch as VT

BACKENDS = [VN, VT]
IDS = ["numpy", "torch"]


def _encoders(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    z_mean = rng.normal(scale=1.5, size=(n, d))
    z_logvar = rng.normal(loc=-1.0, scale=0.7, size=(n, d))
    return z_mean, z_logvar, rng


def _direct(z_mean, z_logvar, eps):
    """The same estimator written with scipy, all at once (eps of shape (S, N, D))."""
    n = z_mean.shape[0]
    std = np.exp(0.5 * z_logvar)
    z = z_mean + std * eps                                                  # (S, N, D)
    own = stats.norm.logpdf(z, z_mean, std).sum(-1)                        # (S, N)
    cross = stats.norm.logpdf(z[:, :, None, :], z_mean, std).sum(-1)       # (S, N, N)
    agg = special.logsumexp(cross, axis=-1) - math.log(n)
    prior = stats.norm.logpdf(z).sum(-1)
    # KL to N(0, 1) per dimension by the textbook formula
    rate = 0.5 * np.sum(z_mean**2 + np.exp(z_logvar) - 1.0 - z_logvar, axis=1)
    return rate, (own - agg).mean(0), (agg - prior).mean(0)


@pytest.mark.parametrize("B", BACKENDS, ids=IDS)
def test_matches_a_direct_scipy_implementation(B):
    z_mean, z_logvar, rng = _encoders()
    eps = rng.standard_normal((3, *z_mean.shape))
    want = _direct(z_mean, z_logvar, eps)
    got = B.rate_decomposition(z_mean, z_logvar, eps, per_example=True, chunk_size=7)
    # float64 sums of ~40 terms of size ~10: agreement to 1e-10 is far above round-off
    for g, w in zip(got, want, strict=True):
        assert np.asarray(g).shape == (40,)
        assert np.allclose(np.asarray(g), w, rtol=0, atol=1e-10)
    means = B.rate_decomposition(z_mean, z_logvar, eps)
    for g, w in zip(means, want, strict=True):
        assert np.asarray(g).shape == () and abs(float(g) - w.mean()) < 1e-10
    assert set(means._fields) == {"rate", "mutual_information", "marginal_kl"}


@pytest.mark.parametrize("B", BACKENDS, ids=IDS)
def test_chunking_does_not_matter(B):
    # (the two backends' agreement is the case "rate-decomposition" of tests/test_parity.py)
    z_mean, z_logvar, rng = _encoders(n=300, d=4)
    eps = rng.standard_normal(z_mean.shape)         # 2-D eps: one draw per example
    ref = _direct(z_mean, z_logvar, eps[None])
    for chunk in (1, 37, 300, 10_000):
        got = B.rate_decomposition(z_mean, z_logvar, eps, per_example=True, chunk_size=chunk)
        for g, r in zip(got, ref, strict=True):
            assert np.allclose(np.asarray(g), r, rtol=0, atol=1e-10)


@pytest.mark.parametrize("B", BACKENDS, ids=IDS)
def test_codes_independent_of_x_carry_no_information(B):
    # every example has the same q(z|x): the aggregate is that Gaussian, I_q = 0 exactly (to
    # round-off), and the marginal KL is the Monte Carlo estimate of the (common) rate
    rng = np.random.default_rng(1)
    z_mean = np.tile(rng.normal(size=(1, 2)), (50, 1))
    z_logvar = np.tile(rng.normal(size=(1, 2)), (50, 1))
    eps = rng.standard_normal((400, 50, 2))
    rate, mi, marginal = B.rate_decomposition(z_mean, z_logvar, eps)
    assert abs(float(mi)) < 1e-12
    rate_exact = 0.5 * np.sum(z_mean[0] ** 2 + np.exp(z_logvar[0]) - 1 - z_logvar[0])
    assert abs(float(rate) - rate_exact) < 1e-12
    # 20000 draws, log-ratio spread ~1: 5 standard errors is about 0.04
    assert abs(float(marginal) - rate_exact) < 0.04


@pytest.mark.parametrize("B", BACKENDS, ids=IDS)
def test_separated_codes_reach_log_n(B):
    # means 60 apart, standard deviations <= 1: q(z|x_n) does not overlap, q(z) at a draw from
    # q(z|x_n) is q(z|x_n)/N, so every term of I_q is log N (to exp(-1000))
    n = 30
    z_mean = 60.0 * np.arange(n, dtype=float)[:, None] - 900.0
    z_logvar = np.random.default_rng(2).uniform(-3, 0, size=(n, 1))
    eps = np.clip(np.random.default_rng(3).standard_normal((20, n, 1)), -5, 5)
    _, mi, _ = B.rate_decomposition(z_mean, z_logvar, eps, per_example=True)
    assert np.allclose(np.asarray(mi), math.log(n), rtol=0, atol=1e-12)


def test_each_information_term_is_at_most_log_n():
    z_mean, z_logvar, rng = _encoders(n=25, d=2)
    eps = rng.standard_normal((50, 25, 2))
    _, mi, _ = VN.rate_decomposition(z_mean, z_logvar, eps, per_example=True)
    assert np.all(mi <= math.log(25) + 1e-12)


def test_one_dimensional_quadrature_oracle():
    """Exact I_q and KL(q(z) || p(z)) by quadrature for five 1-D encoders; the Monte Carlo
    estimates agree within 5 standard errors and the exact parts add up to the rate."""
    z_mean = np.array([[-2.0], [-0.5], [0.3], [1.0], [2.5]])
    z_logvar = np.log(np.array([[0.3], [0.8], [0.1], [1.5], [0.5]]))
    std = np.exp(0.5 * z_logvar[:, 0])

    def q_n(z):
        return stats.norm.pdf(z, z_mean[:, 0], std)

    def integrand_mi(z):
        qs = q_n(z)
        agg = qs.mean()
        return float(np.sum(qs[qs > 0] * np.log(qs[qs > 0] / agg)) / len(qs))

    def integrand_marginal(z):
        agg = q_n(z).mean()
        return agg * (math.log(agg) - stats.norm.logpdf(z)) if agg > 0 else 0.0

    opts = {"epsabs": 1e-12, "epsrel": 1e-10, "limit": 400, "points": list(z_mean[:, 0])}
    mi_exact = integrate.quad(integrand_mi, -15, 15, **opts)[0]
    marginal_exact = integrate.quad(integrand_marginal, -15, 15, **opts)[0]
    rate_exact = float(np.mean(0.5 * (
        z_mean[:, 0] ** 2 + std**2 - 1 - np.log(std**2))))
    # the identity itself, independent of the estimator: quadrature to 1e-8
    assert abs(mi_exact + marginal_exact - rate_exact) < 1e-8
    assert 0 < mi_exact < math.log(5)

    rng = np.random.default_rng(4)
    eps = rng.standard_normal((40_000, 5, 1))
    for B in BACKENDS:
        rate, mi, marginal = B.rate_decomposition(z_mean, z_logvar, eps, per_example=True)
        assert abs(float(np.mean(rate)) - rate_exact) < 1e-12
        # standard errors from the draws' spread (each column of draws is independent)
        z = z_mean + std[:, None] * eps
        log_own = stats.norm.logpdf(z, z_mean, std[:, None])[..., 0]
        log_agg = special.logsumexp(
            stats.norm.logpdf(z[..., None], z_mean[:, 0], std)[..., 0, :], axis=-1) - math.log(5)
        se_mi = np.sqrt(np.sum(np.var(log_own - log_agg, axis=0)) / 40_000) / 5
        se_m = np.sqrt(np.sum(np.var(log_agg - stats.norm.logpdf(z)[..., 0], axis=0))
                       / 40_000) / 5
        assert abs(float(np.mean(mi)) - mi_exact) < 5 * se_mi
        assert abs(float(np.mean(marginal)) - marginal_exact) < 5 * se_m


def test_torch_gradient_matches_finite_differences_of_numpy():
    import torch

    z_mean, z_logvar, rng = _encoders(n=12, d=2)
    eps = rng.standard_normal((4, 12, 2))
    m = torch.tensor(z_mean, dtype=torch.float64, requires_grad=True)
    lv = torch.tensor(z_logvar, dtype=torch.float64, requires_grad=True)
    rate, mi, marginal = VT.rate_decomposition(m, lv, torch.tensor(eps))
    assert isinstance(mi, torch.Tensor)
    g_m, g_lv = torch.autograd.grad(mi + 0.3 * marginal + 0.1 * rate, (m, lv))

    def f(zm, zl):
        r, i, k = VN.rate_decomposition(zm, zl, eps)
        return float(i + 0.3 * k + 0.1 * r)

    h = 1e-6
    for arr, grad in ((z_mean, g_m), (z_logvar, g_lv)):
        for idx in [(0, 0), (5, 1), (11, 0)]:
            up, down = arr.copy(), arr.copy()
            up[idx] += h
            down[idx] -= h
            args_up = (up, z_logvar) if arr is z_mean else (z_mean, up)
            args_down = (down, z_logvar) if arr is z_mean else (z_mean, down)
            fd = (f(*args_up) - f(*args_down)) / (2 * h)
            # central differences: truncation ~h^2, round-off ~1e-16 / h = 1e-10
            assert abs(fd - float(grad[idx])) < 1e-7


@pytest.mark.parametrize("B", BACKENDS, ids=IDS)
def test_bad_input_names_the_argument(B):
    z_mean, z_logvar, rng = _encoders(n=5, d=2)
    eps = rng.standard_normal((5, 2))
    bad_mean = z_mean.copy()
    bad_mean[0, 0] = np.nan
    cases = [
        ((bad_mean, z_logvar, eps), {}, "argument 'z_mean' contains NaN"),
        ((z_mean, np.full((5, 2), np.inf), eps), {}, "argument 'z_logvar' contains NaN or inf"),
        ((z_mean[0], z_logvar[0], eps[0]), {}, "argument 'z_mean' must have shape"),
        ((z_mean, z_logvar[:4], eps), {}, "arguments 'z_mean' and 'z_logvar'"),
        ((z_mean, z_logvar, eps[:4]), {}, "argument 'eps' must have shape"),
        ((z_mean, z_logvar, eps[None, None]), {}, "argument 'eps' must have shape"),
        ((z_mean, z_logvar, eps), {"chunk_size": 0}, "argument 'chunk_size'"),
        ((z_mean, z_logvar, eps), {"chunk_size": 2.5}, "argument 'chunk_size'"),
        ((z_mean, z_logvar, [["a"]]), {}, "argument 'eps'"),
    ]
    for args, kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            B.rate_decomposition(*args, **kwargs)


def test_rate_parts_bars_stack_the_two_parts():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vaelearn import plotting

    mi, marginal = np.array([5.2, 3.9, 2.2, 0.2]), np.array([1.6, 0.6, 0.3, -0.01])
    fig = plotting.rate_parts_bars(["a", "b", "c", "d"], mi, marginal, log_n=math.log(1437))
    ax = fig.axes[0]
    lower, upper = ax.containers[0], ax.containers[1]
    # lower bars: I_q from 0; upper bars start at I_q and end at the rate I_q + marginal KL
    assert np.allclose([r.get_height() for r in lower], mi, atol=1e-12)
    assert np.allclose([r.get_y() for r in lower], 0.0)
    assert np.allclose([r.get_y() for r in upper], mi, atol=1e-12)
    assert np.allclose([r.get_y() + r.get_height() for r in upper], mi + marginal, atol=1e-12)
    assert np.allclose(ax.lines[0].get_ydata(), math.log(1437))
    w, h = fig.get_size_inches()
    assert w <= 8 and h <= 3
    plt.close(fig)
    with pytest.raises(ValueError, match="argument 'marginal_kl'"):
        plotting.rate_parts_bars(["a", "b"], [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="argument 'mutual_information'"):
        plotting.rate_parts_bars(["a"], [np.nan], [1.0])
    with pytest.raises(ValueError, match="argument 'log_n'"):
        plotting.rate_parts_bars(["a"], [1.0], [1.0], log_n=-1.0)
    plt.close("all")
