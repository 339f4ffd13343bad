"""vaelearn.autoencoders: PCA, principal angles, linear autoencoders, linear denoising (lesson 02).

Oracles: eigendecomposition of the covariance (numpy.linalg.eigh), scipy.linalg.subspace_angles,
numpy.linalg.lstsq, scipy.optimize.minimize_scalar, and hand-computable cases. The trained-model
tests compare B.Autoencoder + B.fit against those closed forms on both backends.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy import optimize

import vaelearn
from vaelearn import autoencoders as P


@pytest.fixture(scope="module")
def digits():
    return vaelearn.data.load_digits()


def _rng(seed=0):
    return np.random.default_rng(seed)


# --- PCA ------------------------------------------------------------------------------------------


def test_fit_pca_matches_covariance_eigendecomposition():
    rng = _rng(1)
    x = rng.standard_normal((200, 6)) @ rng.standard_normal((6, 6)) + 3.0
    pca = P.fit_pca(x, 3)
    cov = np.cov(x, rowvar=False, bias=True)  # 1/n covariance, as fit_pca documents
    evals, evecs = np.linalg.eigh(cov)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    # float64 SVD vs eigh of the same matrix: agreement ~1e-12 relative.
    np.testing.assert_allclose(pca.variances, evals, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pca.mean, x.mean(axis=0), rtol=1e-13)
    angles = scipy.linalg.subspace_angles(pca.components, evecs[:, :3])
    assert np.max(angles) < 1e-10
    np.testing.assert_allclose(pca.components.T @ pca.components, np.eye(3), atol=1e-13)
    # Sign convention: the largest-magnitude entry of each column is positive.
    assert np.all(pca.components[np.argmax(np.abs(pca.components), axis=0), range(3)] > 0)


def test_pca_reconstruction_error_is_discarded_variance():
    rng = _rng(2)
    x = rng.standard_normal((150, 5)) * np.array([3.0, 2.0, 1.0, 0.5, 0.1])
    evals = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False, bias=True)))[::-1]
    pca = P.fit_pca(x, 2)
    assert pca.residual_variance == pytest.approx(evals[2:].sum(), rel=1e-10)
    # encode/decode are the orthogonal projection: reconstructing twice changes nothing.
    r = pca.reconstruct(x)
    np.testing.assert_allclose(pca.reconstruct(r), r, atol=1e-12)


@pytest.mark.parametrize(
    "x, k, match",
    [
        (np.ones(5), 1, "'x' must be a 2-D"),
        (np.full((4, 3), np.nan), 1, "'x' contains NaN"),
        (np.ones((4, 3)), 0, "'k' must be between"),
        (np.ones((4, 3)), 4, "'k' must be between"),
        (np.ones((4, 3)), 1.5, "'k' must be an integer"),
    ],
)
def test_fit_pca_rejects_bad_input(x, k, match):
    with pytest.raises(ValueError, match=match):
        P.fit_pca(x, k)


def test_pca_encode_rejects_wrong_width():
    pca = P.fit_pca(_rng().standard_normal((10, 4)), 2)
    with pytest.raises(ValueError, match="'x' must have 4 columns"):
        pca.encode(np.ones((3, 5)))
    with pytest.raises(ValueError, match="'z' must have 2 columns"):
        pca.decode(np.ones((3, 3)))


# --- principal angles -----------------------------------------------------------------------------


def test_principal_angles_of_two_lines_in_the_plane():
    for theta in (0.0, 1e-9, 1e-4, 0.3, np.pi / 4, 1.2, np.pi / 2):
        a = np.array([[1.0], [0.0]])
        b = np.array([[np.cos(theta)], [np.sin(theta)]]) * 7.0  # scale must not matter
        got = P.principal_angles(a, b)
        # Tiny angles come from the sine, so even 1e-9 rad is resolved to ~1e-16 absolute.
        assert got.shape == (1,)
        assert abs(got[0] - theta) < 1e-15 + 1e-12 * theta


def test_principal_angles_match_scipy_on_random_subspaces():
    rng = _rng(3)
    for k, l in ((1, 1), (3, 3), (2, 5), (5, 2)):
        a = rng.standard_normal((9, k))
        b = rng.standard_normal((9, l))
        got = P.principal_angles(a, b)
        want = np.sort(scipy.linalg.subspace_angles(a, b))  # scipy returns them decreasing
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_principal_angles_zero_when_contained_and_basis_free():
    rng = _rng(4)
    a = rng.standard_normal((7, 3))
    mix = rng.standard_normal((3, 3))  # any invertible change of basis spans the same subspace
    np.testing.assert_allclose(P.principal_angles(a, a @ mix), 0.0, atol=1e-12)
    np.testing.assert_allclose(P.principal_angles(a, a[:, :2]), 0.0, atol=1e-12)


def test_principal_angles_reject_bad_input():
    with pytest.raises(ValueError, match="same number of rows"):
        P.principal_angles(np.ones((3, 1)), np.ones((4, 1)))
    with pytest.raises(ValueError, match="rank 0"):
        P.principal_angles(np.zeros((3, 1)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="'b' contains NaN"):
        P.principal_angles(np.ones((3, 1)), np.array([[1.0], [np.nan], [0.0]]))


# --- linear autoencoder parameters ----------------------------------------------------------------


def _fake_linear_ae(rng, x_dim=6, z_dim=2, hidden=()):
    """A parameter dict in the Autoencoder key layout, and an independent forward pass."""
    params = {}
    dims = (x_dim, *hidden)
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        params[f"encoder.{i}.W"] = rng.normal(size=(a, b))
        params[f"encoder.{i}.b"] = rng.normal(size=b)
    params["encoder.out.W"] = rng.normal(size=(dims[-1], z_dim))
    params["encoder.out.b"] = rng.normal(size=z_dim)
    ddims = (z_dim, *hidden[::-1])
    for i, (a, b) in enumerate(zip(ddims[:-1], ddims[1:], strict=True)):
        params[f"decoder.{i}.W"] = rng.normal(size=(a, b))
        params[f"decoder.{i}.b"] = rng.normal(size=b)
    params["decoder.out.W"] = rng.normal(size=(ddims[-1], x_dim))
    params["decoder.out.b"] = rng.normal(size=x_dim)

    def forward(p, x):
        h = x
        for i in range(len(hidden)):
            h = h @ p[f"encoder.{i}.W"] + p[f"encoder.{i}.b"]
        z = h @ p["encoder.out.W"] + p["encoder.out.b"]
        h = z
        for i in range(len(hidden)):
            h = h @ p[f"decoder.{i}.W"] + p[f"decoder.{i}.b"]
        return z, h @ p["decoder.out.W"] + p["decoder.out.b"]

    return params, forward


@pytest.mark.parametrize("hidden", [(), (5,), (5, 4)])
def test_linear_autoencoder_weights_compose_the_layers(hidden):
    rng = _rng(5)
    params, forward = _fake_linear_ae(rng, hidden=hidden)
    w = P.linear_autoencoder_weights(params)
    x = rng.normal(size=(4, 6))
    z, x_hat = forward(params, x)
    np.testing.assert_allclose(x @ w["W_enc"] + w["b_enc"], z, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(z @ w["W_dec"] + w["b_dec"], x_hat, rtol=1e-12, atol=1e-12)
    assert P.linear_autoencoder_basis(params).shape == (6, 2)


@pytest.mark.parametrize("hidden", [(), (5,)])
def test_rotation_leaves_reconstruction_unchanged_and_rotates_codes(hidden):
    rng = _rng(6)
    params, forward = _fake_linear_ae(rng, hidden=hidden)
    theta = 0.7
    r = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    rotated = P.rotate_linear_autoencoder(params, r)
    x = rng.normal(size=(5, 6))
    z, x_hat = forward(params, x)
    z_r, x_hat_r = forward(rotated, x)
    np.testing.assert_allclose(x_hat_r, x_hat, atol=1e-12)
    np.testing.assert_allclose(z_r, z @ r, atol=1e-12)
    assert sorted(rotated) == sorted(params)
    # The codes really changed: the axes are not identified, only the subspace is.
    assert np.max(np.abs(z_r - z)) > 0.1


def test_rotation_rejects_bad_matrix():
    params, _ = _fake_linear_ae(_rng(7))
    with pytest.raises(ValueError, match=r"'r' must have shape \(2, 2\)"):
        P.rotate_linear_autoencoder(params, np.eye(3))
    with pytest.raises(ValueError, match="'r' must be invertible"):
        P.rotate_linear_autoencoder(params, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="no 'encoder.out.W'"):
        P.linear_autoencoder_weights({"a.W": np.eye(2)})


def test_optimal_decoder_matches_lstsq():
    rng = _rng(8)
    z = rng.normal(size=(50, 3)) + 2.0
    x = rng.normal(size=(50, 7))
    w, b = P.optimal_decoder(z, x)
    aug = np.column_stack([z, np.ones(50)])
    sol, *_ = np.linalg.lstsq(aug, x, rcond=None)
    np.testing.assert_allclose(w, sol[:3], atol=1e-12)
    np.testing.assert_allclose(b, sol[3], atol=1e-12)
    with pytest.raises(ValueError, match="singular"):
        P.optimal_decoder(np.column_stack([z[:, 0], 2 * z[:, 0]]), x)
    with pytest.raises(ValueError, match="same number of rows"):
        P.optimal_decoder(z, x[:10])


def test_optimal_decoder_for_pca_codes_is_pca_decoder():
    # For orthonormal PCA codes the least-squares decoder is the transpose of the encoder.
    x = _rng(9).normal(size=(80, 5)) @ np.diag([3, 2, 1, 0.5, 0.2])
    pca = P.fit_pca(x, 2)
    w, b = P.optimal_decoder(pca.encode(x), x)
    np.testing.assert_allclose(w, pca.components.T, atol=1e-12)
    np.testing.assert_allclose(b, pca.mean, atol=1e-12)


# --- optimal linear denoiser ----------------------------------------------------------------------


def test_denoiser_scale_closed_form_and_minimiser():
    assert P.optimal_linear_denoiser_scale(1.0, 1.0) == 0.5
    assert P.optimal_linear_denoiser_scale(4.0, 0.0) == 1.0
    for s2, n2 in ((1.0, 0.25), (0.3, 2.0), (5.0, 1.0)):
        # Independent oracle: numerically minimise E(x - a y)^2 = s2 (1 - a)^2 + a^2 n2.
        res = optimize.minimize_scalar(lambda a: s2 * (1 - a) ** 2 + a**2 * n2,  # noqa: B023
                                       bounds=(0, 1), method="bounded",
                                       options={"xatol": 1e-12})
        assert P.optimal_linear_denoiser_scale(s2, n2) == pytest.approx(res.x, abs=1e-8)
    np.testing.assert_allclose(P.optimal_linear_denoiser_scale([1.0, 3.0], 1.0), [0.5, 0.75])


def test_denoiser_scale_rejects_bad_variances():
    with pytest.raises(ValueError, match="'signal_var' must be positive"):
        P.optimal_linear_denoiser_scale(0.0, 1.0)
    with pytest.raises(ValueError, match="'noise_var' must be non-negative"):
        P.optimal_linear_denoiser_scale(1.0, -1.0)
    with pytest.raises(ValueError, match="'signal_var'"):
        P.optimal_linear_denoiser_scale(np.nan, 1.0)


def test_linear_gaussian_data_has_the_asked_scales():
    x = P.linear_gaussian_denoising_data(20000, [0.5, 1.0, 2.0], _rng(11))
    # Sample std of 20000 normals: relative standard error 1/sqrt(2n) = 0.5%; allow 3%.
    np.testing.assert_allclose(x.std(axis=0), [0.5, 1.0, 2.0], rtol=0.03)
    with pytest.raises(ValueError, match="'signal_std' must be positive"):
        P.linear_gaussian_denoising_data(3, [1.0, 0.0], _rng())
    with pytest.raises(ValueError, match="'rng'"):
        P.linear_gaussian_denoising_data(3, [1.0], 0)


# --- corruption -----------------------------------------------------------------------------------


def test_gaussian_corruption_statistics_and_determinism():
    x = np.full((4000, 8), 0.5)
    y = P.gaussian_corruption(0.3)(x, _rng(12))
    # 32000 draws: the std estimate's relative standard error is 0.4%; allow 2%.
    assert np.std(y - x) == pytest.approx(0.3, rel=0.02)
    assert abs(np.mean(y - x)) < 0.01  # standard error 0.3/sqrt(32000) = 0.0017
    np.testing.assert_array_equal(y, P.gaussian_corruption(0.3)(x, _rng(12)))
    with pytest.raises(ValueError, match="'noise_std'"):
        P.gaussian_corruption(-1.0)


def test_masking_corruption_zeroes_a_fraction():
    x = np.ones((4000, 8))
    y = P.masking_corruption(0.25)(x, _rng(13))
    assert set(np.unique(y)) <= {0.0, 1.0}
    # Binomial(32000, 0.25): standard error of the fraction 0.0024; allow 0.01.
    assert np.mean(y == 0) == pytest.approx(0.25, abs=0.01)
    with pytest.raises(ValueError, match="'drop_prob'"):
        P.masking_corruption(1.0)


def test_corruption_accepts_torch_batches():
    torch = pytest.importorskip("torch")
    x = torch.full((3, 4), 0.5, dtype=torch.float64)
    for corrupt in (P.gaussian_corruption(0.2), P.masking_corruption(0.5)):
        y = corrupt(x, _rng(14))
        assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
        # Same rng -> same noise as the NumPy path: both backends see identical batches.
        np.testing.assert_allclose(y.numpy(), corrupt(x.numpy(), _rng(14)), atol=0)


# --- trained models against the closed forms (the numbers lesson 02 relies on) -------------------

# Lesson 02's recipe: centred digits, full-batch Adam, 300 steps at lr 3e-2 then 300 at 3e-3.
LINEAR_AE_SCHEDULE = ((3e-2, 300), (3e-3, 300))


def _train_linear_ae(B, x, z_dim, schedule=LINEAR_AE_SCHEDULE):
    ae = B.Autoencoder(x.shape[1], hidden_dims=(), z_dim=z_dim, linear=True, seed=0)
    for lr, epochs in schedule:
        B.fit(ae, x, epochs=epochs, batch_size=x.shape[0], lr=lr, progress=False)
    return ae


@pytest.mark.parametrize("z_dim", [2, 8])
def test_linear_autoencoder_trained_by_gradient_descent_spans_pca_subspace(digits, z_dim):
    B = vaelearn.get_backend("numpy")
    x = digits.x_train - digits.x_train.mean(axis=0)
    ae = _train_linear_ae(B, x, z_dim)
    pca = P.fit_pca(x, z_dim)
    angles = P.principal_angles(P.linear_autoencoder_basis(ae.get_params()), pca.components)
    # Measured: largest angle 6e-6 (z=2) and 3e-7 (z=8) rad (with 200 + 200 steps z=8 is still
    # at 2e-3, so the recipe is not padded much); the lesson's claim is < 1e-3.
    assert angles.max() < 1e-3
    # Its loss (squared error summed over pixels) reaches PCA's discarded variance; the
    # remaining gap is second order in the angle (~1e-9 relative here), allow 1e-6.
    assert ae.loss(x).mean() == pytest.approx(pca.residual_variance, rel=1e-6)
    # ... and never beats it (Eckart-Young): PCA is optimal among rank-k linear maps.
    assert ae.loss(x).mean() >= pca.residual_variance * (1 - 1e-12)


@pytest.mark.parametrize("linear", [True, False])
def test_rotating_the_codes_of_a_real_autoencoder_changes_nothing(digits, backend, linear):
    hidden = () if linear else (16,)
    ae = backend.Autoencoder(64, hidden_dims=hidden, z_dim=3, linear=linear, seed=1)
    x = digits.x_test[:20]
    z, x_hat = ae.encode(x), ae.decode(ae.encode(x))
    q, _ = np.linalg.qr(np.random.default_rng(15).normal(size=(3, 3)))  # a random orthogonal R
    ae.set_params(P.rotate_linear_autoencoder(ae.get_params(), q))
    np.testing.assert_allclose(np.asarray(ae.encode(x)), z @ q, atol=1e-12)
    np.testing.assert_allclose(np.asarray(ae.decode(ae.encode(x))), x_hat, atol=1e-12)


def test_trained_linear_denoiser_matches_optimal_scale():
    """Lesson 02: a linear DAE on x_j ~ N(0, s_j^2), noise sigma_n, learns s^2/(s^2+sigma_n^2)."""
    B = vaelearn.get_backend("numpy")
    signal_std = np.array([0.25, 0.5, 1.0, 2.0])
    noise_std = 0.5
    x = P.linear_gaussian_denoising_data(4000, signal_std, np.random.default_rng(0))
    ae = B.Autoencoder(4, hidden_dims=(), z_dim=4, linear=True, seed=0)
    for i, (lr, epochs) in enumerate(((3e-2, 100), (3e-3, 100), (3e-4, 100))):
        B.fit(ae, x, epochs=epochs, batch_size=500, lr=lr, progress=False, seed=i,
              corrupt=P.gaussian_corruption(noise_std))
    w = P.linear_autoencoder_weights(ae.get_params())
    learned = w["W_enc"] @ w["W_dec"]
    want = P.optimal_linear_denoiser_scale(signal_std**2, noise_std**2)  # 0.2, 0.5, 0.8, 0.94
    # Sampling error of 4000 clean examples plus fresh noise per batch: measured max deviation
    # 0.005 from the population optimum; allow 0.02 on the diagonal and off it.
    np.testing.assert_allclose(np.diag(learned), want, atol=0.02)
    np.testing.assert_allclose(learned - np.diag(np.diag(learned)), 0.0, atol=0.02)


# --- lesson 02's pictures (smoke tests: they draw, stay small, reject bad shapes) -----------------


def test_lesson02_plots_draw_small_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vaelearn import plotting

    rng = _rng(16)
    figs = [
        plotting.image_rows({"a": rng.random((5, 64)), "b": rng.random((5, 64))}),
        plotting.basis_images({"pca": rng.normal(size=(64, 3))}),
        plotting.error_vs_latent_size([2, 4], {"PCA": [3.0, 2.0], "AE": [2.0, 1.0]}),
        plotting.shrinkage_plot([0.1, 1.0], [0.1, 0.8], 0.25),
    ]
    for fig in figs:
        w, h = fig.get_size_inches()
        assert w <= 8 and h <= 3 and fig.dpi == 150
        plt.close(fig)
    with pytest.raises(ValueError, match="same number of images|differ in their number"):
        plotting.image_rows({"a": rng.random((5, 64)), "b": rng.random((4, 64))})
    with pytest.raises(ValueError, match=r"shape \(n, 64\)"):
        plotting.image_rows({"a": rng.random((5, 63))})
    with pytest.raises(ValueError, match="has 1 values for 2 sizes"):
        plotting.error_vs_latent_size([2, 4], {"PCA": [3.0]})


# --- lesson 02: the noising chain of a diffusion model ------------------------------------------


def test_cumulative_signal_fraction_is_the_product_of_the_kept_fractions():
    import math

    betas = [1e-4, 0.02, 0.3, 0.5, 0.9]
    want, prod = [], 1.0
    for b in betas:  # a plain loop in Python floats, no NumPy
        prod *= 1.0 - b
        want.append(prod)
    np.testing.assert_allclose(P.cumulative_signal_fraction(betas), want, rtol=1e-13)
    # tiny betas over a long chain: log1p keeps full precision (1 - 1e-12 loses 4 digits)
    got = P.cumulative_signal_fraction(np.full(1000, 1e-12))[-1]
    assert got == pytest.approx(math.exp(-1e-9), rel=1e-15)
    for bad in ([], [0.0, 0.1], [1.0], [[0.1]], [np.nan]):
        with pytest.raises(ValueError, match="'betas'"):
            P.cumulative_signal_fraction(bad)


def test_noise_chain_matches_the_one_shot_formula():
    rng = np.random.default_rng(2)
    x0 = rng.uniform(size=(4000, 16))
    betas = np.linspace(0.05, 0.3, 6)
    chain = P.noise_chain(x0, betas, np.random.default_rng(3))
    assert chain.shape == (6, 4000, 16)
    alpha_bar = P.cumulative_signal_fraction(betas)
    for t in (0, 5):
        # x_t - sqrt(alpha_bar_t) x_0 must be pure N(0, 1 - alpha_bar_t) noise, independent of x_0
        noise = chain[t] - np.sqrt(alpha_bar[t]) * x0
        # 64,000 draws: standard error of the mean sqrt(v / n) < 0.004, of the variance
        # v sqrt(2 / n) < 0.006, of the correlation 1 / sqrt(n) = 0.004; allow 4-5 of them
        assert abs(noise.mean()) < 0.02
        assert noise.var() == pytest.approx(1 - alpha_bar[t], abs=0.025)
        assert abs(np.corrcoef(noise.ravel(), x0.ravel())[0, 1]) < 0.02
    # the first step by hand, from the same generator stream
    eps = np.random.default_rng(3).standard_normal(x0.shape)
    np.testing.assert_allclose(chain[0], np.sqrt(1 - betas[0]) * x0 + np.sqrt(betas[0]) * eps,
                               rtol=1e-14)
    with pytest.raises(ValueError, match="'rng'"):
        P.noise_chain(x0, betas, 0)
