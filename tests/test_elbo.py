"""Tests for vaelearn.elbo: the linear-Gaussian model (lesson 04) and the loss helpers (lesson 05).

Oracles: exact values typed in by hand in tests/oracles.py (each checked there against its closed
form), scipy.stats densities,
scipy quadrature that uses only log p(x, z), finite differences, and direct sums.
"""

from __future__ import annotations

import math

import numpy as np
import oracles as O
import pytest
from scipy import optimize, stats

from vaelearn import elbo as E
from vaelearn import likelihoods as L

M = E.LinearGaussian()

# The typed values of tests/oracles.py are given to 7 decimals: half a unit of the last one is
# 5e-8; 1e-7 (a full unit) is the tolerance these tests were written with.
FACT_TOL = 1e-7


# --- the numbers of lesson 04 ---------------------------------------------------------------------


def test_facts_for_x_equal_one():
    assert abs(M.log_evidence(1.0) - (-1.5155121)) < FACT_TOL
    assert abs(M.elbo(1.0, 0.0, 1.0) - (-1.9189385)) < FACT_TOL
    assert abs(M.kl_to_posterior(1.0, 0.0, 1.0) - 0.4034264) < FACT_TOL
    mean, var = M.posterior(1.0)
    assert (mean, var) == (0.5, 0.5)  # a x/(a+s) and a s/(a+s) are exact in binary


def test_facts_by_quadrature():
    # The quadrature versions use only log p(x, z): no closed form enters.
    assert abs(M.log_evidence_quad(1.0) - (-1.5155121)) < FACT_TOL
    assert abs(M.elbo_quad(1.0, 0.0, 1.0) - (-1.9189385)) < FACT_TOL
    assert abs(M.kl_to_posterior_quad(1.0, 0.0, 1.0) - 0.4034264) < FACT_TOL
    mean, var = M.posterior_moments_quad(1.0)
    # quad's requested relative tolerance is 1e-12; allow 1e-9 for the nested integrals
    assert abs(mean - 0.5) < 1e-9 and abs(var - 0.5) < 1e-9


def test_gap_is_kl_between_gaussians_by_scipy():
    # KL(N(0,1) || N(0.5, 0.5)) as E_q[log q - log p] integrated with scipy.stats densities.
    q, p = stats.norm(0, 1), stats.norm(0.5, math.sqrt(0.5))
    kl = q.expect(lambda z: q.logpdf(z) - p.logpdf(z))
    assert abs(kl - 0.4034264) < FACT_TOL
    assert abs(M.kl_to_posterior(1.0, 0.0, 1.0) - kl) < 1e-10


@pytest.mark.parametrize("prior_var,noise_var", [(1.0, 1.0), (2.0, 0.25), (0.3, 5.0)])
@pytest.mark.parametrize("x", [-2.0, 0.0, 1.0, 3.5])
def test_closed_forms_match_scipy_and_quadrature(prior_var, noise_var, x):
    m = E.LinearGaussian(prior_var, noise_var)
    # evidence: x ~ N(0, a + s) (scipy.stats) and by quadrature of p(x|z) p(z)
    ref = stats.norm(0, math.sqrt(prior_var + noise_var)).logpdf(x)
    assert abs(m.log_evidence(x) - ref) < 1e-12  # same formula, different code: float64 rounding
    assert abs(m.log_evidence_quad(x) - ref) < 1e-9  # quad at epsrel 1e-12, then a log
    mean, var = m.posterior(x)
    qmean, qvar = m.posterior_moments_quad(x)
    assert abs(mean - qmean) < 1e-8 and abs(var - qvar) < 1e-8
    # log p(z|x) = log p(x,z) - log p(x) (Bayes) at a few z
    for z in (-1.0, 0.3, 2.0):
        assert abs(m.log_posterior(z, x) - (m.log_joint(x, z) - ref)) < 1e-10
    for q_mean, q_var in [(0.0, 1.0), (mean, var), (-1.0, 0.1), (2.0, 3.0)]:
        assert abs(m.elbo(x, q_mean, q_var) - m.elbo_quad(x, q_mean, q_var)) < 1e-8
        assert abs(
            m.kl_to_posterior(x, q_mean, q_var) - m.kl_to_posterior_quad(x, q_mean, q_var)
        ) < 1e-8


