"""Gradient estimators of lesson 06 against exact oracles.

Oracles (tests/oracles.py, where each is checked against its formula): the single-sample
variances of Mohamed et al. (2020, Fig. 2); the exact gradient 5.7281641 of E[x^2 + sin x] for
x ~ N(phi^3, e^(2 phi)) at phi = 1/2 (a closed form); the baseline results of a hand calculation.

Monte Carlo tolerance: a sample variance s^2 over n draws has standard error
sqrt((m4 - s^4) / n) (m4 the fourth central moment); a sample mean has s / sqrt(n). We accept
within 5 standard errors (a false alarm has probability ~6e-7 per check). Draws are seeded, so the
tests are deterministic; the tolerance is what makes them meaningful.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import oracles as O
import pytest
import sympy as sp

import vaelearn
from vaelearn.derivations import reparam

matplotlib.use("Agg")

NP = vaelearn.get_backend("numpy")
torch = pytest.importorskip("torch")
TH = vaelearn.get_backend("torch")

N_DRAWS = 200_000
Z = 5.0  # standard errors


exact_variances = O.mohamed_variances  # Mohamed et al. 2020, Fig. 2: f = (x - k)^2


def quad(k):
    return (lambda x: ((x - k) ** 2).sum(-1)), (lambda x: 2 * (x - k))


def var_and_se(s):
    s = np.asarray(s, dtype=np.float64).ravel()
    c = s - s.mean()
    v = c.var(ddof=1)
    m4 = np.mean(c**4)
    return v, np.sqrt(max(m4 - v * v, 0.0) / s.size)


def mean_and_se(s):
    s = np.asarray(s, dtype=np.float64).ravel()
    return s.mean(), s.std(ddof=1) / np.sqrt(s.size)


# ------------------------------------------------------------------- the four formulas vs MC


@pytest.mark.parametrize("k", [0.0, 1.0, 3.0, -1.5])
def test_four_variances_monte_carlo(k):
    f, df = quad(k)
    eps = np.random.default_rng(int(10 * k) + 100).standard_normal((N_DRAWS, 1))
    mean, std = np.ones(1), np.ones(1)
    got = {}
    got["pathwise", "mean"], got["pathwise", "std"] = NP.pathwise_grad(f, mean, std, eps, df)
    got["score", "mean"], got["score", "std"] = NP.score_function_grad(f, mean, std, eps)
    for key, exact in exact_variances(k).items():
        v, se = var_and_se(got[key])
        if exact == 4.0 and key[0] == "pathwise" and key[1] == "mean":
            # 2(x - k) = 2(a + eps): variance exactly 4 at any n up to rounding of the sample
            assert abs(v - exact) < Z * se + 1e-9, (key, v)
        assert abs(v - exact) < Z * se, (k, key, v, exact, se)
        # the estimator_mean_var helper returns the same ddof=1 variance
        np.testing.assert_allclose(NP.estimator_mean_var(got[key])[1][0], v, rtol=1e-12)


def test_four_variances_monte_carlo_torch():
    k = 3.0
    eps = np.random.default_rng(7).standard_normal((N_DRAWS, 1))
    f = lambda x: ((x - k) ** 2).sum(-1)  # noqa: E731 - works on tensors and arrays
    gm, gs = TH.pathwise_grad(f, np.ones(1), np.ones(1), eps)  # autograd derivative
    sm, ss = TH.score_function_grad(f, np.ones(1), np.ones(1), eps)
    ex = exact_variances(k)  # 4, 24, 87, 346
    for key, s in {("pathwise", "mean"): gm, ("pathwise", "std"): gs,
                   ("score", "mean"): sm, ("score", "std"): ss}.items():
        assert isinstance(s, np.ndarray)
        v, se = var_and_se(s)
        assert abs(v - ex[key]) < Z * se + 1e-9, (key, v, ex[key], se)


def test_k3_values_from_the_paper():
    assert exact_variances(3.0) == {
        ("pathwise", "mean"): 4.0, ("pathwise", "std"): 24.0,
        ("score", "mean"): 87.0, ("score", "std"): 346.0,
    }


# ------------------------------------------------------------------- the sympy derivations


@pytest.mark.parametrize("estimator", reparam.ESTIMATORS)
@pytest.mark.parametrize("param", reparam.PARAMETERS)
def test_derivation_equals_formula(estimator, param):
    a = sp.Symbol("a", real=True)
    typed = {
        ("pathwise", "mean"): sp.Integer(4),
        ("pathwise", "std"): 4 * a**2 + 8,
        ("score", "mean"): a**4 + 14 * a**2 + 15,
        ("score", "std"): 2 * a**4 + 60 * a**2 + 74,
    }[estimator, param]
    d = reparam.single_sample_variance(estimator, param).verify()
    assert sp.expand(d.result.rhs - typed.subs(a, reparam.A)) == 0
    # the derivation's mean step is the exact gradient of E (x-k)^2 = sigma^2 + (mu-k)^2:
    # d/dmu = 2(mu - k) = 2a, d/dsigma = 2 sigma = 2 (unbiasedness)
    mean_step = [s for s in d.steps if "unbiased" in s.text][0]
    expected_mean = 2 * reparam.A if param == "mean" else 2
    assert sp.expand(mean_step.expr.rhs - expected_mean) == 0


def test_derivation_rejects_unknown_names():
    with pytest.raises(ValueError, match="estimator"):
        reparam.single_sample_variance("reinforce", "mean")
    with pytest.raises(ValueError, match="param"):
        reparam.single_sample_variance("score", "logvar")


def test_baseline_derivation_and_monte_carlo():
    d = reparam.score_baseline_variance().verify()
    a = reparam.A
    assert sp.expand(d.result - (8 * a**2 + 6)) == 0  # hand calculation, b* = a^2 + 3
    # MC at k = 3 (a = -2): optimal b = 7 -> variance 38; b = E f = 1 + a^2 = 5 -> 42
    k, av = 3.0, -2.0
    f, _ = quad(k)
    eps = np.random.default_rng(3).standard_normal((N_DRAWS, 1))
    for b, exact in ((av**2 + 3, 8 * av**2 + 6), (1 + av**2, 8 * av**2 + 10)):
        gm, _ = NP.score_function_grad(f, np.ones(1), np.ones(1), eps, baseline=b)
        v, se = var_and_se(gm)
        assert abs(v - exact) < Z * se, (b, v, exact, se)
        m, mse = mean_and_se(gm)
        assert abs(m - 2 * av) < Z * mse  # still unbiased
    # leave-one-out converges to b = E f: variance 42, unbiased
    gm, _ = NP.score_function_grad(f, np.ones(1), np.ones(1), eps, baseline="leave-one-out")
    v, se = var_and_se(gm)
    assert abs(v - 42.0) < Z * se
    m, mse = mean_and_se(gm)
    assert abs(m - 2 * av) < Z * mse


def test_expected_cost_derivation_values():
    d = reparam.expected_cost_gradient().verify()
    assert abs(float(d.result.rhs) - O.EXPECTED_COST_GRADIENT_HALF) < 1e-7  # 7 decimals typed
    ef = d.steps[3].expr.rhs
    phi = next(iter(ef.free_symbols))
    assert abs(float(ef.subs(phi, sp.Rational(1, 2))) - O.EXPECTED_COST_HALF) < 1e-7


# ------------------------------------------------------------------- unbiasedness


def _phi_setting(phi=0.5):
    mean = np.array([phi**3])
    std = np.array([np.exp(phi)])
    return mean, std, 3 * phi**2, np.exp(phi)  # d mean / d phi, d std / d phi


def test_pathwise_unbiased_numpy():
    mean, std, dm, ds = _phi_setting()
    eps = np.random.default_rng(11).standard_normal((N_DRAWS, 1))
    gm, gs = NP.pathwise_grad(lambda x: (x**2 + np.sin(x)).sum(-1), mean, std, eps,
                              lambda x: 2 * x + np.cos(x))
    g = dm * gm[:, 0] + ds * gs[:, 0]  # chain rule to d/dphi
    m, se = mean_and_se(g)
    assert abs(m - O.EXPECTED_COST_GRADIENT_HALF) < Z * se, (m, se)


def test_pathwise_unbiased_torch_autograd_and_score():
    mean, std, dm, ds = _phi_setting()
    eps = np.random.default_rng(12).standard_normal((N_DRAWS, 1))
    f = lambda x: (x**2 + torch.sin(x)).sum(-1)  # noqa: E731
    gm, gs = TH.pathwise_grad(f, mean, std, eps)
    m, se = mean_and_se(dm * gm[:, 0] + ds * gs[:, 0])
    assert abs(m - O.EXPECTED_COST_GRADIENT_HALF) < Z * se, (m, se)
    sm, ss = TH.score_function_grad(f, mean, std, eps, baseline="leave-one-out")
    m, se = mean_and_se(dm * sm[:, 0] + ds * ss[:, 0])
    assert abs(m - O.EXPECTED_COST_GRADIENT_HALF) < Z * se, (m, se)


def test_linear_cost_variance_grows_with_dimension():
    # f(x) = sum_d x_d at mu = 0, sigma = 1: score d/dmu_1 = (sum eps) eps_1, variance D + 1
    # (E[(eps_1 + R)^2 eps_1^2] - 1 = 3 + (D - 1) - 1); pathwise d/dmu is exactly 1.
    rng = np.random.default_rng(5)
    for D in (1, 4, 16):
        eps = rng.standard_normal((50_000, D))
        f = lambda x: x.sum(-1)  # noqa: E731
        sm, _ = NP.score_function_grad(f, np.zeros(D), np.ones(D), eps)
        v, se = var_and_se(sm[:, 0])
        assert abs(v - (D + 1)) < Z * se, (D, v)
        pm, ps = NP.pathwise_grad(f, np.zeros(D), np.ones(D), eps, lambda x: np.ones_like(x))
        assert np.all(pm == 1.0)
        v, se = var_and_se(ps[:, 0])  # eps_1: variance 1
        assert abs(v - 1.0) < Z * se


# ------------------------------------------------------------------- backends agree


def test_torch_tensors_in_tensors_out_with_graph():
    mean = torch.tensor([0.5, -0.2], dtype=torch.float64, requires_grad=True)
    std = torch.tensor([1.0, 2.0], dtype=torch.float64)
    eps = torch.as_tensor(np.random.default_rng(0).standard_normal((10, 2)))
    gm, gs = TH.pathwise_grad(lambda x: (x**3).sum(-1), mean, std, eps)
    assert isinstance(gm, torch.Tensor) and gm.requires_grad
    # d/dmu of mean_i 3 x_i^2 = mean_i 6 x_i (x = mu + sigma eps): graph is kept
    (g2,) = torch.autograd.grad(gm.sum(), mean)
    x = mean.detach() + std * eps
    np.testing.assert_allclose(g2.numpy(), (6 * x).sum(0).numpy(), rtol=1e-12)


# ------------------------------------------------------------------- bad input


def test_bad_input_raises(backend):
    f = lambda x: (x**2).sum(-1)  # noqa: E731
    m, s, e = np.zeros(2), np.ones(2), np.zeros((5, 2))
    bad = [
        (lambda: backend.score_function_grad(f, m, -s, e), "std"),
        (lambda: backend.score_function_grad(f, m, s, np.zeros((5, 3))), "eps"),
        (lambda: backend.score_function_grad(f, m, s, np.zeros(5)), "eps"),
        (lambda: backend.score_function_grad(f, np.zeros(3), s, e), "mean"),
        (lambda: backend.score_function_grad(f, m * np.nan, s, e), "mean"),
        (lambda: backend.score_function_grad("f", m, s, e), "f"),
        (lambda: backend.score_function_grad(lambda x: x**2, m, s, e), "f"),
        (lambda: backend.score_function_grad(f, m, s, e, baseline="mean"), "baseline"),
        (lambda: backend.score_function_grad(f, m, s, e, baseline=np.ones(4)), "baseline"),
        (lambda: backend.score_function_grad(f, m, s, e, baseline=np.inf), "baseline"),
        (lambda: backend.pathwise_grad(f, m, s, e, df=3), "df"),
        (lambda: backend.pathwise_grad(f, m, s, e, df=lambda x: 2 * x[:, :1]), "df"),
        (lambda: backend.estimator_mean_var(np.ones(1)), "samples"),
    ]
    for call, name in bad:
        with pytest.raises(ValueError, match=name):
            call()


def test_numpy_pathwise_needs_df():
    with pytest.raises(ValueError, match="'df'"):
        NP.pathwise_grad(lambda x: x.sum(-1), np.zeros(1), np.ones(1), np.zeros((3, 1)))


# ------------------------------------------------------------------- pictures


def test_plots_and_their_checks():
    from vaelearn import plotting

    fig = plotting.variance_vs_dimension([1, 2, 4], {"score": [2, 6, 20]}, {"score": [2, 6, 20]})
    assert fig.get_size_inches()[0] <= 8
    plotting.estimate_histograms({"a": np.arange(10.0), "b": np.arange(10.0) * 2}, truth=4.0)
    h = {"train_loss": [3.0, 2.0], "test_loss": [3.5, 2.5]}
    plotting.learning_curves_compared({"pathwise": h, "score": h})
    plotting.variance_shares({"pathwise": {"minibatch": 0.7, "eps": 0.3}})
    with pytest.raises(ValueError, match="variances"):
        plotting.variance_vs_dimension([1, 2], {"score": [1.0, -1.0]})
    with pytest.raises(ValueError, match="histories"):
        plotting.learning_curves_compared({})
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize(
    "build",
    [lambda: reparam.single_sample_variance("score", "mean"), reparam.score_baseline_variance],
)
def test_variance_step_reads_second_moment_minus_squared_mean(build):
    # Lesson 06 printed "Var = -E g^2 + E g^2": the second moment and the squared mean rendered
    # alike. The variance step must show two distinct terms, E[g^2] first, then (E g)^2.
    d = build().verify()
    (step,) = [s for s in d.steps if s.text.startswith("The variance of one single-sample")]
    tex = sp.latex(step.expr.rhs)
    second, squared_mean = tex.split(" - ")
    assert second.startswith(r"\mathbb{E}[") and second.endswith("^2]")
    assert squared_mean.startswith(r"{\left(\mathbb{E}") and squared_mean.endswith(")}^{2}")
