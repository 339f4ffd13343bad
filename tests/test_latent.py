"""vaelearn.latent: grid decoding, interpolation, prior samples and dataset encoding.

Oracles: a linear toy model where encode/decode are known matrices (so every output has a closed
form), the standard normal quantiles, and the trained model's own encode/decode called directly.
"""

from __future__ import annotations

import numpy as np
import pytest

import vaelearn
from vaelearn import data, latent

PPF_95 = 1.6448536269514722  # Phi^{-1}(0.95), standard normal quantile


class LinearModel:
    """encode(x) = (x @ E, log-variance -1), decode(z) = z @ D: everything has a closed form."""

    def __init__(self, x_dim=3, z_dim=2, seed=0):
        rng = np.random.default_rng(seed)
        self.x_dim, self.z_dim = x_dim, z_dim
        self.E = rng.standard_normal((x_dim, z_dim))
        self.D = rng.standard_normal((z_dim, x_dim))

    def encode(self, x):
        z = np.asarray(x) @ self.E
        return z, np.full_like(z, -1.0)

    def decode(self, z):
        return np.asarray(z) @ self.D


class IdentityDecoder(LinearModel):
    def __init__(self, z_dim=2):
        self.x_dim = self.z_dim = z_dim
        self.E = self.D = np.eye(z_dim)


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


@pytest.fixture(scope="module")
def trained(digits):
    B = vaelearn.get_backend("numpy")
    model = B.VAE(x_dim=64, hidden_dims=(32,), z_dim=2, seed=0)
    B.fit(model, digits.x_train, epochs=2, batch_size=64, progress=False)
    return model


def test_latent_grid_quantiles_and_linear():
    g = latent.latent_grid(5)
    assert g.shape == (5, 5, 2)
    # top-left is (smallest z1, largest z2): picture orientation
    assert g[0, 0] == pytest.approx([-PPF_95, PPF_95], abs=1e-12)
    assert g[-1, -1] == pytest.approx([PPF_95, -PPF_95], abs=1e-12)
    assert g[2, 2] == pytest.approx([0.0, 0.0], abs=1e-12)  # median of N(0, 1)
    h = latent.latent_grid(3, lim=3.0)
    assert h[:, :, 0].tolist() == [[-3.0, 0.0, 3.0]] * 3
    assert h[:, 0, 1].tolist() == [3.0, 0.0, -3.0]
    with pytest.raises(ValueError, match="lim"):
        latent.latent_grid(3, lim=-1)


def test_decode_grid_linear_model():
    m = LinearModel(x_dim=3, z_dim=2)
    out = latent.decode_grid(m, 4, lim=2.0)
    assert out.shape == (4, 4, 3)
    assert np.allclose(out, latent.latent_grid(4, 2.0) @ m.D, atol=1e-12)


def test_decode_grid_other_dims_and_base():
    m = LinearModel(x_dim=4, z_dim=3)
    base = np.array([0.5, -1.0, 2.0])
    out = latent.decode_grid(m, 3, lim=1.0, dims=(2, 0), z_base=base)
    g = latent.latent_grid(3, 1.0)
    z = np.broadcast_to(base, (3, 3, 3)).copy()
    z[..., 2], z[..., 0] = g[..., 0], g[..., 1]
    assert np.allclose(out, z @ m.D, atol=1e-12)
    with pytest.raises(ValueError, match="dims"):
        latent.decode_grid(m, 3, dims=(1, 1))
    with pytest.raises(ValueError, match="z_dim >= 2"):
        latent.decode_grid(LinearModel(3, 1), 3)
    with pytest.raises(ValueError, match="z_base"):
        latent.decode_grid(m, 3, z_base=[0.0, 1.0])


def test_interpolate_linear_model_closed_form():
    m = LinearModel()
    xa, xb = np.array([1.0, 0.0, 2.0]), np.array([-1.0, 3.0, 0.5])
    out = latent.interpolate(m, xa, xb, steps=5)
    t = np.linspace(0, 1, 5)[:, None]
    assert np.allclose(out, ((1 - t) * (xa @ m.E) + t * (xb @ m.E)) @ m.D, atol=1e-12)


def test_interpolate_slerp():
    m = IdentityDecoder(2)
    za, zb = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    out = latent.interpolate(m, za, zb, steps=3, method="slerp")
    # a quarter circle of radius 2: the midpoint is at 45 degrees, norm kept
    assert np.allclose(out, [[2, 0], [np.sqrt(2), np.sqrt(2)], [0, 2]], atol=1e-12)
    # parallel codes fall back to the straight line
    out = latent.interpolate(m, za, 2 * za, steps=3, method="slerp")
    assert np.allclose(out, [[2, 0], [3, 0], [4, 0]], atol=1e-12)