def test_elbo_identity_and_bound_for_many_guides():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50) * 2
    q_mean = rng.normal(size=50) * 2
    q_var = np.exp(rng.normal(size=50))
    log_px = M.log_evidence(x)
    elbo = M.elbo(x, q_mean, q_var)
    gap = M.kl_to_posterior(x, q_mean, q_var)
    # ELBO and KL come from two separately derived formulas; their sum must be log p(x)
    np.testing.assert_allclose(elbo + gap, log_px, rtol=0, atol=1e-12)
    assert np.all(gap > 0) and np.all(elbo < log_px)
    # the bound is tight at the posterior
    mean, var = M.posterior(x)
    np.testing.assert_allclose(M.elbo(x, mean, var), log_px, rtol=0, atol=1e-12)
    np.testing.assert_allclose(M.kl_to_posterior(x, mean, var), 0.0, atol=1e-12)


def test_elbo_two_forms_agree():
    # E_q[log p(x|z)] - KL(q||p(z)) equals E_q[log p(x,z)] + H(q) (entropy from scipy)
    x, m, v = 0.7, -0.2, 0.6
    h = stats.norm(m, math.sqrt(v)).entropy()
    q = stats.norm(m, math.sqrt(v))
    e_log_joint = q.expect(lambda z: M.log_joint(x, z))
    assert abs(M.elbo(x, m, v) - (e_log_joint + h)) < 1e-9  # scipy expect tolerance


def test_elbo_gradient_matches_finite_differences():
    m2 = E.LinearGaussian(1.7, 0.4)
    x, m, lv = 0.9, -0.3, 0.2
    dm, dlv = m2.elbo_grad(x, m, lv)
    h = 1e-6
    fd_m = (m2.elbo(x, m + h, math.exp(lv)) - m2.elbo(x, m - h, math.exp(lv))) / (2 * h)
    fd_lv = (m2.elbo(x, m, math.exp(lv + h)) - m2.elbo(x, m, math.exp(lv - h))) / (2 * h)
    # central differences: truncation O(h^2) ~ 1e-12, rounding ~ 1e-16/h = 1e-10
    assert abs(dm - fd_m) < 1e-8 and abs(dlv - fd_lv) < 1e-8


def test_gradient_ascent_lands_on_posterior():
    hist = E.fit_gaussian_q(M, 1.0, q_mean=-2.0, q_logvar=1.5, lr=0.3, steps=200)
    assert hist["elbo"].shape == (201,)
    assert abs(hist["q_mean"][-1] - 0.5) < 1e-8
    assert abs(hist["q_logvar"][-1] - math.log(0.5)) < 1e-6
    assert abs(hist["elbo"][-1] - (-1.5155121)) < FACT_TOL
    # small steps on a concave objective: the ELBO never decreases
    assert np.all(np.diff(hist["elbo"]) >= -1e-12)


# --- quadrature cost ------------------------------------------------------------------------------


def test_grid_quadrature_counts_and_converges():
    x = np.array([1.0, -0.5])
    est, n_evals = E.grid_log_evidence(M, x, points_per_dim=5)
    assert n_evals == 25
    exact = float(np.sum(stats.norm(0, math.sqrt(2)).logpdf(x)))
    errors = [abs(E.grid_log_evidence(M, x, n)[0] - exact) for n in (2, 4, 8, 16, 32)]
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False))
    assert errors[-1] < 1e-10  # Gauss-Hermite converges geometrically for this smooth integrand
    # chunking does not change the sum
    a = E.grid_log_evidence(M, np.ones(3), 6, chunk_size=7)[0]
    b = E.grid_log_evidence(M, np.ones(3), 6)[0]
    assert abs(a - b) < 1e-12


