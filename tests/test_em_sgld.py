"""EM, SGLD and the gradient estimators of lesson 04 (vaelearn.elbo), against independent oracles.

Oracles: scipy.optimize on the marginal likelihood sum_i log N(x_i; 0, a + s) (scipy.stats), the
closed-form MLE, scipy quadrature of the shared-z posterior from log p(z) + sum_i log p(x_i | z)
alone, sympy Gaussian expectations for the estimators' exact variances, a direct simulation of
the SGLD autoregression, and the derivations' own results.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from scipy import integrate, optimize, stats

from vaelearn import elbo as E
from vaelearn.derivations import elbo as D

S = 1.0  # the known noise variance


def _data(n=200, a=1.0, seed=7):
    _, x = E.LinearGaussian(a, S).sample(n, np.random.default_rng(seed))
    return x


# --- EM -------------------------------------------------------------------------------------------


def _neg_marginal(a, x):
    # the marginal likelihood from scipy's normal density, no vaelearn code
    return -float(np.sum(stats.norm.logpdf(x, 0.0, math.sqrt(a + S))))


def test_mle_matches_scipy_optimize():
    x = _data()
    res = optimize.minimize_scalar(_neg_marginal, bounds=(1e-6, 20.0), args=(x,),
                                   method="bounded", options={"xatol": 1e-10})
    # bounded Brent to xatol 1e-10; the closed form is exact
    assert abs(E.prior_var_mle(x, S) - res.x) < 1e-7


@pytest.mark.parametrize("a0", [0.05, 1.0, 10.0])
def test_em_reaches_the_exact_maximum_log_evidence(a0):
    x = _data()
    a_star = E.prior_var_mle(x, S)
    best = -_neg_marginal(a_star, x)
    h = E.em_prior_var(x, a0, S, 150)
    # rate 1 - (a*/(a*+s))^2 ~ 0.81 per iteration on a; the log-evidence error is quadratic in
    # the error of a, so 150 iterations put it far below 1e-8 (round-off ~1e-13 on ~300 nats)
    assert abs(h["log_evidence"][-1] - best) < 1e-8
    assert abs(h["prior_var"][-1] - a_star) < 1e-6
    # EM never lowers the log-evidence, and the bound after each M-step sits below it
    assert np.all(np.diff(h["log_evidence"]) >= -1e-10)
    assert np.all(h["elbo_before_e"] <= h["log_evidence"][1:] + 1e-10)
    assert np.all(h["elbo_before_e"] >= h["log_evidence"][:-1] - 1e-10)  # M-step raised it
    # the gap the next E-step closes is log p - ELBO, by quadrature for one point
    np.testing.assert_allclose(h["gap_before_e"], h["log_evidence"][1:] - h["elbo_before_e"],
                               atol=1e-9)


def test_em_rate_is_the_derived_factor():
    x = _data()
    a_star = E.prior_var_mle(x, S)
    h = E.em_prior_var(x, a_star * 1.01, S, 8)
    err = np.abs(h["prior_var"] - a_star)
    predicted = 1 - (a_star / (a_star + S)) ** 2
    # near the fixed point the ratio of successive errors tends to F'(a*); 1% start: the
    # second-order term changes it by about 1e-2 relative
    assert abs(err[-1] / err[-2] - predicted) < 5e-3
    d = D.em_fixed_point().verify()
    m2 = float(np.mean(x**2))
    val = float(d.steps[-1].value.subs({sp.Symbol("M", positive=True): m2,
                                        sp.Symbol("s", positive=True): S}))
    assert abs(val - predicted) < 1e-12


def test_em_m_step_is_the_argmax_by_scipy():
    # one M-step: maximise sum_i E_q[log N(z_i; 0, a)] numerically, q_i = exact posterior at a0
    x = _data(50)
    a0 = 0.3
    m, v = E.LinearGaussian(a0, S).posterior(x)

    def neg(a):
        return -float(np.sum(-0.5 * np.log(2 * np.pi * a) - (m**2 + v) / (2 * a)))

    res = optimize.minimize_scalar(neg, bounds=(1e-6, 20.0), method="bounded",
                                   options={"xatol": 1e-10})
    assert abs(E.em_prior_var(x, a0, S, 1)["prior_var"][1] - res.x) < 1e-7


def test_em_e_step_derivation_matches_the_evidence():
    d = D.em_e_step().verify()
    syms = {s.name: s for s in d.steps[-1].value.free_symbols}
    val = float(d.steps[-2].value.subs({syms["x"]: 1.3, syms["a"]: 2.0, syms["s"]: 0.5}))
    assert abs(val - stats.norm.logpdf(1.3, 0.0, math.sqrt(2.5))) < 1e-12


def test_mle_without_positive_maximiser_raises():
    with pytest.raises(ValueError, match="'x'"):
        E.prior_var_mle(np.array([0.1, -0.2]), S)


# --- the shared-z posterior and SGLD -------------------------------------------------------------


def _shared_data(n=100, seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal() + rng.normal(size=n)


def test_shared_posterior_by_quadrature():
    m = E.LinearGaussian(1.0, S)
    x = _shared_data(30)

    def unnorm(z):  # scipy densities only
        return math.exp(stats.norm.logpdf(z, 0, 1) + np.sum(stats.norm.logpdf(x, z, 1)) + 40.0)

    mean0 = x.mean()
    lim = (mean0 - 3, mean0 + 3)  # posterior sd ~ 0.18: +-3 is > 15 sd
    z0 = integrate.quad(unnorm, *lim, epsabs=0, epsrel=1e-12)[0]
    z1 = integrate.quad(lambda z: z * unnorm(z), *lim, epsabs=0, epsrel=1e-12)[0] / z0
    z2 = integrate.quad(lambda z: (z - z1) ** 2 * unnorm(z), *lim, epsabs=0, epsrel=1e-12)[0] / z0
    mu, var = m.posterior_shared(x)
    assert abs(mu - z1) < 1e-9 and abs(var - z2) < 1e-9


def test_shared_gradient_by_finite_differences_and_unbiased_minibatch():
    m = E.LinearGaussian(0.7, 1.3)
    x = _shared_data(12)
    z, h = 0.4, 1e-5
    f = m.log_posterior_shared_unnorm
    fd = (f(z + h, x) - f(z - h, x)) / (2 * h)
    assert abs(m.grad_log_posterior_shared(z, x)[0] - fd) < 1e-7  # central difference, O(h^2)
    # the minibatch estimate averaged over every subset of size 3 is the full gradient
    from itertools import combinations

    avg = np.mean([m.grad_log_posterior_shared(z, x, list(c))[0]
                   for c in combinations(range(12), 3)])
    assert abs(avg - m.grad_log_posterior_shared(z, x)[0]) < 1e-10


def test_sgld_stationary_formula_against_direct_simulation_and_derivation():
    m = E.LinearGaussian(1.0, S)
    x = _shared_data(20)
    eps, n = 0.02, 5
    mu, v_sgld = E.sgld_stationary(m, x, eps, n)
    # the variance of the minibatch error, by enumerating... too many subsets: by simulation of
    # the subset sum with numpy's own choice (independent of sgld's key trick)
    rng = np.random.default_rng(0)
    sums = np.array([x[rng.choice(20, n, replace=False)].sum() for _ in range(40_000)])
    tau2 = np.var(sums * 20 / n / S)
    lam = 1.0 / m.posterior_shared(x)[1]
    # the derivation's result at these numbers
    d = D.sgld_stationary_variance().verify()
    syms = {s.name: s for s in d.steps[-1].expr.rhs.free_symbols}
    v_der = float(d.steps[-1].expr.rhs.subs({syms["epsilon"]: eps, syms["lambda"]: lam,
                                             syms["tau^2"]: tau2}))
    # tau2 simulated: relative se ~ sqrt(2/40000) = 0.7%, and eps tau2 / 4 ~ 0.3 of the variance
    assert abs(v_der - v_sgld) < 0.01 * v_sgld
    # the bias is real: well above the posterior variance
    assert v_sgld > 1.2 / lam
    assert mu == m.posterior_shared(x)[0]


def test_sgld_samples_match_the_stationary_moments_and_the_posterior():
    m = E.LinearGaussian(1.0, S)
    x = _shared_data(100)
    mu, var = m.posterior_shared(x)
    lam = 1.0 / var

    def grad(z, idx=None):
        return m.grad_log_posterior_shared(z, x, idx)

    # a large full-batch step: eps lam = 0.8, variance 25% too large, exactly as predicted
    big = E.sgld(grad, mu, 20_000, 0.8 / lam, np.random.default_rng(1))
    c = big.samples[:, 0]
    ess = E.effective_sample_size(c)
    _, v_stat = E.sgld_stationary(m, x, 0.8 / lam)
    assert abs(v_stat * lam - 1.25) < 1e-12  # 1 / (1 - eps lam / 4)
    rel_se = math.sqrt(2.0 / ess)  # Gaussian chain: relative se of a variance estimate
    assert abs(c.var() / v_stat - 1) < 4 * rel_se
    assert abs(c.var() / var - 1) > 4 * rel_se  # the bias is visible at this step
    assert abs(c.mean() - mu) < 4 * math.sqrt(v_stat / ess)
    # minibatches of 50 at a small step: bias < 1%, far below the Monte Carlo error
    small = E.sgld(grad, mu, 40_000, 2e-4, np.random.default_rng(2), n_data=100, batch_size=50)
    c = small.samples[:, 0]
    ess = E.effective_sample_size(c)
    _, v_stat = E.sgld_stationary(m, x, 2e-4, 50)
    assert v_stat / var - 1 < 0.2 * math.sqrt(2.0 / ess)
    assert abs(c.mean() - mu) < 4 * math.sqrt(var / ess)
    assert abs(c.var() / var - 1) < 4 * math.sqrt(2.0 / ess)
    assert small.n_data_grads == 40_000 * 50 and small.n_grad_evals == 40_000


def test_sgld_minibatches_are_uniform_subsets():
    seen = []

    def grad(z, idx):
        assert len(set(idx.tolist())) == 3
        seen.extend(idx.tolist())
        return np.zeros(1)

    E.sgld(grad, 0.0, 3000, 0.1, np.random.default_rng(0), n_data=6, batch_size=3)
    counts = np.bincount(seen, minlength=6)
    # each index is in a subset with probability 1/2: 1500 +- 27 (binomial sd)
    assert np.all(np.abs(counts - 1500) < 5 * 27.4)


def test_sgld_reproducible_and_bad_input():
    g = lambda z: -z  # noqa: E731
    a = E.sgld(g, [0.0, 1.0], 50, 0.1, np.random.default_rng(5))
    b = E.sgld(g, [0.0, 1.0], 50, 0.1, np.random.default_rng(5))
    np.testing.assert_array_equal(a.samples, b.samples)
    for call, word in [
        (lambda: E.sgld(g, 0.0, 10, 0.0, np.random.default_rng()), "step_size"),
        (lambda: E.sgld(g, 0.0, 0, 0.1, np.random.default_rng()), "n_steps"),
        (lambda: E.sgld(g, 0.0, 10, 0.1, np.random.default_rng(), batch_size=2), "n_data"),
        (lambda: E.sgld(g, 0.0, 10, 0.1, np.random.default_rng(), n_data=3, batch_size=4),
         "batch_size"),
        (lambda: E.sgld(lambda z: np.array([np.nan]), 0.0, 3, 0.1, np.random.default_rng()),
         "grad_log_density"),
        (lambda: E.sgld_stationary(E.LinearGaussian(), np.ones(10), 1.0), "step_size"),
        (lambda: E.em_prior_var(np.ones(3), -1.0, 1.0, 3), "prior_var0"),
        (lambda: E.em_prior_var(np.ones(3), 1.0, 1.0, -1), "n_iter"),
    ]:
        with pytest.raises(ValueError, match=word):
            call()


# --- the gradient estimators ---------------------------------------------------------------------


def _exact_estimator_moments(x, m, v, a=1.0, s=1.0):
    """Mean and variance of the score and pathwise estimates of dELBO/dm, by sympy."""
    e = sp.Symbol("e", real=True)
    z = m + sp.sqrt(v) * e
    log_joint = (-sp.log(2 * sp.pi * a) / 2 - z**2 / (2 * a)
                 - sp.log(2 * sp.pi * s) / 2 - (x - z) ** 2 / (2 * s))
    log_q = -sp.log(2 * sp.pi * v) / 2 - e**2 / 2
    score = (log_joint - log_q) * (z - m) / v
    path = (x - z) / s - z / a

    def gauss_mean(poly):
        # E[e^k] = (k - 1)!! for even k, 0 for odd k: both estimates are polynomials in e
        p = sp.Poly(sp.expand(poly), e)
        return sum(c * (sp.factorial2(k - 1) if k % 2 == 0 else 0)
                   for (k,), c in p.terms())

    def moments(g):
        mean = gauss_mean(g)
        return float(mean), float(gauss_mean(g**2) - mean**2)

    return moments(score), moments(path)


def test_score_and_pathwise_estimates_exact_moments():
    m = E.LinearGaussian()
    x, qm, qv = 1.0, 0.0, 1.0
    (sm, sv), (pm, pv) = _exact_estimator_moments(sp.Integer(1), sp.Integer(0), sp.Integer(1))
    exact_grad = m.elbo_grad(x, qm, 0.0)[0]
    assert abs(sm - exact_grad) < 1e-12 and abs(pm - exact_grad) < 1e-12
    eps = np.random.default_rng(0).standard_normal(200_000)
    score, path = m.elbo_grad_mean_estimates(x, qm, qv, eps)
    # 200k draws: the sample variance's relative se is sqrt((kurtosis - 1)/n) < 2% for these
    assert abs(score.var() / sv - 1) < 0.05 and abs(path.var() / pv - 1) < 0.02
    assert abs(score.mean() - exact_grad) < 4 * math.sqrt(sv / eps.size)
    assert sv > 2 * pv


def test_fisher_identity_terms():
    # E_{p(z|x)}[d/da log p(z; a)] = d/da log p(x; a), checked by quadrature and finite differences
    m = E.LinearGaussian(1.7, 0.6)
    x = -0.9
    mean, var = m.posterior(x)
    val = integrate.quad(lambda z: m.dlog_prior_dprior_var(z)
                         * stats.norm.pdf(z, mean, math.sqrt(var)), -np.inf, np.inf,
                         epsabs=1e-13)[0]
    h = 1e-6
    fd = (stats.norm.logpdf(x, 0, math.sqrt(1.7 + h + 0.6))
          - stats.norm.logpdf(x, 0, math.sqrt(1.7 - h + 0.6))) / (2 * h)
    assert abs(m.dlog_evidence_dprior_var(x) - fd) < 1e-8
    assert abs(val - fd) < 1e-8


def test_new_figures_draw():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vaelearn.plotting import elbo as P

    x = _data(50)
    h = E.em_prior_var(x, 0.2, S, 10)
    best = -_neg_marginal(E.prior_var_mle(x, S), x)
    fig = P.em_bound_climb(h, best, rate=0.8)
    fig2 = P.sgld_histograms([np.random.default_rng(0).normal(size=500)], ["a"], 0.0, 1.0)
    for f in (fig, fig2):
        w, hgt = f.get_size_inches()
        assert w <= 8 and hgt <= 4
        plt.close(f)
    with pytest.raises(ValueError, match="chains"):
        P.sgld_histograms([], [], 0.0, 1.0)


def test_sgld_update_is_welling_teh_eq_4():
    # z_{t+1} = z_t + eps/2 grad + N(0, eps), written out by hand with the same normal draws
    mu, lam, eps, n = 0.3, 5.0, 0.05, 50
    got = E.sgld(lambda z: -lam * (z - mu), 1.0, n, eps, np.random.default_rng(9)).samples[:, 0]
    xi = np.random.default_rng(9).standard_normal((n, 1))[:, 0]
    z, want = 1.0, []
    for t in range(n):
        z = z - 0.5 * eps * lam * (z - mu) + math.sqrt(eps) * xi[t]
        want.append(z)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
