"""Loss conventions (lesson 05): every VAE loss is in nats per example, summed over dimensions.

A mean over pixels instead of a sum is the most common bug in public VAE code: it shrinks the
reconstruction term by a factor x_dim and so silently trains with beta = x_dim. These tests compare
the backends' reported terms with an independent sum over dimensions (scipy densities, NumPy), and
check that the comparison itself rejects a mean.
"""

from __future__ import annotations

import math

import numpy as np
import oracles as O
import pytest
from scipy import stats

from vaelearn import likelihoods as L

X_DIM, Z_DIM, N = 64, 3, 6

# float64 throughout: the backends' terms and the scipy oracle differ only by rounding, ~1e-13
# relative on sums of 64 terms of size ~1; 1e-9 absolute leaves a wide margin and is still far
# below the factor-of-64 error this file exists to catch.
TOL = 1e-9


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(N, X_DIM))  # grey levels in [0, 1], like the 8x8 digits
    eps = rng.standard_normal((N, Z_DIM))
    return x, eps


def _independent_log_px(vae, likelihood, x, eps, sigma=None):
    """log p(x | z) summed over the x_dim pixels, from scipy densities (not the backend's code)."""
    z_mean, z_logvar = (np.asarray(a) for a in vae.encode(x))
    z = z_mean + np.exp(0.5 * z_logvar) * eps
    x_mean = np.asarray(vae.decode(z))
    if likelihood == "bernoulli":
        # continuous Bernoulli-style cross-entropy for grey levels: x log p + (1 - x) log(1 - p)
        per_dim = x * np.log(x_mean) + (1 - x) * np.log1p(-x_mean)
    else:
        per_dim = stats.norm(x_mean, sigma).logpdf(x)
    return per_dim.sum(axis=1), per_dim, z_mean, z_logvar


def _matches_sum_convention(reported, x, per_dim):
    """True when ``reported`` is log p(x|z) summed over dimensions, per example."""
    reported = np.asarray(reported)
    return reported.shape == (x.shape[0],) and np.allclose(
        reported, per_dim.sum(axis=1), rtol=0, atol=TOL
    )


@pytest.mark.parametrize("likelihood,sigma", [("bernoulli", None), ("gaussian", 0.3)])
def test_elbo_terms_are_sums_over_dimensions(backend, likelihood, sigma):
    kwargs = {"sigma": sigma} if sigma is not None else {}
    vae = backend.VAE(x_dim=X_DIM, hidden_dims=(16,), z_dim=Z_DIM, likelihood=likelihood, seed=1,
                    dtype="float64", **kwargs)
    x, eps = _data()
    terms = vae.elbo(x, eps, kl="analytic")
    log_px, per_dim, z_mean, z_logvar = _independent_log_px(vae, likelihood, x, eps, sigma)

    assert _matches_sum_convention(terms.log_px_given_z, x, per_dim)
    np.testing.assert_allclose(np.asarray(terms.kl), L.kl_std_normal(z_mean, z_logvar),
                               rtol=0, atol=TOL)
    np.testing.assert_allclose(np.asarray(terms.elbo), log_px - L.kl_std_normal(z_mean, z_logvar),
                               rtol=0, atol=TOL)


@pytest.mark.parametrize("likelihood,sigma", [("bernoulli", None), ("gaussian", 0.3)])
def test_training_loss_is_batch_mean_of_per_example_sums(backend, likelihood, sigma):
    kwargs = {"sigma": sigma} if sigma is not None else {}
    vae = backend.VAE(x_dim=X_DIM, hidden_dims=(16,), z_dim=Z_DIM, likelihood=likelihood, seed=2,
                    dtype="float64", **kwargs)
    x, eps = _data(1)
    loss, _ = vae.loss_and_grads(x, eps)
    log_px, _, z_mean, z_logvar = _independent_log_px(vae, likelihood, x, eps, sigma)
    expected = float(np.mean(-(log_px - L.kl_std_normal(z_mean, z_logvar))))
    assert abs(float(loss) - expected) < TOL
    # the alternatives the lesson warns about are far away from it
    mean_over_dims = float(np.mean(-(log_px / X_DIM - L.kl_std_normal(z_mean, z_logvar))))
    sum_over_batch = expected * N
    assert abs(float(loss) - mean_over_dims) > 1.0
    assert abs(float(loss) - sum_over_batch) > 1.0


def test_coin_flip_decoder_costs_d_ln_2(backend):
    """A decoder with zero output weights predicts p = 1/2 everywhere: D ln 2 nats per image."""
    vae = backend.VAE(x_dim=X_DIM, hidden_dims=(16,), z_dim=Z_DIM, likelihood="bernoulli", seed=3,
                    dtype="float64")
    params = vae.get_params()
    params["decoder.out.W"] = np.zeros_like(params["decoder.out.W"])
    params["decoder.out.b"] = np.zeros_like(params["decoder.out.b"])
    vae.set_params(params)
    x, eps = _data(2)
    terms = vae.elbo(x, eps)
    # 64 ln 2 = 44.3614 nats (tests/oracles.py); a mean over pixels would report ln 2 = 0.693
    np.testing.assert_allclose(-np.asarray(terms.log_px_given_z), 64 * math.log(2), atol=TOL)
    assert abs(L.bernoulli_baseline_nats(X_DIM) - O.BERNOULLI_BASELINE_64) < 0.005  # 2 decimals


def test_checker_rejects_a_mean_over_dimensions():
    """The check used above must be able to fail: a mean-instead-of-sum loss does not pass."""
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(N, X_DIM))
    per_dim = stats.norm(0.5, 0.3).logpdf(x)
    assert _matches_sum_convention(per_dim.sum(axis=1), x, per_dim)
    assert not _matches_sum_convention(per_dim.mean(axis=1), x, per_dim)  # mean over pixels
    assert not _matches_sum_convention(per_dim.sum(axis=1).mean(), x, per_dim)  # batch mean only
    assert not _matches_sum_convention(per_dim.sum(axis=1) / math.log(2), x, per_dim)  # bits


def test_reduce_loss_names_the_conventions():
    rng = np.random.default_rng(5)
    per_dim = rng.uniform(size=(N, X_DIM))
    vaelearn_convention = L.reduce_loss(per_dim)
    assert vaelearn_convention == pytest.approx(per_dim.sum() / N, rel=1e-14)
    assert L.reduce_loss(per_dim, dims="mean") == pytest.approx(vaelearn_convention / X_DIM,
                                                                rel=1e-14)
    assert L.reduce_loss(per_dim, batch="sum") == pytest.approx(vaelearn_convention * N, rel=1e-14)
    bits = L.nats_to_bits_per_dim(vaelearn_convention, X_DIM)
    assert bits == pytest.approx(vaelearn_convention / (X_DIM * math.log(2)), rel=1e-14)