def test_quadrature_cost_records():
    rows = E.quadrature_cost(M, [1, 2, 3], points_per_dim=4)
    assert [r["n_evals"] for r in rows] == [4, 16, 64]
    for r in rows:
        assert set(r) == {"d", "n_evals", "seconds", "log_evidence", "exact", "abs_error"}
        assert abs(r["exact"] - r["d"] * (-1.5155121)) < r["d"] * FACT_TOL
        assert r["abs_error"] == abs(r["log_evidence"] - r["exact"])


# --- MCMC -----------------------------------------------------------------------------------------


def test_metropolis_samples_the_posterior():
    rng = np.random.default_rng(1)
    res = E.metropolis(lambda z: M.log_joint(1.0, z[0]), 0.0, 20_000, 1.0, rng)
    chain = res.samples[:, 0]
    assert res.samples.shape == (20_000, 1) and res.n_evals == 20_001
    assert 0.3 < res.accept_rate < 0.9
    ess = E.effective_sample_size(chain)
    se = math.sqrt(0.5 / ess)
    assert abs(chain.mean() - 0.5) < 4 * se  # 4 Monte Carlo standard errors (fixed seed)
    assert abs(chain.var() - 0.5) < 0.05  # var estimate's relative se ~ sqrt(2/ess) ~ 5%


def test_metropolis_is_reproducible_and_2d():
    def logp(z):
        return -0.5 * float(z @ z)

    a = E.metropolis(logp, [0.0, 0.0], 300, 0.8, np.random.default_rng(3))
    b = E.metropolis(logp, [0.0, 0.0], 300, 0.8, np.random.default_rng(3))
    assert a.samples.shape == (300, 2)
    np.testing.assert_array_equal(a.samples, b.samples)


def test_autocorrelation_against_direct_sum():
    rng = np.random.default_rng(2)
    x = rng.normal(size=200).cumsum()
    rho = E.autocorrelation(x, max_lag=10)
    xc = x - x.mean()
    direct = np.array([np.dot(xc[: len(x) - k], xc[k:]) for k in range(11)]) / np.dot(xc, xc)
    np.testing.assert_allclose(rho, direct, atol=1e-12)
    assert rho[0] == pytest.approx(1.0, abs=1e-14)


def test_effective_sample_size_iid_and_ar1():
    rng = np.random.default_rng(4)
    n = 40_000
    iid = rng.normal(size=n)
    assert 0.9 * n < E.effective_sample_size(iid) < 1.1 * n
    phi = 0.8
    ar = np.empty(n)
    ar[0] = rng.normal()
    noise = rng.normal(size=n)
    for t in range(1, n):
        ar[t] = phi * ar[t - 1] + noise[t]
    expected = n * (1 - phi) / (1 + phi)  # the AR(1) integrated autocorrelation time
    assert 0.85 * expected < E.effective_sample_size(ar) < 1.15 * expected


# --- lesson 05 helpers ----------------------------------------------------------------------------


def test_kl_std_normal_fact_and_general_formula():
    # KL(N(0, 1/4) || N(0, 1)) = (1/4 - 1 + ln 4) / 2 (tests/oracles.py)
    assert abs(L.kl_std_normal([[0.0]], [[math.log(0.25)]])[0] - O.KL_QUARTER_NATS) < FACT_TOL
    rng = np.random.default_rng(5)
    mu, lv = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    # general KL(N(m1,S1)||N(m0,S0)) with S0 = I, m0 = 0 (Kingma & Welling 2014, App. B;
    # the KL of two Gaussians in matrix form), row by row
    for i in range(4):
        s1 = np.diag(np.exp(lv[i]))
        ref = 0.5 * (np.trace(s1) + mu[i] @ mu[i] - 3 - np.log(np.linalg.det(s1)))
        assert abs(L.kl_std_normal(mu, lv)[i] - ref) < 1e-12


