"""Oracle tests of the models and training, run on both backends.

Oracles: closed forms and values typed in tests/oracles.py (KL(N(0,1/4) || N(0,1)) = 0.3181472
nats, 64 ln 2 nats for the Bernoulli(1/2) model of 8x8 digits), scipy's log-densities, Monte
Carlo estimates with their standard errors, and the ordering ELBO <= IWAE_k <= IWAE_k'
(Burda et al. 2015).
"""

from __future__ import annotations

import math

import numpy as np
import oracles as O
import pytest
from scipy import special, stats

from vaelearn.data import load_digits

# ---------------------------------------------------------------------------- distributions


def test_kl_closed_form_value(backend):
    # KL(N(0, 1/4) || N(0, 1)) = (1/4 - 1 + ln 4) / 2, typed to 7 decimals (tests/oracles.py)
    kl = backend.kl_normal_std_normal(np.zeros((1, 1)), np.full((1, 1), math.log(0.25)))
    assert abs(kl[0] - O.KL_QUARTER_NATS) < 1e-7


def test_log_likelihoods_match_scipy(backend):
    rng = np.random.default_rng(0)
    x = (rng.uniform(size=(4, 6)) > 0.5).astype(float)
    logits = rng.normal(scale=5, size=(4, 6))
    expect = stats.bernoulli.logpmf(x, special.expit(logits)).sum(-1)
    np.testing.assert_allclose(backend.log_px_given_z_bernoulli(x, logits), expect, rtol=1e-12)
    # stability: logit 800 with x = 0 costs 800 nats, not inf
    far = backend.log_px_given_z_bernoulli(np.zeros((1, 1)), np.full((1, 1), 800.0))
    assert abs(far[0] + 800) < 1e-9
    mean = rng.normal(size=(4, 6))
    xg = rng.normal(size=(4, 6))
    expect = stats.norm.logpdf(xg, mean, math.exp(0.3)).sum(-1)
    np.testing.assert_allclose(backend.log_px_given_z_gaussian(xg, mean, 0.3), expect, rtol=1e-12)
    logvar = rng.normal(size=(4, 6))
    expect = stats.norm.logpdf(xg, mean, np.exp(0.5 * logvar)).sum(-1)
    np.testing.assert_allclose(backend.log_normal(xg, mean, logvar), expect, rtol=1e-12)
    a = rng.normal(scale=300, size=(7, 3))
    np.testing.assert_allclose(
        backend.logmeanexp(a, axis=0), special.logsumexp(a, axis=0) - math.log(7), rtol=1e-12
    )


def test_analytic_kl_equals_monte_carlo(backend):
    """KL analytic vs mean(log q(z) - log p(z)) over 20,000 draws: within 4 standard errors."""
    rng = np.random.default_rng(1)
    z_mean, z_logvar = rng.normal(size=(2, 5, 3))
    eps = rng.standard_normal((20000, 5, 3))
    z = backend.reparameterize(z_mean, z_logvar, eps)
    diff = backend.log_normal(z, z_mean, z_logvar) - backend.log_normal(z, 0.0, 0.0)  # (20000, 5)
    mc, se = diff.mean(0), diff.std(0, ddof=1) / math.sqrt(eps.shape[0])
    kl = backend.kl_normal_std_normal(z_mean, z_logvar)
    assert np.all(np.abs(mc - kl) < 4 * se), (mc, kl, se)
    # the same through the model: elbo(kl="mc") vs elbo(kl="analytic")
    vae = backend.VAE(6, (5,), 3, seed=2)
    x = rng.uniform(size=(4, 6))
    eps = vae.sample_eps(4, rng, n_samples=20000)
    t_mc, t_an = vae.elbo(x, eps, kl="mc"), vae.elbo(x, eps)
    np.testing.assert_allclose(t_mc.log_px_given_z, t_an.log_px_given_z, rtol=1e-12)
    z_mean, z_logvar = vae.encode(x)
    zs = backend.reparameterize(z_mean, z_logvar, eps)
    per = backend.log_normal(zs, z_mean, z_logvar) - backend.log_normal(zs, 0.0, 0.0)
    se = per.std(0, ddof=1) / math.sqrt(eps.shape[0])
    assert np.all(np.abs(t_mc.kl - t_an.kl) < 4 * se)


