"""Likelihoods for grey-level pixels: the continuous Bernoulli (CB) and a categorical decoder.

Oracles, each independent of the code under test:

- ``torch.distributions.ContinuousBernoulli`` (PyTorch's own implementation, from probabilities):
  log-density and mean to 1e-12 in float64 inside its accurate region, which we measure rather
  than assume: it computes ``probs = sigmoid(logits)`` first, so for positive logits ``1 -
  probs`` loses digits (its log C is off by 9e-12 at logit 14, 1.5e-11 at 15, 1.7e-7 at 25, 0.1
  at 40); we use it up to 10. It also clamps
  probabilities to [eps, 1 - eps] (off by 1 at -100). Negative logits down to -36 keep their
  digits there. Beyond that region (up to |logit| = 1e4) the oracle is mpmath at 50 digits.
- scipy quadrature: the density integrates to 1 and its first moment is the mean (to 1e-10).
- finite differences for the hand-written backward passes.
- ``torch.distributions.Categorical`` for the categorical log-likelihood.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy import integrate

import vaelearn.numpy as vn
from vaelearn.derivations import likelihoods as dcb
from vaelearn.numpy import distributions as nd

torch = pytest.importorskip("torch")
import vaelearn.torch as vt  # noqa: E402

mpmath.mp.dps = 50

# logits where torch's ContinuousBernoulli is accurate (measured: see the module docstring),
# including |logit| < 1e-4 (its Taylor region) and logits below -30
TORCH_REGION = np.concatenate([
    [0.0, 1e-12, -1e-9, 3e-7, -5e-5, 9.9e-5, 1e-4, -0.0999, 0.1, 0.25, -0.5, 0.9999, 1.0],
    np.linspace(-15, 10, 26), [-30.5, -31.0, -33.0, -35.0, -36.0],
])
# the whole range the functions promise to handle: |logit| up to 1e4
ALL_LOGITS = np.concatenate([TORCH_REGION, [12.0, 15.0, 20.0, 30.5, 36.0, 50.0, -50.0, 100.0,
                                            -700.0, 800.0, 3e3, -1e4, 1e4]])


def _mp_log_norm(l):
    l = mpmath.mpf(float(l))
    return mpmath.log(2) if l == 0 else mpmath.log(l / mpmath.tanh(l / 2))


def _mp_mean(l):
    l = mpmath.mpf(float(l))
    return mpmath.mpf(1) / 2 if l == 0 else 0.5 + 0.5 * (mpmath.coth(l / 2) - 2 / l)


def _torch_cb(l):
    return torch.distributions.ContinuousBernoulli(
        logits=torch.as_tensor(l, dtype=torch.float64), validate_args=False)


# ------------------------------------------------------------------------------ derivations


def test_series_constants_are_the_derived_taylor_coefficients():
    # the code's constants are floats of the sympy-derived rationals, to the last bit
    coefs = dcb.log_norm_series(len(nd._CB_LOG_NORM_SERIES) + 1)
    assert [float(c) for c in coefs[:-1]] == list(nd._CB_LOG_NORM_SERIES)
    lang = dcb.langevin_series(len(nd._LANGEVIN_SERIES) + 1)
    assert [float(c) for c in lang[:-1]] == list(nd._LANGEVIN_SERIES)
    # the switch points: the first omitted term (the series alternate, terms decreasing) is
    # far below an ulp of the value there (log 2 >= 0.69 for log C; the mean >= 1/2)
    u = nd._CB_LOG_NORM_SWITCH / 2
    assert abs(float(coefs[-1])) * u ** (2 * len(coefs)) < 2e-3 * np.spacing(math.log(2))
    u = nd._CB_MEAN_SWITCH / 2
    assert abs(float(lang[-1])) * u ** (2 * len(lang) - 1) / 2 < 0.2 * np.spacing(0.5)


# ------------------------------------------------------------------------------ values


def test_cb_log_density_matches_torch_distribution(backend):
    x = np.linspace(0, 1, 11)
    l = TORCH_REGION
    xx, ll = np.meshgrid(x, l)
    ours = np.asarray(backend.log_px_given_z_continuous_bernoulli(xx[..., None], ll[..., None]))
    ref = _torch_cb(ll).log_prob(torch.as_tensor(xx)).numpy()
    err = np.abs(ours - ref) / np.maximum(1, np.abs(ref))
    assert err.max() < 1e-12, err.max()
    mean_ref = _torch_cb(l).mean.numpy()
    assert np.max(np.abs(np.asarray(backend.continuous_bernoulli_mean(l)) - mean_ref)) < 1e-12


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_log_norm_and_mean_against_50_digits_everywhere(backend, dtype):
    # float64: a few ulp; float32: a few float32 ulp (2e-7 relative), up to |logit| = 1e4
    tol = {"float64": 4e-16, "float32": 2.4e-7}[dtype]
    l = ALL_LOGITS.astype(dtype)
    got = np.asarray(backend.continuous_bernoulli_log_norm(l))
    mean = np.asarray(backend.continuous_bernoulli_mean(l))
    assert got.dtype == dtype and mean.dtype == dtype
    for li, g, m in zip(l, got, mean, strict=True):
        ref = float(_mp_log_norm(li))
        assert abs(g - ref) <= tol * abs(ref), (li, g, ref)
        assert abs(m - float(_mp_mean(li))) <= tol, (li, m)


@pytest.mark.parametrize("lam_logit", [-40.0, -12.0, -3.0, -0.7, -1e-5, 0.0, 2e-6, 0.05, 1.3,
                                       6.0, 15.0, 40.0])
def test_density_integrates_to_one_and_mean_is_first_moment(lam_logit):
    def dens(x):
        return math.exp(float(nd.log_px_given_z_continuous_bernoulli([x], [lam_logit])))

    # the density is e^(l x) up to a constant: split [0, 1] where it varies by e per piece
    pts = np.linspace(0, 1, max(2, int(abs(lam_logit)) + 1))
    total = sum(integrate.quad(dens, a, b, epsabs=1e-14, epsrel=1e-13)[0]
                for a, b in zip(pts[:-1], pts[1:], strict=True))
    first = sum(integrate.quad(lambda x: x * dens(x), a, b, epsabs=1e-14, epsrel=1e-13)[0]
                for a, b in zip(pts[:-1], pts[1:], strict=True))
    assert abs(total - 1) < 1e-10
    assert abs(first - float(nd.continuous_bernoulli_mean(lam_logit))) < 1e-10


def test_mean_is_not_lambda():
    l = np.array([-4.0, -1.0, 1.0, 4.0])
    m = nd.continuous_bernoulli_mean(l)
    lam = nd.sigmoid(l)
    # pulled towards 1/2: |mean - 1/2| < |lambda - 1/2| (here by at least 0.1 at |l| = 4)
    assert np.all(np.abs(m - 0.5) < np.abs(lam - 0.5))
    assert np.abs(m - lam)[[0, 3]].min() > 0.1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_stable_at_plus_minus_1e4(backend, dtype):
    l = np.array([-1e4, 1e4], dtype=dtype)
    x = np.array([0.0, 1.0], dtype=dtype)
    lp = np.asarray(backend.log_px_given_z_continuous_bernoulli(x[:, None], l[:, None]))
    # exact: x l - softplus(l) + log(|l| / tanh(|l|/2)) = log 1e4 at the mode (x = 0 for l < 0,
    # x = 1 for l > 0), rounded to the dtype
    rel = {"float64": 1e-15, "float32": 2e-7}[dtype]
    np.testing.assert_allclose(lp, [math.log(1e4)] * 2, rtol=rel)
    m = np.asarray(backend.continuous_bernoulli_mean(l))
    np.testing.assert_allclose(m, [1e-4, 1 - 1e-4], rtol=rel)  # 1/|l| - 1/expm1(|l|), e^-1e4 = 0
    s = np.asarray(backend.continuous_bernoulli_sample(l, np.array([0.5, 0.5], dtype=dtype)))
    np.testing.assert_allclose(s, [math.log(2) / 1e4, 1 - math.log(2) / 1e4], rtol=rel, atol=0)
    g = np.asarray(backend.log_px_given_z_continuous_bernoulli_backward(x[:, None], l[:, None]))
    assert np.all(np.isfinite(g))


# ------------------------------------------------------------------------------ sampling


def _mp_cdf(x, l):
    x, l = mpmath.mpf(float(x)), mpmath.mpf(float(l))
    if l == 0:
        return x
    return mpmath.expm1(l * x) / mpmath.expm1(l)


def test_inverse_cdf_sampling(backend):
    u = np.array([0.0, 1e-9, 0.1, 0.37, 0.5, 0.9, 1 - 1e-9, 1.0])
    for l in [-300.0, -35.0, -5.0, -1e-7, 0.0, 4e-7, 0.3, 2.0, 29.9, 30.0, 60.0, 900.0]:
        x = np.asarray(backend.continuous_bernoulli_sample(np.full_like(u, l), u))
        assert np.all((x >= 0) & (x <= 1))
        # F(x) = u back, to float64 rounding of x times the density there (<= |l| e^...)
        for xi, ui in zip(x, u, strict=True):
            cdf = float(_mp_cdf(xi, l))
            dens = float(mpmath.exp(_mp_log_norm(l) + l * mpmath.mpf(float(xi)) -
                                    mpmath.log1p(mpmath.exp(l))))
            assert abs(cdf - ui) <= 1e-14 + 4e-16 * dens, (l, ui, xi, cdf)


def test_sampling_matches_torch_rsample_and_mean():
    # torch draws by the same inverse CDF (in probabilities); with its noise we agree in its
    # accurate region, and the sample mean is the CB mean (not lambda)
    l = torch.tensor([-3.0, 0.4, 5.0], dtype=torch.float64)
    u = np.random.default_rng(0).uniform(size=(200_000, 3))
    x = vn.continuous_bernoulli_sample(l.numpy(), u)
    ref = _torch_cb(l).icdf(torch.as_tensor(u)).numpy()
    assert np.max(np.abs(x - ref)) < 1e-12
    se = x.std(axis=0) / math.sqrt(len(x))
    assert np.all(np.abs(x.mean(axis=0) - vn.continuous_bernoulli_mean(l.numpy())) < 5 * se)


# ------------------------------------------------------------------------------ gradients


def _fd(f, a, h=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        ap, am = a.copy(), a.copy()
        ap[i] += h
        am[i] -= h
        g[i] = (f(ap).sum() - f(am).sum()) / (2 * h)
    return g


def test_cb_backward_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(3, 7))
    l = np.concatenate([rng.normal(scale=3, size=(3, 5)), [[0.0, 0.05]] * 3], axis=1)
    grad = rng.normal(size=3)
    got = nd.log_px_given_z_continuous_bernoulli_backward(x, l, grad)
    fd = _fd(lambda a: nd.log_px_given_z_continuous_bernoulli(x, a) * grad, l)
    # central differences with h = 1e-6: truncation h^2 |f'''| ~ 1e-12, round-off ~1e-10
    np.testing.assert_allclose(got, fd, atol=1e-8, rtol=0)
    # torch autograd against this backward: tests/test_parity.py


def test_categorical_backward_finite_differences():
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=2, size=(2, 5, 17))
    x = rng.integers(0, 17, size=(2, 5))
    grad = rng.normal(size=2)
    got = nd.log_px_given_z_categorical_backward(x, logits, grad)
    fd = _fd(lambda a: nd.log_px_given_z_categorical(x, a) * grad, logits)
    np.testing.assert_allclose(got, fd, atol=1e-8, rtol=0)
    # torch autograd and torch's written-out backward against this one: tests/test_parity.py


def test_categorical_matches_torch_distribution_and_takes_grey_levels():
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=3, size=(4, 64, 17))
    levels = rng.integers(0, 17, size=(4, 64))
    ref = torch.distributions.Categorical(logits=torch.tensor(logits)).log_prob(
        torch.tensor(levels)).sum(-1).numpy()
    for B in (vn, vt):
        np.testing.assert_allclose(B.log_px_given_z_categorical(levels, logits), ref,
                                   rtol=1e-13, atol=0)
        # the digits' pixels x = level / 16 as floats, scaled back
        np.testing.assert_allclose(B.log_px_given_z_categorical(levels / 16 * 16, logits), ref,
                                   rtol=1e-13, atol=0)
    # uniform logits: exactly 64 log 17 nats
    np.testing.assert_allclose(vn.log_px_given_z_categorical(levels, np.zeros((4, 64, 17))),
                               -64 * math.log(17), rtol=1e-15)


def test_bad_inputs_are_named(backend):
    logits = np.zeros((2, 3, 17))
    with pytest.raises(ValueError, match="x_levels"):
        backend.log_px_given_z_categorical(np.full((2, 3), 17), logits)
    with pytest.raises(ValueError, match="x_levels"):
        backend.log_px_given_z_categorical(np.full((2, 3), 0.5), logits)
    with pytest.raises(ValueError, match="logits"):
        backend.log_px_given_z_categorical(np.zeros(3, dtype=int), np.zeros(3))
    with pytest.raises(ValueError, match="x_logits"):
        backend.log_px_given_z_continuous_bernoulli(np.zeros(3), np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="'u'"):
        backend.continuous_bernoulli_sample(np.zeros(2), np.array([0.5, 1.5]))
