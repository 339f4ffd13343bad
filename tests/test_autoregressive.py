"""The autoregressive (MADE) decoder and its VAE (lesson 07, issue 19 "PixelCNN decoders").

Oracles, none of them the code under test:

- the autoregressive property by autograd: the Jacobian of logit i with respect to x_j, computed
  by torch for every (i, j), is exactly 0 for j >= i (and, with ``context=c``, for j < i - c);
- the masks against a loop over the degrees written here from Germain et al. 2015, section 4;
- the NumPy gradients against central finite differences (float64; tolerance as in
  tests/test_numpy_grads.py: a correct gradient shows ~1e-9 relative error, we require < 1e-6);
- NumPy against torch (loss, gradients, samples, five epochs of ``fit``): the tolerances of
  tests/test_parity.py (1e-10 relative for one evaluation, 1e-8 after training);
- log p(x|z) against a product of conditionals computed pixel by pixel with a network that is
  given only x_<i (the later pixels replaced by random values: they must not matter);
- ancestral samples against the exact distribution p(x|z) enumerated over all 2^D images of a
  D = 4 model (a chi-square test at a fixed seed).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

import vaelearn
from vaelearn.data import load_digits

NP = vaelearn.get_backend("numpy")
torch = pytest.importorskip("torch")
TH = vaelearn.get_backend("torch")

H = 1e-6  # central-difference step (tests/test_numpy_grads.py)
FD_TOL = 1e-6
RTOL = 1e-10  # one evaluation, NumPy vs torch (tests/test_parity.py)
RTOL_FIT = 1e-8  # after training (tests/test_parity.py)


def _binary(n, d, seed=0):
    return (np.random.default_rng(seed).random((n, d)) < 0.5).astype(np.float64)


def _rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(np.abs(a).max(initial=0), np.abs(b).max(initial=0))
    return 0.0 if scale == 0 else float(np.abs(a - b).max() / scale)


# ------------------------------------------------------------------------------------- masks


def _masks_by_loops(x_dim, hidden_dim, context=None):
    """Germain et al.'s rule written as loops: degrees 1..D for pixels, k mod D for units."""
    m_in = np.zeros((x_dim, hidden_dim))
    m_out = np.zeros((hidden_dim, x_dim))
    for k in range(hidden_dim):
        m_k = k % x_dim
        for i in range(x_dim):
            reads = i + 1 <= m_k and (context is None or i + 1 > m_k - context)
            m_in[i, k] = 1.0 if reads else 0.0
            feeds = m_k < i + 1 if context is None else m_k == i
            m_out[k, i] = 1.0 if feeds else 0.0
    return m_in, m_out


@pytest.mark.parametrize("B", [NP, TH], ids=["numpy", "torch"])
@pytest.mark.parametrize("x_dim,hidden_dim,context", [(4, 6, None), (7, 20, None), (5, 3, None),
                                                      (6, 13, 2), (9, 30, 1)])
def test_masks_match_the_degree_rule(B, x_dim, hidden_dim, context):
    got = B.made_masks(x_dim, hidden_dim, context)
    want = _masks_by_loops(x_dim, hidden_dim, context)
    assert got[0].shape == (x_dim, hidden_dim) and got[1].shape == (hidden_dim, x_dim)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def _jacobian(made, x, z):
    """d logit_i / d x_j for every i, j (torch autograd), shape (x_dim, x_dim), at one example."""
    xt = torch.tensor(x, dtype=torch.float64)
    zt = torch.tensor(z, dtype=torch.float64)
    return torch.autograd.functional.jacobian(lambda v: made(v[None], zt[None])[0], xt).numpy()