def test_elbo_terms_and_bernoulli_elbo_negative(backend):
    rng = np.random.default_rng(3)
    vae = backend.VAE(8, (6,), 2, seed=4)
    x = rng.uniform(size=(5, 8))
    eps = vae.sample_eps(5, rng)
    t = vae.elbo(x, eps)
    assert t._fields == ("elbo", "log_px_given_z", "kl")
    assert all(np.shape(v) == (5,) for v in t)
    np.testing.assert_allclose(t.elbo, t.log_px_given_z - t.kl, rtol=1e-14)
    z_mean, z_logvar = vae.encode(x)
    np.testing.assert_allclose(t.kl, backend.kl_normal_std_normal(z_mean, z_logvar), rtol=1e-14)
    assert np.all(t.kl >= 0)
    assert np.all(t.elbo < 0)  # a Bernoulli likelihood is a probability <= 1


def test_elbo_below_iwae_increasing_in_k(backend):
    """On average over 30 seeds: ELBO <= IWAE_1... and IWAE_k increases with k (Burda 2015)."""
    rng = np.random.default_rng(5)
    vae = backend.VAE(10, (8,), 2, seed=6)
    x = rng.uniform(size=(20, 10))
    ks = (1, 5, 50)
    bounds = {k: [] for k in ks}
    elbos = []
    for _ in range(30):
        eps = vae.sample_eps(20, rng, n_samples=max(ks))
        elbos.append(vae.elbo(x, eps[0], kl="mc").elbo.mean())
        for k in ks:
            bounds[k].append(vae.iwae_bound(x, eps[:k]).mean())
    means = {k: float(np.mean(v)) for k, v in bounds.items()}
    assert abs(np.mean(elbos) - means[1]) < 1e-12 * abs(means[1])  # IWAE_1 is the ELBO
    assert means[1] < means[5] < means[50]
    # and the analytic-KL ELBO agrees with IWAE_1 on average (they share the same expectation)


def test_vae_beats_trivial_model_on_digits(backend):
    """After 8 epochs the test -ELBO is far below 64 ln 2 = 44.36 nats (Bernoulli(1/2))."""
    d = load_digits()
    vae = backend.VAE(64, (64,), 4, seed=0)
    h = backend.fit(vae, d.x_train, d.x_test, epochs=8, batch_size=64, lr=3e-3, progress=False)
    trivial = 64 * math.log(2)
    assert h["test_loss"][-1] < 0.75 * trivial, h["test_loss"]
    assert h["train_loss"][-1] < h["train_loss"][0]


def test_score_estimator_is_unbiased(backend):
    """E[score-function encoder gradient] = E[pathwise gradient], within 4 standard errors.

    Both expectations are estimated from 40 batches of 500 samples of eps each; the standard error
    of each batch-mean is estimated from the 40 batch means. A wrong score (e.g. a missing 1/2 in
    d log q / d logvar) moves the mean by far more than that, see the power check at the end.
    """
    rng = np.random.default_rng(7)
    vae = backend.VAE(5, (4,), 2, likelihood="gaussian", sigma=0.8, activation="tanh", seed=8)
    x = rng.normal(size=(2, 5))
    path, score, score_b = [], [], []
    for _ in range(40):
        eps = vae.sample_eps(2, rng, n_samples=500)
        path.append(vae.loss_and_grads(x, eps)[1])
        score.append(vae.loss_and_grads(x, eps, estimator="score")[1])
        score_b.append(vae.loss_and_grads(x, eps, estimator="score", baseline=-9.0)[1])
    for key in vae.params:
        if not key.startswith("encoder"):
            continue
        p = np.array([g[key] for g in path])
        for est in (score, score_b):
            s = np.array([g[key] for g in est])
            se = np.sqrt(p.var(0, ddof=1) / len(p) + s.var(0, ddof=1) / len(s))
            z = np.abs(p.mean(0) - s.mean(0)) / se
            assert np.all(z < 4), (key, z.max())
    # power: the score estimate is far from a deliberately wrong value (half the pathwise mean)
    key = "encoder.logvar.b"
    p = np.array([g[key] for g in path])
    s = np.array([g[key] for g in score])
    se = np.sqrt(s.var(0, ddof=1) / len(s))
    assert np.any(np.abs(s.mean(0) - 0.5 * p.mean(0)) > 4 * se)