def test_gaussian_nll_matches_scipy_and_sigma_role():
    rng = np.random.default_rng(7)
    x, mean = rng.uniform(size=(3, 64)), rng.uniform(size=(3, 64))
    for s2 in (0.01, 0.5, 2.0):
        ref = -stats.norm(mean, math.sqrt(s2)).logpdf(x).sum(axis=1)
        np.testing.assert_allclose(L.gaussian_nll(x, mean, s2), ref, rtol=1e-12)
        sq = ((x - mean) ** 2).sum(axis=1)
        const = 64 / 2 * math.log(2 * math.pi * s2)
        np.testing.assert_allclose(L.gaussian_nll(x, mean, s2), sq / (2 * s2) + const, rtol=1e-12)


def test_optimal_sigma2_is_mse_per_dimension():
    rng = np.random.default_rng(8)
    x, mean = rng.uniform(size=(20, 16)), rng.uniform(size=(20, 16))
    res = optimize.minimize_scalar(
        lambda log_s2: L.gaussian_nll(x, mean, math.exp(log_s2)).sum(), bounds=(-10, 3),
        method="bounded", options={"xatol": 1e-10},
    )
    mse = float(np.mean((x - mean) ** 2))
    assert abs(L.optimal_sigma2(x, mean) - mse) < 1e-15
    assert abs(math.exp(res.x) - mse) < 1e-7  # numerical optimum, xatol 1e-10 on log sigma^2


def test_bernoulli_nll_with_logits():
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(4, 10)) * 3
    xb = (rng.uniform(size=(4, 10)) < 0.5).astype(float)
    p = 1 / (1 + np.exp(-logits))
    ref = -stats.bernoulli(p).logpmf(xb).sum(axis=1)
    np.testing.assert_allclose(L.bernoulli_nll_with_logits(xb, logits), ref, rtol=1e-12)
    xg = rng.uniform(size=(4, 10))  # grey levels: the cross-entropy formula
    ref_g = -(xg * np.log(p) + (1 - xg) * np.log1p(-p)).sum(axis=1)
    np.testing.assert_allclose(L.bernoulli_nll_with_logits(xg, logits), ref_g, rtol=1e-12)
    # stable for huge logits (probabilities would round to 0 or 1)
    big = L.bernoulli_nll_with_logits([[1.0, 0.0]], [[-800.0, 800.0]])
    assert abs(big[0] - 1600.0) < 1e-9


def test_baseline_and_bits_per_dim():
    # 64 ln 2 and 784 ln 2, typed to 2 decimals (tests/oracles.py): half a unit is 0.005
    assert abs(L.bernoulli_baseline_nats(64) - O.BERNOULLI_BASELINE_64) < 0.005
    assert abs(L.bernoulli_baseline_nats(784) - O.BERNOULLI_BASELINE_784) < 0.005
    # the baseline is what Bernoulli(1/2) costs for ANY image in [0, 1]^D
    x = np.random.default_rng(10).uniform(size=(3, 64))
    np.testing.assert_allclose(
        L.bernoulli_nll_with_logits(x, np.zeros_like(x)), 64 * math.log(2), rtol=1e-14
    )
    one_bit = L.nats_to_bits_per_dim(L.bernoulli_baseline_nats(64), 64)
    assert one_bit == pytest.approx(1.0, abs=1e-15)
    v = np.array([10.0, 25.5])
    np.testing.assert_allclose(L.nats_to_bits_per_dim(v, 64), v / (64 * math.log(2)), rtol=1e-15)
    assert L.nats_to_bits_per_dim(math.log(2) * 784, 784) == pytest.approx(1.0, abs=1e-15)


