"""Finite-difference checks of every hand-written backward pass in vaelearn.numpy.

Oracle: central differences (f(theta + h) - f(theta - h)) / 2h with h = 1e-6 in float64. Their
truncation error is O(h^2 * f''') ~ 1e-12 and their rounding error ~ 1e-16 * |f| / h ~ 1e-10
relative, so a correct gradient shows a relative error ~1e-9; we require < 1e-6: 1000x that, and
still far below what a wrong backward gives (a missing term or factor shows as an error >= 1e-2).
The relative error of one parameter array is ||g - g_fd|| / (||g|| + ||g_fd||), which stays
meaningful when single entries are tiny. Every entry of every parameter is perturbed.
"""

from __future__ import annotations

import numpy as np
import pytest

from vaelearn import numpy as B

H = 1e-6  # central-difference step
TOL = 1e-6  # relative error bar (see module docstring)


def rel_err(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def fd_grad(f, arr):
    """Central-difference gradient of the scalar f() with respect to ``arr`` (modified in place)."""
    g = np.zeros_like(arr)
    it = np.nditer(arr, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = arr[i]
        arr[i] = old + H
        fp = f()
        arr[i] = old - H
        fm = f()
        arr[i] = old
        g[i] = (fp - fm) / (2 * H)
    return g


def check_model_grads(model, loss_fn):
    """Compare model.loss_and_grads (via loss_fn) with finite differences for every parameter."""
    loss, grads = loss_fn()
    assert set(grads) == set(model.params)
    for key, p in model.params.items():
        assert grads[key].shape == p.shape, key
        g_fd = fd_grad(lambda: loss_fn()[0], p)
        err = rel_err(grads[key], g_fd)
        assert err < TOL, f"{key}: relative error {err:.2e}"
    return loss


def data(rng, n, x_dim, kind, n_levels=17):
    if kind in ("bernoulli", "continuous_bernoulli"):
        return rng.uniform(0, 1, size=(n, x_dim))  # grey levels in [0, 1]
    if kind == "categorical":
        return rng.integers(0, n_levels, size=(n, x_dim)) / (n_levels - 1)  # digits: 17
    return rng.normal(size=(n, x_dim))


# --------------------------------------------------------------------------- layers


@pytest.mark.parametrize("cls", [B.Identity, B.ReLU, B.Tanh, B.Sigmoid, B.Softplus])
def test_activation_backward(cls):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep clear of the ReLU kink
    dy = rng.normal(size=(4, 5))
    layer = cls()
    y, cache = layer.forward(x)
    dx, grads = layer.backward(dy, cache)
    assert grads == {}
    g_fd = fd_grad(lambda: float(np.sum(layer(x) * dy)), x)
    assert rel_err(dx, g_fd) < TOL


def test_linear_and_mlp_backward():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 4))
    for layer in (B.Linear(4, 3, seed=0), B.MLP((4, 5, 3), activation="tanh", seed=0)):
        y, cache = layer.forward(x)
        dy = rng.normal(size=y.shape)
        dx, grads = layer.backward(dy, cache)
        assert set(grads) == set(layer.params)

        def f(layer=layer, dy=dy):
            return float(np.sum(layer(x) * dy))

        assert rel_err(dx, fd_grad(f, x)) < TOL
        for key, p in layer.params.items():
            g_fd = fd_grad(f, p)
            assert rel_err(grads[key], g_fd) < TOL, key


def test_reparameterize_backward():
    rng = np.random.default_rng(3)
    z_mean, z_logvar = rng.normal(size=(2, 3, 2))
    for eps in (rng.normal(size=(3, 2)), rng.normal(size=(4, 3, 2))):
        dz = rng.normal(size=eps.shape)
        d_mean, d_logvar = B.reparameterize_backward(dz, z_logvar, eps)

        def f(eps=eps, dz=dz):
            return float(np.sum(B.reparameterize(z_mean, z_logvar, eps) * dz))

        assert rel_err(d_mean, fd_grad(f, z_mean)) < TOL
        assert rel_err(d_logvar, fd_grad(f, z_logvar)) < TOL