def test_free_bits_and_beta(backend):
    """free_bits floors the batch-mean KL per dimension; beta scales it (oracle: the terms)."""
    rng = np.random.default_rng(9)
    x = rng.uniform(size=(6, 7))
    base = backend.VAE(7, (5,), 3, seed=1)
    eps = base.sample_eps(6, rng)
    t = base.elbo(x, eps)
    z_mean, z_logvar = base.encode(x)
    kl_dim = (-0.5 * (1 + z_logvar - z_mean**2 - np.exp(z_logvar))).mean(0)
    for beta, fb in ((1.0, 0.0), (2.5, 0.0), (1.0, 10.0), (0.5, float(np.median(kl_dim)))):
        vae = backend.VAE(7, (5,), 3, seed=1, beta=beta, free_bits=fb)
        loss, _ = vae.loss_and_grads(x, eps)
        expect = -t.log_px_given_z.mean() + beta * np.maximum(kl_dim, fb).sum()
        assert abs(loss - expect) < 1e-10 * abs(expect)
    # with a floor above every dimension's KL, the KL gives no gradient: encoder.logvar gets
    # only the reconstruction's share, equal to the beta = 0 model's
    g_fb = backend.VAE(7, (5,), 3, seed=1, free_bits=10.0).loss_and_grads(x, eps)[1]
    g_b0 = backend.VAE(7, (5,), 3, seed=1, beta=0.0).loss_and_grads(x, eps)[1]
    np.testing.assert_allclose(g_fb["encoder.logvar.b"], g_b0["encoder.logvar.b"], rtol=1e-12)


def test_fit_history_and_beta_schedule(backend):
    d = load_digits()
    x_tr, x_te = d.x_train[:200], d.x_test[:50]
    vae = backend.VAE(64, (16,), 2, seed=0)
    h = backend.fit(vae, x_tr, x_te, epochs=3, batch_size=50, progress=False,
              beta_schedule=lambda e: 0.5 * e)
    assert h["epoch"] == [1, 2, 3]
    assert h["beta"] == [0.0, 0.5, 1.0]
    for key in ("train_loss", "train_rec", "train_kl", "test_loss", "test_rec", "test_kl"):
        assert len(h[key]) == 3 and all(math.isfinite(v) for v in h[key]), key
    # test loss is -ELBO: rec + KL
    np.testing.assert_allclose(np.add(h["test_rec"], h["test_kl"]), h["test_loss"], rtol=1e-12)
    # train loss is rec + beta KL (the objective actually minimised)
    np.testing.assert_allclose(np.add(h["train_rec"], np.multiply(h["beta"], h["train_kl"])),
                               h["train_loss"], rtol=1e-10)
    ae = backend.Autoencoder(64, (16,), 2, seed=0)
    h = backend.fit(ae, x_tr, epochs=2, progress=False, optimizer="sgd", lr=0.01)
    assert set(h) == {"epoch", "train_loss"}


def test_fast_mode_trains_float32(backend):
    d = load_digits()
    vae = backend.VAE(64, (32,), 2, seed=0)
    h = backend.fit(vae, d.x_train[:300], d.x_test[:60], epochs=3, mode="fast", progress=False)
    assert vae.dtype == "float32"
    assert all(v.dtype == np.float32 for v in vae.get_params().values())
    assert h["test_loss"][-1] < h["test_loss"][0]


