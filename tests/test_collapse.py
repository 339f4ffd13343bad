"""Probabilistic PCA and the linear VAE (vaelearn.collapse), against independent oracles (L07)."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

from vaelearn import collapse as P


def _data(n=400, d=5, seed=0):
    """Anisotropic Gaussian data with well-separated covariance eigenvalues."""
    rng = np.random.default_rng(seed)
    scales = np.array([3.0, 2.0, 1.4, 0.6, 0.4, 0.3, 0.2])[:d]
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return rng.standard_normal((n, d)) * scales @ basis.T + 0.5


def test_log_likelihood_matches_scipy_density():
    # Oracle: scipy's multivariate normal with covariance W W^T + sigma2 I, for an arbitrary W.
    x = _data()
    rng = np.random.default_rng(1)
    W, mu, s2 = rng.standard_normal((5, 2)), rng.standard_normal(5), 0.7
    ref = multivariate_normal(mu, W @ W.T + s2 * np.eye(5)).logpdf(x)
    np.testing.assert_allclose(P.ppca_log_likelihood(x, W, mu, s2), ref, rtol=1e-12)


def test_closed_form_is_the_numerical_maximum_likelihood():
    # Oracle: maximise the exact log-likelihood over (W, log sigma2) with scipy's BFGS from a
    # random start (numerical gradients). The closed form must be at least as high, and the two
    # optima must agree to the optimiser's tolerance (1e-6 relative on the log-likelihood).
    x = _data(n=300, d=4)
    n, d, q = x.shape[0], 4, 2
    fit = P.ppca_fit(x, q)
    closed = P.ppca_log_likelihood(x, fit.W, fit.mu, fit.sigma2).sum()
    # The eigenvalue formula agrees with the density evaluated at the fitted parameters.
    assert closed == pytest.approx(P.ppca_max_log_likelihood(fit.eigenvalues, q, n), rel=1e-12)

    def neg_ll(theta):
        W = theta[: d * q].reshape(d, q)
        return -P.ppca_log_likelihood(x, W, fit.mu, np.exp(theta[-1])).sum()

    theta0 = np.concatenate([np.random.default_rng(3).standard_normal(d * q), [0.0]])
    res = minimize(neg_ll, theta0, method="BFGS", options={"gtol": 1e-8})
    assert -res.fun <= closed + 1e-6 * abs(closed)
    assert -res.fun == pytest.approx(closed, rel=1e-6)
    assert np.exp(res.x[-1]) == pytest.approx(fit.sigma2, rel=1e-4)
    # W is identified only up to a rotation: compare W W^T.
    Wn = res.x[: d * q].reshape(d, q)
    np.testing.assert_allclose(Wn @ Wn.T, fit.W @ fit.W.T, atol=1e-4)


def test_elbo_at_exact_posterior_is_the_log_likelihood():
    # The ELBO gap is KL(q || p(z|x)) = 0 at the exact posterior (any W, here the ML one and a
    # rotated one whose posterior covariance is not diagonal). Float64 round-off: 1e-10.
    x = _data()
    R, _ = np.linalg.qr(np.random.default_rng(4).standard_normal((3, 3)))
    for rot in (None, R):
        fit = P.ppca_fit(x, 3, rotation=rot)
        lv = P.linear_vae_at_posterior(fit)
        ll = P.ppca_log_likelihood(x, fit.W, fit.mu, fit.sigma2)
        np.testing.assert_allclose(P.linear_vae_elbo(x, *lv), ll, rtol=1e-10)


def test_exact_elbo_equals_monte_carlo_within_standard_error():
    # 20,000 reparameterised samples per example; the exact value must lie within 4 standard
    # errors of the Monte Carlo mean (fails by chance with probability ~6e-5 per example).
    x = _data()[:4]
    rng = np.random.default_rng(5)
    W, V = rng.standard_normal((5, 2)), 0.3 * rng.standard_normal((2, 5))
    mu, s2 = x.mean(axis=0), 0.8
    for D in (np.array([0.5, 1.5]), np.array([[0.8, 0.3], [0.3, 0.6]])):
        eps = rng.standard_normal((20000, 4, 2))
        mc = P.linear_vae_elbo_mc(x, W, V, D, mu, s2, eps)
        se = mc.std(axis=0, ddof=1) / np.sqrt(mc.shape[0])
        exact = P.linear_vae_elbo(x, W, V, D, mu, s2)
        assert np.all(np.abs(mc.mean(axis=0) - exact) < 4 * se)


def test_hand_written_gradients_match_finite_differences():
    # Central differences with h = 1e-6: truncation O(h^2 * f''') and round-off O(eps/h) ~ 1e-9.
    x = _data(n=50)
    rng = np.random.default_rng(6)
    args = [rng.standard_normal((5, 2)), rng.standard_normal((2, 5)), rng.standard_normal(2)]
    mu, ls2 = x.mean(axis=0) + 0.1, 0.2
    elbo, g = P.linear_vae_grads(x, *args, mu, ls2)
    assert elbo == pytest.approx(
        P.linear_vae_elbo(x, args[0], args[1], np.exp(args[2]), mu, np.exp(ls2)).mean(), rel=1e-12
    )
    h = 1e-6
    for name, a in zip(("W", "V", "log_D"), args, strict=True):
        num = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            a[i] += h
            up = P.linear_vae_grads(x, *args, mu, ls2)[0]
            a[i] -= 2 * h
            down = P.linear_vae_grads(x, *args, mu, ls2)[0]
            a[i] += h
            num[i] = (up - down) / (2 * h)
        np.testing.assert_allclose(g[name], num, atol=1e-6)
    num = (
        P.linear_vae_grads(x, *args, mu, ls2 + h)[0] - P.linear_vae_grads(x, *args, mu, ls2 - h)[0]
    ) / (2 * h)
    assert g["log_sigma2"] == pytest.approx(num, abs=1e-6)


@pytest.mark.parametrize("method", ["coordinate", "lbfgs"])
def test_trained_linear_vae_reaches_ppca_likelihood(method):
    # Lucas et al. 2019: the global optimum of the linear VAE's ELBO is the pPCA maximum
    # likelihood. Both optimisers converge to 1e-7 nats per example here (tolerance 1e-6).
    x = _data(n=300, d=5)
    fit = P.ppca_fit(x, 2)
    target = P.ppca_max_log_likelihood(fit.eigenvalues, 2, x.shape[0]) / x.shape[0]
    model, elbo = P.fit_linear_vae(x, 2, seed=0, method=method)
    assert P.linear_vae_elbo(x, *model).mean() == pytest.approx(elbo, abs=1e-12)
    assert elbo == pytest.approx(target, abs=1e-6)
    assert model.sigma2 == pytest.approx(fit.sigma2, rel=1e-5)


@pytest.mark.parametrize("sigma2", [0.05, 0.8, 1.5, 3.0, 6.0, 20.0])
def test_collapse_count_matches_eigenvalue_prediction(sigma2):
    # Eigenvalues of _data(d=5): about 9, 4, 2, 0.36, 0.16; the sweep avoids sigma2 close to
    # one (near the threshold the collapsing KL vanishes slowly). KL < 1e-3 nats = collapsed.
    x = _data(n=400, d=5)
    lam = P.ppca_fit(x, 3).eigenvalues
    model, _ = P.fit_linear_vae(x, 3, sigma2=sigma2, seed=1)
    kl = P.kl_per_dimension(x, model.V, model.D, model.mu)
    assert P.count_collapsed(kl, threshold=1e-3) == P.predicted_collapsed(lam, 3, sigma2)
    # Active dimensions are clearly active (KL well above the threshold).
    active = np.sort(kl)[::-1][: 3 - P.predicted_collapsed(lam, 3, sigma2)]
    assert np.all(active > 0.05)


def test_diagonal_gap_is_the_elbo_difference():
    # Oracle: maximise the diagonal-covariance ELBO numerically over D (V at the exact posterior
    # mean map) and compare the loss to log p(x) with the closed-form gap.
    x = _data()
    R, _ = np.linalg.qr(np.random.default_rng(7).standard_normal((3, 3)))
    fit = P.ppca_fit(x, 3, rotation=R)
    exact = P.linear_vae_at_posterior(fit)
    gap, D_best = P.diagonal_posterior_gap(fit.W, fit.sigma2)
    assert gap > 1e-3  # a rotated W gives a non-diagonal posterior covariance

    def neg(log_D):
        return -P.linear_vae_elbo(x, fit.W, exact.V, np.exp(log_D), fit.mu, fit.sigma2).mean()

    res = minimize(neg, np.zeros(3), method="BFGS", options={"gtol": 1e-10})
    ll = P.ppca_log_likelihood(x, fit.W, fit.mu, fit.sigma2).mean()
    assert ll - (-res.fun) == pytest.approx(gap, abs=1e-7)
    np.testing.assert_allclose(np.exp(res.x), D_best, rtol=1e-4)
    # Unrotated ML solution: W^T W diagonal, so the diagonal posterior is exact.
    gap0, _ = P.diagonal_posterior_gap(P.ppca_fit(x, 3).W, fit.sigma2)
    assert gap0 == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: P.ppca_fit(np.ones((3, 2)) * np.nan, 1), "'x'"),
        (lambda: P.ppca_fit(np.random.default_rng(0).random((10, 3)), 4), "'q'"),
        (lambda: P.ppca_fit(np.random.default_rng(0).random((10, 3)), 1, sigma2=-1), "'sigma2'"),
        (lambda: P.ppca_log_likelihood(np.zeros((2, 3)), np.zeros((2, 1)), np.zeros(3), 1), "'W'"),
        (
            lambda: P.linear_vae_elbo(
                np.zeros((2, 3)), np.zeros((3, 1)), np.zeros((1, 3)), [-1.0], np.zeros(3), 1
            ),
            "'D'",
        ),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_average_pool_matches_block_means():
    x = np.arange(64.0)[None] / 64
    pooled = P.average_pool(x)
    assert pooled.shape == (1, 16)
    assert pooled[0, 0] == pytest.approx((0 + 1 + 8 + 9) / 4 / 64)


def test_collapse_plots_draw_and_reject_bad_input():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vaelearn import plotting

    figs = [
        plotting.collapse_sweep([0.1, 1.0], [0, 1], [0, 1], eigenvalues=[0.5]),
        plotting.kl_per_dimension_bars({"a": [0.1, 0.0], "b": [0.2, 0.3]}),
        plotting.rate_distortion([3.0, 2.0], [20.0, 21.0], [0.5, 1.0]),
        plotting.codebook_usage({"test": [3, 0, 1]}),
    ]
    for fig in figs:
        w, h = fig.get_size_inches()
        assert w <= 8 and h <= 3
        plt.close(fig)
    with pytest.raises(ValueError, match="'observed'"):
        plotting.collapse_sweep([0.1, 1.0], [0], [0, 1])
    with pytest.raises(ValueError, match="'counts'"):
        plotting.codebook_usage({"x": [0, 0]})


def test_collapse_condition_includes_an_eigenvalue_equal_to_sigma2():
    # the title says "at most sigma^2": the derivation must not assume lambda < sigma^2
    from vaelearn.derivations.collapse import collapse_condition

    d = collapse_condition().verify()
    (delta,) = [s for s in d.steps[3].value.free_symbols if s.name == "delta"]
    assert delta.is_nonnegative and delta.is_positive is None