@pytest.mark.parametrize("context", [None, 1, 3])
def test_autoregressive_property_by_autograd(context):
    # tanh: no dead units, so every allowed connection has a nonzero derivative
    made = TH.MADE(7, 40, z_dim=2, context=context, activation="tanh", seed=3)
    rng = np.random.default_rng(0)
    jac = _jacobian(made, rng.standard_normal(7), rng.standard_normal(2))
    i, j = np.indices(jac.shape)
    allowed = j < i
    if context is not None:
        allowed &= j >= i - context
    assert np.all(jac[~allowed] == 0.0)  # exactly zero: no path, not a small number
    assert np.all(np.abs(jac[allowed]) > 1e-8)  # and every allowed pixel is used
    # z reaches every logit, the first one included (units of degree 0 read only z)
    zt = torch.tensor(rng.standard_normal((1, 2)), requires_grad=True)
    made(torch.zeros((1, 7), dtype=torch.float64), zt).sum().backward()
    assert np.all(np.abs(zt.grad.numpy()) > 0)


def test_autoregressive_property_by_perturbation_numpy():
    made = NP.MADE(6, 25, z_dim=2, activation="tanh", seed=4)
    rng = np.random.default_rng(1)
    x, z = _binary(1, 6, seed=2), rng.standard_normal((1, 2))
    base = made(x, z)
    for j in range(6):
        flipped = x.copy()
        flipped[0, j] = 1 - flipped[0, j]
        change = np.abs(made(flipped, z) - base)[0]
        assert np.all(change[: j + 1] == 0.0), j  # logits 0..j never see x_j
        assert np.all(change[j + 1 :] > 0), j


# --------------------------------------------------------------------------- finite differences


def _fd_check(model, loss_fn):
    _, grads = loss_fn()
    assert set(grads) == set(model.params)
    for key, p in model.params.items():
        g_fd = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + H
            fp = loss_fn()[0]
            p[idx] = old - H
            fm = loss_fn()[0]
            p[idx] = old
            g_fd[idx] = (fp - fm) / (2 * H)
        denom = np.linalg.norm(g_fd) + np.linalg.norm(grads[key])
        err = 0.0 if denom == 0 else np.linalg.norm(g_fd - grads[key]) / denom
        assert err < FD_TOL, f"{key}: relative error {err:.2e}"


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(beta=2.0, free_bits=0.3, hidden_dims=(5, 4), activation="tanh"),
    dict(context=2, activation="softplus", hidden_dims=()),
])
def test_numpy_gradients_match_finite_differences(kwargs):
    kw = {"hidden_dims": (7,), **kwargs}
    model = NP.AutoregressiveVAE(6, z_dim=3, made_hidden=9, seed=1, **kw)
    x = _binary(5, 6)
    eps = np.random.default_rng(3).standard_normal((2, 5, 3))  # two samples of z per example
    _fd_check(model, lambda: model.loss_and_grads(x, eps))


def test_made_backward_matches_finite_differences():
    made = NP.MADE(5, 11, z_dim=2, activation="tanh", seed=2)
    rng = np.random.default_rng(5)
    x, z = rng.standard_normal((4, 5)), rng.standard_normal((3, 4, 2))
    d_logits = rng.standard_normal((3, 4, 5))
    _, cache = made.forward(x, z)
    dx, dz, grads = made.backward(d_logits, cache)

    def f():
        return float(np.sum(made(x, z) * d_logits))

    for arr, g in [(x, dx), (z, dz)] + [(made.params[k], grads[k]) for k in made.params]:
        g_fd = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + H
            fp = f()
            arr[idx] = old - H
            fm = f()
            arr[idx] = old
            g_fd[idx] = (fp - fm) / (2 * H)
        assert np.linalg.norm(g - g_fd) <= FD_TOL * (np.linalg.norm(g) + np.linalg.norm(g_fd))


# ------------------------------------------------------------------------------------- parity


def _as_np(v):
    return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)


def _case(B):
    model = B.AutoregressiveVAE(8, hidden_dims=(6,), z_dim=3, made_hidden=13, beta=1.5,
                                free_bits=0.05, seed=7)
    x = _binary(6, 8, seed=4)
    rng = np.random.default_rng(8)
    eps = model.sample_eps(6, rng, n_samples=2)
    loss, grads = model.loss_and_grads(x, eps)
    z = rng.standard_normal((6, 3))
    out = {"loss": loss, **grads, "init": model.get_params()}
    out.update(elbo=tuple(model.elbo(x, eps)), enc=model.encode(x), logits=model.logits(x, z),
               log_px=model.log_px_given_z(x, z),
               samples=model.sample(50, np.random.default_rng(9)),
               given_z=model.sample_given_z(z, rng.random((6, 8))))
    return out