# --------------------------------------------------------------------------- autoencoder


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(loss="mse"),
        dict(loss="bce"),
        dict(loss="mse", linear=True),
        dict(loss="bce", activation="tanh", hidden_dims=(4, 3)),
    ],
    ids=["mse", "bce", "linear", "bce-tanh-deep"],
)
def test_autoencoder_grads(kwargs):
    rng = np.random.default_rng(4)
    kwargs = {"hidden_dims": (4,), **kwargs}
    ae = B.Autoencoder(x_dim=5, z_dim=2, seed=1, **kwargs)
    x = data(rng, 3, 5, "bernoulli")
    check_model_grads(ae, lambda: ae.loss_and_grads(x))
    # denoising: corrupted input, clean target
    x_noisy = np.clip(x + 0.1 * rng.normal(size=x.shape), 0, 1)
    check_model_grads(ae, lambda: ae.loss_and_grads(x_noisy, x_target=x))


# --------------------------------------------------------------------------- VAE

VAE_CASES = {
    "bernoulli": dict(likelihood="bernoulli"),
    "bernoulli-relu-deep": dict(likelihood="bernoulli", activation="relu", hidden_dims=(4, 3)),
    "gaussian-fixed": dict(likelihood="gaussian", sigma=0.7),
    "gaussian-learned": dict(likelihood="gaussian", sigma="learned"),
    "beta": dict(likelihood="bernoulli", beta=3.5),
    "free-bits": dict(likelihood="gaussian", sigma=0.5, free_bits=0.09),
    "continuous-bernoulli": dict(likelihood="continuous_bernoulli"),
    "categorical": dict(likelihood="categorical"),
    "categorical-3-levels": dict(likelihood="categorical", n_levels=3),
}


def make_vae(kwargs, seed=1):
    kwargs = {"hidden_dims": (4,), "activation": "tanh", **kwargs}
    vae = B.VAE(x_dim=5, z_dim=3, seed=seed, **kwargs)
    if "decoder.logsigma" in vae.params:
        vae.params["decoder.logsigma"][:] = 0.3  # away from the initial 0
    return vae


@pytest.mark.parametrize("name", list(VAE_CASES))
@pytest.mark.parametrize("n_samples", [None, 3])
def test_vae_grads(name, n_samples):
    rng = np.random.default_rng(5)
    vae = make_vae(VAE_CASES[name])
    x = data(rng, 4, 5, vae.likelihood, vae.n_levels)
    eps = vae.sample_eps(4, rng, n_samples=n_samples)
    loss = check_model_grads(vae, lambda: vae.loss_and_grads(x, eps))
    # the loss is the mean -ELBO when beta = 1 and no free bits bind (oracle: the terms)
    if name not in ("beta", "free-bits"):
        t = vae.elbo(x, eps)
        assert abs(loss - (-t.elbo.mean())) < 1e-12 * max(1.0, abs(loss))


def test_free_bits_case_is_mixed():
    """The free-bits gradient check above is only meaningful if some dimensions are floored and
    some are not; assert that about the data it used."""
    rng = np.random.default_rng(5)
    vae = make_vae(VAE_CASES["free-bits"])
    x = data(rng, 4, 5, "gaussian")
    z_mean, z_logvar = vae.encode(x)
    kl_dim = (-0.5 * (1 + z_logvar - z_mean**2 - np.exp(z_logvar))).mean(axis=0)
    floored = kl_dim < 0.09
    assert floored.any() and (~floored).any(), kl_dim


@pytest.mark.parametrize(
    "name", ["bernoulli", "gaussian-fixed", "gaussian-learned", "continuous-bernoulli",
             "categorical"])
def test_vae_iwae_grads(name):
    rng = np.random.default_rng(6)
    vae = make_vae(VAE_CASES[name])
    x = data(rng, 3, 5, vae.likelihood, vae.n_levels)
    eps = vae.sample_eps(3, rng, n_samples=5)
    loss = check_model_grads(vae, lambda: vae.loss_and_grads(x, eps, objective="iwae"))
    assert abs(loss + vae.iwae_bound(x, eps).mean()) < 1e-12 * max(1.0, abs(loss))


def test_score_estimator_decoder_grads_are_pathwise():
    """With estimator='score' only the encoder gradient changes: the decoder's equals the
    pathwise one (same eps) exactly, and so does the loss value."""
    rng = np.random.default_rng(7)
    vae = make_vae(VAE_CASES["gaussian-learned"])
    x = data(rng, 4, 5, "gaussian")
    eps = vae.sample_eps(4, rng, n_samples=2)
    loss_p, g_p = vae.loss_and_grads(x, eps)
    loss_s, g_s = vae.loss_and_grads(x, eps, estimator="score", baseline=1.5)
    assert loss_p == loss_s
    for key in g_p:
        if key.startswith("decoder"):
            np.testing.assert_array_equal(g_p[key], g_s[key])
        else:
            assert not np.allclose(g_p[key], g_s[key]), key