def test_reduce_loss_conventions():
    per_dim = np.arange(12, dtype=float).reshape(3, 4)  # row sums 6, 22, 38
    assert L.reduce_loss(per_dim) == 22.0  # sum over dims, mean over batch
    assert L.reduce_loss(per_dim, dims="mean") == 5.5
    assert L.reduce_loss(per_dim, batch="sum") == 66.0
    assert L.reduce_loss(per_dim, dims="mean", batch="sum") == 16.5


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,word",
    [
        (lambda: E.LinearGaussian(prior_var=-1.0), "prior_var"),
        (lambda: E.LinearGaussian(noise_var=0.0), "noise_var"),
        (lambda: M.elbo(1.0, 0.0, -1.0), "q_var"),
        (lambda: M.elbo(float("nan"), 0.0, 1.0), "'x'"),
        (lambda: M.log_evidence([1.0, np.inf]), "'x'"),
        (lambda: E.grid_log_evidence(M, np.ones((2, 2))), "'x'"),
        (lambda: E.grid_log_evidence(M, np.ones(2), 0), "points_per_dim"),
        (lambda: E.metropolis(lambda z: 0.0, 0.0, 10, -1.0, np.random.default_rng()), "step_size"),
        (lambda: E.metropolis(lambda z: 0.0, 0.0, 10, 1.0, 3), "rng"),
        (lambda: E.metropolis(lambda z: -np.inf, 0.0, 10, 1.0, np.random.default_rng()), "z0"),
        (lambda: E.autocorrelation(np.ones(10)), "constant"),
        (lambda: E.fit_gaussian_q(M, 1.0, lr=0.0), "lr"),
        (lambda: L.kl_std_normal(np.zeros((2, 3)), np.zeros((2, 2))), "differ"),
        (lambda: L.gaussian_nll(np.zeros((2, 3)), np.zeros((2, 3)), 0.0), "sigma2"),
        (lambda: L.bernoulli_nll_with_logits(np.full((1, 2), 1.5), np.zeros((1, 2))), "[0, 1]"),
        (lambda: L.optimal_sigma2(np.zeros((2, 2)), np.zeros((2, 2))), "equal"),
        (lambda: L.bernoulli_baseline_nats(0), "x_dim"),
        (lambda: L.reduce_loss(np.zeros((2, 2)), dims="max"), "dims"),
        (lambda: L.reduce_loss(np.zeros(4)), "per_dim_loss"),
    ],
)
def test_bad_input_raises_value_error(call, word):
    with pytest.raises(ValueError) as info:
        call()
    assert word in str(info.value)


# --- the lesson figures (vaelearn.plotting.elbo) ---------------------------------------------


def test_inference_figures_draw_within_size_limit():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vaelearn.plotting import elbo as P
    from vaelearn.plotting import likelihoods as PL

    hist = E.fit_gaussian_q(M, 1.0, steps=5)
    rng = np.random.default_rng(0)
    chain = E.metropolis(lambda z: M.log_joint(1.0, z[0]), 0.0, 200, 1.0, rng).samples[:, 0]
    figs = [
        P.posterior_and_guide(M, 1.0, guides=[(0.0, 1.0)]),
        P.elbo_gap_bars(["a", "b"], [M.elbo(1, 0, 1), M.elbo(1, 0.5, 0.5)], M.log_evidence(1.0)),
        P.quadrature_cost_plot(E.quadrature_cost(M, [1, 2], 4)),
        P.mcmc_trace(chain, E.autocorrelation(chain, 10), target_mean=0.5),
        P.elbo_ascent(hist, M.log_evidence(1.0), posterior=(0.5, 0.5)),
        PL.sigma_nll_curve([0.1, 1.0], [2.0, 1.0], 0.5),
        PL.elbo_curves({"m": {"train_loss": [3.0, 2.0], "test_loss": [3.1, 2.2]}}, baseline=4.0),
    ]
    for fig in figs:
        w, h = fig.get_size_inches()
        assert w <= 8 and h <= 3
        plt.close(fig)
    with pytest.raises(ValueError, match="labels"):
        P.elbo_gap_bars(["a"], [1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match="histories"):
        PL.elbo_curves({})