def _leaves(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, f"{prefix}{k}.")
    elif isinstance(tree, tuple):
        for i, v in enumerate(tree):
            yield from _leaves(v, f"{prefix}{i}.")
    else:
        yield prefix, _as_np(tree)


def test_fit_lowers_the_test_loss_and_keeps_history():
    # (NumPy and torch agree after this fit: the case "fit-autoregressive" of tests/test_parity.py)
    d = load_digits()
    x_train, x_test = (d.x_train[:300] > 0.5) * 1.0, (d.x_test[:80] > 0.5) * 1.0
    m = NP.AutoregressiveVAE(64, hidden_dims=(16,), z_dim=2, made_hidden=64, seed=5)
    hist = NP.fit(m, x_train, x_test, epochs=5, batch_size=64, lr=1e-2, progress=False,
                  seed=0, beta_schedule=lambda e: min(1.0, 0.25 * (e + 1)))
    assert set(hist) >= {"train_loss", "train_kl", "test_loss", "test_kl", "beta"}
    assert list(hist["beta"]) == [0.25, 0.5, 0.75, 1.0, 1.0]
    # training did something: the test -ELBO fell
    assert hist["test_loss"][-1] < hist["test_loss"][0] - 1


# ------------------------------------------------------------------------- log-likelihood oracle


@pytest.mark.parametrize("B", [NP, TH], ids=["numpy", "torch"])
def test_log_likelihood_is_the_product_of_conditionals(B):
    model = B.AutoregressiveVAE(6, hidden_dims=(5,), z_dim=2, made_hidden=17, seed=2)
    made = model._made
    x = _binary(4, 6, seed=6)
    z = np.random.default_rng(7).standard_normal((4, 2))
    rng = np.random.default_rng(8)
    log_p = np.zeros(4)
    for i in range(6):
        # the network sees x_<i and garbage from pixel i on: logit i must not care
        seen = x.copy()
        seen[:, i:] = rng.standard_normal((4, 6 - i))
        p1 = 1 / (1 + np.exp(-_as_np(made(seen, z))[:, i]))
        log_p += np.log(np.where(x[:, i] == 1, p1, 1 - p1))
    got = _as_np(model.log_px_given_z(x, z))
    np.testing.assert_allclose(got, log_p, rtol=1e-12, atol=1e-12)  # float64, 6 terms


def test_log_likelihood_is_stable_at_huge_logits():
    model = NP.AutoregressiveVAE(4, hidden_dims=(3,), z_dim=1, made_hidden=8, seed=0)
    params = model.get_params()
    params["decoder.out.b"] = np.array([800.0, -800.0, 800.0, -800.0])
    model.set_params(params)
    x = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    got = model.log_px_given_z(x, np.zeros((2, 1)))
    assert np.all(np.isfinite(got))
    assert abs(got[0]) < 1e-6  # the likely image: log 1 (up to the small hidden contribution)
    assert got[1] < -3000  # the unlikely one: about -4 * 800 nats, finite


# ------------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("B", [NP, TH], ids=["numpy", "torch"])
def test_samples_follow_the_conditionals(B):
    """Draw 20,000 images from p(x|z) at one z and compare with the exact 16-image distribution."""
    model = B.AutoregressiveVAE(4, hidden_dims=(3,), z_dim=2, made_hidden=12, seed=11)
    params = model.get_params()
    params["decoder.in.W"] *= 4  # strong dependence on the previous pixels
    params["decoder.out.W"] *= 4
    model.set_params(params)
    z1 = np.array([[0.7, -1.2]])
    images = np.array(list(itertools.product([0.0, 1.0], repeat=4)))
    exact = np.exp(_as_np(model.log_px_given_z(images, np.repeat(z1, 16, axis=0))))
    assert abs(exact.sum() - 1) < 1e-12  # the conditionals define a normalised distribution
    n = 20_000
    rng = np.random.default_rng(0)
    x = _as_np(model.sample_given_z(np.repeat(z1, n, axis=0), rng.random((n, 4))))
    assert set(np.unique(x)) <= {0.0, 1.0}
    codes = (x @ np.array([8, 4, 2, 1])).astype(int)
    counts = np.bincount(codes, minlength=16)
    _, p_value = stats.chisquare(counts, n * exact)
    assert p_value > 1e-3  # fixed seed: a fair test fails by chance with probability 1e-3
    assert exact.max() > 3 * exact.min()  # the distribution is far from uniform: a real test