def test_fit_raises_on_divergence(backend):
    vae = backend.VAE(8, (4,), 2, seed=0)
    p = vae.get_params()
    p["encoder.logvar.b"][:] = 800.0  # exp(800) overflows: KL = inf
    vae.set_params(p)
    x = np.random.default_rng(0).uniform(size=(20, 8))
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch 1 of 2"):
        backend.fit(vae, x, epochs=2, batch_size=10, progress=False)


# ---------------------------------------------------------------------------- bad input


def test_bad_input_raises_value_error(backend, tmp_path):
    vae = backend.VAE(6, (5,), 2, seed=0)
    x = np.random.default_rng(0).uniform(size=(4, 6))
    eps = np.zeros((4, 2))
    cases = [
        (lambda: vae.elbo(x[0], eps), "'x'.*shape"),
        (lambda: vae.elbo(x[:, :5], eps), "x_dim=6"),
        (lambda: vae.elbo(np.where(x > 0.5, np.nan, x), eps), "NaN"),
        (lambda: vae.elbo(x + 1, eps), r"outside \[0, 1\]"),
        (lambda: vae.elbo(x, np.zeros((3, 2))), "'eps'"),
        (lambda: vae.elbo(x, eps, kl="exact"), "'kl'"),
        (lambda: vae.loss_and_grads(x, eps, estimator="magic"), "'estimator'"),
        (lambda: vae.loss_and_grads(x, eps, baseline=1.0), "'baseline'"),
        (lambda: vae.loss_and_grads(x, eps, estimator="score", baseline=np.ones(3)), "baseline"),
        (lambda: vae.sample_eps(3, 0), "'rng'"),
        (lambda: backend.VAE(6, (5,), 2, likelihood="poisson"), "'likelihood'"),
        (lambda: backend.VAE(6, (5,), 2, likelihood="gaussian", sigma=-1.0), "'sigma'"),
        (lambda: backend.VAE(6, (5,), 2, dtype="float16"), "'dtype'"),
        (lambda: backend.VAE(6, (5,), 2, free_bits=-1), "'free_bits'"),
        (lambda: backend.Autoencoder(6, loss="l1"), "'loss'"),
        (lambda: vae.set_params({"encoder.0.W": np.zeros((6, 5))}), "missing"),
        (lambda: backend.fit(vae, x, epochs=0, progress=False), "'epochs'"),
        (lambda: backend.fit(vae, x, epochs=1, mode="turbo", progress=False), "'mode'"),
        (lambda: backend.fit(vae, x - 1, epochs=1, progress=False), "x_train"),
        (lambda: backend.fit(vae, x, epochs=1, progress=False, loss_kwargs={"lr": 1}),
         "loss_kwargs"),
        (lambda: backend.fit(vae, x, epochs=1, progress=False, optimizer="rmsprop"), "'optimizer'"),
    ]
    for fn, match in cases:
        with pytest.raises(ValueError, match=match):
            fn()
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(ValueError, match="broken.npz"):
        backend.load_checkpoint(bad)
    good = tmp_path / "good.npz"
    backend.save_checkpoint(vae, good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.npz"):
        backend.load_checkpoint(truncated)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(ValueError, match="foreign.npz"):
        backend.load_checkpoint(foreign)


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda B, p: B.SGD(p, lr=0.0), "'lr'"),
        (lambda B, p: B.SGD(p, lr=float("nan")), "'lr'"),
        (lambda B, p: B.SGD(p, lr=1e-2, momentum=1.0), "'momentum'"),
        (lambda B, p: B.Adam(p, lr=1e-3, betas=(0.9, 1.0)), "'betas'"),
        (lambda B, p: B.Adam(p, lr=1e-3, betas=(-0.1, 0.999)), "'betas'"),
        (lambda B, p: B.Adam(p, lr=1e-3, eps=0.0), "'eps'"),
        (lambda B, p: B.make_optimizer("rmsprop", p), "'optimizer'"),
    ],
)
def test_optimizers_reject_bad_hyperparameters(backend, make, argument):
    params = backend.VAE(x_dim=4, hidden_dims=(3,), z_dim=2, seed=0).params
    with pytest.raises(ValueError, match=argument):
        make(backend, params)