def test_interpolate_endpoints_trained_vae(trained, digits):
    xa, xb = digits.x_test[0], digits.x_test[1]
    out = latent.interpolate(trained, xa, xb, steps=6)
    assert out.shape == (6, 64)
    ends = trained.decode(trained.encode(digits.x_test[:2])[0])
    assert np.allclose(out[[0, -1]], ends, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="steps"):
        latent.interpolate(trained, xa, xb, steps=1)
    with pytest.raises(ValueError, match="x_a"):
        latent.interpolate(trained, digits.x_test[:2], xb)
    with pytest.raises(ValueError, match="method"):
        latent.interpolate(trained, xa, xb, method="cubic")


def test_decode_grid_trained_vae(trained):
    out = latent.decode_grid(trained, 7)
    assert out.shape == (7, 7, 64)
    assert np.all((out >= 0) & (out <= 1))  # Bernoulli means
    direct = trained.decode(latent.latent_grid(7).reshape(-1, 2)).reshape(7, 7, 64)
    assert np.allclose(out, direct, rtol=0, atol=1e-12)


def test_encode_dataset_batches_do_not_matter(trained, digits):
    full_mean, full_logvar = trained.encode(digits.x_test)
    z = latent.encode_dataset(trained, digits.x_test, batch_size=7)
    assert z.shape == (360, 2)
    assert np.allclose(z, full_mean, rtol=0, atol=1e-12)
    z2, lv = latent.encode_dataset(trained, digits.x_test, batch_size=1000, return_logvar=True)
    assert np.allclose(lv, full_logvar, rtol=0, atol=1e-12) and np.allclose(z2, full_mean)
    with pytest.raises(ValueError, match="'x' must have shape"):
        latent.encode_dataset(trained, digits.x_test[:, :10])
    with pytest.raises(ValueError, match="batch_size"):
        latent.encode_dataset(trained, digits.x_test, batch_size=0)


def test_encode_dataset_autoencoder(digits):
    B = vaelearn.get_backend("numpy")
    ae = B.Autoencoder(x_dim=64, hidden_dims=(16,), z_dim=3, seed=0)
    z = latent.encode_dataset(ae, digits.x_test, batch_size=50)
    assert z.shape == (360, 3) and np.allclose(z, ae.encode(digits.x_test), atol=1e-12)
    with pytest.raises(ValueError, match="logvar"):
        latent.encode_dataset(ae, digits.x_test, return_logvar=True)


def test_sample_prior_is_standard_normal_through_decoder():
    m = IdentityDecoder(2)
    z = latent.sample_prior(m, 20000, np.random.default_rng(0))
    assert z.shape == (20000, 2)
    # mean 0 (SE 1/sqrt(20000) = 0.007, allow 5 SE) and covariance I (SE ~ 0.01, allow 0.05)
    assert np.all(np.abs(z.mean(0)) < 0.036)
    assert np.allclose(np.cov(z.T), np.eye(2), atol=0.05)
    a = latent.sample_prior(m, 5, np.random.default_rng(1))
    b = latent.sample_prior(m, 5, np.random.default_rng(1))
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="rng"):
        latent.sample_prior(m, 5, 1)
    with pytest.raises(ValueError, match="'n'"):
        latent.sample_prior(m, 0, np.random.default_rng(1))


def test_sample_prior_trained_vae(trained):
    x = latent.sample_prior(trained, 10, np.random.default_rng(0))
    assert x.shape == (10, 64) and np.all((x >= 0) & (x <= 1))


def test_rejects_objects_that_are_not_models():
    with pytest.raises(ValueError, match="decode"):
        latent.sample_prior(object(), 3, np.random.default_rng(0))


def test_same_results_on_torch_backend(trained, digits):
    """The tools are backend-agnostic: a torch VAE with the same weights gives the same arrays."""
    pytest.importorskip("torch")
    T = vaelearn.get_backend("torch")
    tm = T.VAE(x_dim=64, hidden_dims=(32,), z_dim=2, seed=0)
    tm.set_params(trained.get_params())
    # float64 on both backends: agreement to ~1e-12 (rounding differences only)
    tol = dict(rtol=1e-10, atol=1e-12)
    for fn in (
        lambda m: latent.encode_dataset(m, digits.x_test, batch_size=100),
        lambda m: latent.decode_grid(m, 5),
        lambda m: latent.interpolate(m, digits.x_test[3], digits.x_test[4], 4, method="slerp"),
        lambda m: latent.sample_prior(m, 7, np.random.default_rng(2)),
    ):
        a, b = fn(trained), fn(tm)
        assert isinstance(b, np.ndarray)
        np.testing.assert_allclose(b, a, **tol)
