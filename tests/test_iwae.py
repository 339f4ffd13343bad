"""The importance-weighted bound (Burda et al. 2015) on a trained VAE, both backends. Lesson 08."""

import numpy as np
import pytest
import sympy as sp

import vaelearn
from vaelearn.data import load_digits
from vaelearn.derive import Derivation, DerivationError


@pytest.fixture(scope="module")
def trained():
    d = load_digits()
    B = vaelearn.get_backend("numpy")
    vae = B.VAE(x_dim=64, hidden_dims=(32,), z_dim=4, seed=0)
    B.fit(vae, d.x_train, epochs=15, batch_size=256, lr=1e-2, progress=False, seed=0)
    return vae, d.x_test[:100]


def test_iwae_monotone_in_k_on_average(trained):
    # E[L_1] <= E[L_5] <= E[L_50] <= log p(x). Averaged over 100 test images and 20 repeats the
    # Monte Carlo error of each mean is far below the gaps (checked: gaps ~0.05-0.2 nats, standard
    # errors ~0.005 nats); the gaps must exceed 3 standard errors.
    vae, x = trained
    rng = np.random.default_rng(0)
    means, ses = [], []
    for k in (1, 5, 50):
        vals = np.array([vae.iwae_bound(x, vae.sample_eps(x.shape[0], rng, k)).mean()
                         for _ in range(20)])
        means.append(vals.mean())
        ses.append(vals.std(ddof=1) / np.sqrt(vals.size))
    for i in range(2):
        assert means[i + 1] - means[i] > 3 * np.hypot(ses[i], ses[i + 1])


def test_k1_bound_is_the_elbo_with_monte_carlo_kl(trained):
    # With one sample the bound is log p(x|z) + log p(z) - log q(z|x): the ELBO with an MC KL.
    vae, x = trained
    eps = vae.sample_eps(x.shape[0], np.random.default_rng(1))
    np.testing.assert_allclose(
        vae.iwae_bound(x, eps[None]), vae.elbo(x, eps, kl="mc").elbo, rtol=1e-12
    )


def test_iwae_above_elbo_in_the_wrong_direction_fails():
    # collapse.iwae_above_elbo itself verifies in tests/test_derivations.py
    a, b = sp.symbols("a b", positive=True)
    wrong = Derivation("wrong direction")
    wrong.step("The two-sample bound.", sp.log((a**2 + b**2) / 2), rule="given")
    wrong.step("Claimed below the ELBO.", (sp.log(a**2) + sp.log(b**2)) / 2, rule="le")
    with pytest.raises(DerivationError):
        wrong.verify()