def test_sampling_is_teacher_forcing_run_forward():
    """A sample drawn with uniforms u is the one image whose teacher-forced probabilities put
    every u_i on the sampled side: x_i = 1 exactly when u_i < sigmoid(logit_i(x_<i, z))."""
    model = NP.AutoregressiveVAE(10, hidden_dims=(6,), z_dim=2, made_hidden=30, seed=3)
    rng = np.random.default_rng(4)
    z, u = rng.standard_normal((200, 2)), rng.random((200, 10))
    x = model.sample_given_z(z, u)
    p = 1 / (1 + np.exp(-model.logits(x, z)))
    np.testing.assert_array_equal(x == 1, u < p)


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("B", [NP, TH], ids=["numpy", "torch"])
def test_bad_input_names_the_argument(B):
    model = B.AutoregressiveVAE(4, hidden_dims=(3,), z_dim=2, made_hidden=8)
    x = _binary(3, 4)
    eps = np.zeros((3, 2))
    cases = [
        (lambda: model.loss_and_grads(x * 0.5 + 0.25, eps), "'x'"),  # grey, not binary
        (lambda: model.loss_and_grads(x[:, :3], eps), "'x'"),
        (lambda: model.loss_and_grads(x, eps[:2]), "'eps'"),
        (lambda: model.loss_and_grads(x, eps, estimator="score"), "'estimator'"),
        (lambda: model.loss_and_grads(x, eps, objective="iwae"), "'objective'"),
        (lambda: model.logits(x, np.zeros((3, 5))), "'z'"),
        (lambda: model.sample_given_z(np.zeros((3, 2)), np.full((3, 4), np.nan)), "'u'"),
        (lambda: model.sample(2, 0), "'rng'"),
        (lambda: B.AutoregressiveVAE(4, context=0), "'context'"),
        (lambda: B.AutoregressiveVAE(4, made_hidden=2.5), "'made_hidden'"),
        (lambda: B.AutoregressiveVAE(4, free_bits=-1.0), "'free_bits'"),
        (lambda: B.AutoregressiveVAE(4, beta=float("nan")), "'beta'"),
        (lambda: B.made_masks(0, 4), "'x_dim'"),
        (lambda: B.MaskedLinear(3, 2, np.ones((2, 3))), "'mask'"),
        (lambda: B.MaskedLinear(3, 2, np.full((3, 2), 0.5)), "'mask'"),
        (lambda: B.MADE(4, 8, z_dim=2)(x), "'z'"),
        (lambda: model.set_params({"nope": 1}), "'params'"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()


def test_masked_weights_stay_zero_through_training():
    d = load_digits()
    x = (d.x_train[:128] > 0.5) * 1.0
    model = NP.AutoregressiveVAE(64, hidden_dims=(8,), z_dim=2, made_hidden=64, seed=0)
    NP.fit(model, x, epochs=2, batch_size=64, progress=False)
    m_in, m_out = NP.made_masks(64, 64)
    assert np.all(model.params["decoder.in.W"][m_in == 0] == 0)
    assert np.all(model.params["decoder.out.W"][m_out == 0] == 0)


def test_encoder_is_the_vae_encoder_at_the_same_seed():
    """Same seed, same encoder weights as VAE: the lesson compares decoders, nothing else."""
    vae = NP.VAE(64, hidden_dims=(32,), z_dim=4, seed=3).get_params()
    ar = NP.AutoregressiveVAE(64, hidden_dims=(32,), z_dim=4, seed=3).get_params()
    enc = [k for k in vae if k.startswith("encoder.")]
    assert enc and all(np.array_equal(vae[k], ar[k]) for k in enc)


# ------------------------------------------------------------------------------------- figure


def test_kl_per_epoch_plot_draws_the_curves():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vaelearn import plotting

    curves = {"MLP decoder": [0.5, 2.0, 3.1], "MADE decoder": [0.4, 0.2, 0.15]}
    fig = plotting.kl_per_epoch(curves)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    for line, values in zip(ax.get_lines(), curves.values(), strict=True):
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
        np.testing.assert_array_equal(line.get_ydata(), values)
    w, h = fig.get_size_inches()
    assert w <= 8 and h <= 3
    plt.close(fig)
    with pytest.raises(ValueError, match="curves"):
        plotting.kl_per_epoch({"a": [0.1, 0.0]})
    with pytest.raises(ValueError, match="curves"):
        plotting.kl_per_epoch({})


# --------------------------------------------------------------------------------- derivation


def test_ignoring_decoder_derivation_verifies_and_a_wrong_optimum_fails():
    import sympy as sp

    from vaelearn import derivations
    from vaelearn.derive import Derivation, DerivationError

    d = derivations.collapse.ignoring_decoder_optimum()
    d.verify()
    # the same chain with the wrong variance (s^2 = 2, not a critical point) must be refused
    s2, m, log_r = sp.Symbol("s^2", positive=True), sp.Symbol("m", real=True), sp.Symbol("l")
    bad = Derivation("wrong optimum")
    bad.step("ELBO", log_r - (s2 + m**2 - 1 - sp.log(s2)) / 2, rule="given")
    bad.step("m = 0", log_r - (s2 - 1 - sp.log(s2)) / 2, rule="maximum", wrt=m, at=0)
    bad.step("s^2 = 2", log_r - (1 - sp.log(2)) / 2, rule="maximum", wrt=s2, at=2)
    with pytest.raises(DerivationError):
        bad.verify()


# ------------------------------------------------------------------- the layer, and fast mode


def test_masked_linear_keeps_masked_weights_at_zero_and_finite_differences():
    mask = (np.random.default_rng(0).random((4, 3)) < 0.5) * 1.0
    x = np.random.default_rng(1).standard_normal((5, 4))
    dy = np.random.default_rng(2).standard_normal((5, 3))
    # (NumPy and torch agree on this layer: the case "autoregressive" of tests/test_parity.py)
    for B in (NP, TH):
        assert np.all(_as_np(B.MaskedLinear(4, 3, mask, seed=3).params["W"])[mask == 0] == 0)
    layer = NP.MaskedLinear(4, 3, mask, seed=3)
    _, cache = layer.forward(x)
    dx, grads = layer.backward(dy, cache)
    g_w = grads["W"]
    for arr, g in ((x, dx), (layer.params["W"], g_w)):
        g_fd = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + H
            fp = float(np.sum(layer(x) * dy))
            arr[idx] = old - H
            fm = float(np.sum(layer(x) * dy))
            arr[idx] = old
            g_fd[idx] = (fp - fm) / (2 * H)
        # masked entries of W: the true derivative is 0 (W enters only as W * mask)
        assert np.linalg.norm(g - g_fd) <= FD_TOL * (np.linalg.norm(g) + np.linalg.norm(g_fd))


@pytest.mark.parametrize("B", [NP, TH], ids=["numpy", "torch"])
def test_fast_mode_trains_in_float32_and_keeps_the_masks(B):
    d = load_digits()
    x = (d.x_train[:128] > 0.5) * 1.0
    model = B.AutoregressiveVAE(64, hidden_dims=(8,), z_dim=2, made_hidden=64, seed=0)
    hist = B.fit(model, x, epochs=2, batch_size=64, progress=False, mode="fast")
    params = model.get_params()
    assert model.dtype == "float32" and all(v.dtype == np.float32 for v in params.values())
    assert np.isfinite(hist["train_loss"]).all()
    m_in, m_out = NP.made_masks(64, 64)
    assert np.all(params["decoder.in.W"][m_in == 0] == 0)
    assert np.all(params["decoder.out.W"][m_out == 0] == 0)
    x_gen = model.sample(3, np.random.default_rng(0))
    assert x_gen.shape == (3, 64) and set(np.unique(x_gen)) <= {0.0, 1.0}
