"""``train_step`` (the loop body), ``fit`` built on it, and the VAE loss calling the functions
lesson 05 prints.

- the two backends' ``train_step`` agree (float64, 1e-10: the backend-agreement tolerance);
- a training loop written out with ``train_step`` -- the minibatch order and the noise drawn from
  one generator in ``fit``'s documented order -- reproduces ``fit``'s parameters and history
  bit for bit (NumPy and torch);
- ``on_epoch_end`` sees every epoch and changes nothing;
- the NumPy ``VAE``'s loss and gradients come from ``distributions.kl_normal_std_normal`` and the
  other functions lesson 05 shows: replacing one in the module the model calls changes the
  result (so no inline copy computes it instead).
"""

from __future__ import annotations

import numpy as np
import pytest

import vaelearn

NP = vaelearn.get_backend("numpy")
BACKENDS = ["numpy", "torch"]


def _data(n=70, x_dim=10, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, x_dim)) < 0.35).astype(np.float64)


def _backend(name):
    if name == "torch":
        pytest.importorskip("torch")
    return vaelearn.get_backend(name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["vae", "autoencoder"])
def test_loop_of_train_step_reproduces_fit(backend, kind):
    B = _backend(backend)
    x = _data()
    make = (lambda: B.VAE(10, (8,), 3, seed=4)) if kind == "vae" else (
        lambda: B.Autoencoder(10, (8,), 3, loss="bce", seed=4)
    )
    fitted = make()
    history = B.fit(fitted, x, epochs=3, batch_size=32, lr=1e-2, seed=5, progress=False)

    # the loop written out once: fit's documented draw order (permutation, then the noise of
    # each minibatch in turn)
    model = make()
    optimizer = B.Adam(model.params, lr=1e-2)
    rng = np.random.default_rng(5)
    n, batch_size = x.shape[0], 32
    train_loss = []
    for _epoch in range(3):
        perm = rng.permutation(n)
        losses, sizes = [], []
        for start in range(0, n, batch_size):
            xb = x[perm[start : start + batch_size]]
            eps = model.sample_eps(xb.shape[0], rng) if kind == "vae" else None
            losses.append(B.train_step(model, optimizer, xb, eps))
            sizes.append(xb.shape[0])
        total = 0.0  # fit's own sum, in its order
        for loss, nb in zip(losses, sizes, strict=True):
            total += loss * nb
        train_loss.append(total / n)
    assert train_loss == history["train_loss"]
    got, want = model.get_params(), fitted.get_params()
    assert all(np.array_equal(got[k], want[k]) for k in want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_on_epoch_end_sees_every_epoch_and_changes_nothing(backend):
    B = _backend(backend)
    x = _data()
    seen = []
    a, b = B.VAE(10, (8,), 2, seed=1), B.VAE(10, (8,), 2, seed=1)
    h_a = B.fit(a, x, x[:10], epochs=3, batch_size=32, progress=False,
                on_epoch_end=lambda epoch, h: seen.append((epoch, len(h["train_loss"]))))
    h_b = B.fit(b, x, x[:10], epochs=3, batch_size=32, progress=False)
    assert seen == [(0, 1), (1, 2), (2, 3)]
    assert h_a == h_b
    with pytest.raises(ValueError, match="on_epoch_end"):
        B.fit(b, x, epochs=1, progress=False, on_epoch_end=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_step_bad_arguments(backend):
    B = _backend(backend)
    x = _data()[:8]
    vae, ae = B.VAE(10, (8,), 2), B.Autoencoder(10, (8,), 2)
    with pytest.raises(ValueError, match="'eps'"):
        B.train_step(vae, B.Adam(vae.params), x)
    with pytest.raises(ValueError, match="'eps'"):
        B.train_step(ae, B.Adam(ae.params), x, np.zeros((8, 2)))
    with pytest.raises(ValueError, match="'optimizer'"):
        B.train_step(ae, "adam", x)
    with pytest.raises(ValueError, match="'model'"):
        B.train_step("vae", B.Adam(vae.params), x)
    with pytest.raises(ValueError, match="unknown"):
        B.train_step(vae, B.Adam(vae.params), x, np.zeros((8, 2)), temperature=2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_step_refuses_a_diverging_step(backend):
    B = _backend(backend)
    x = _data()[:8]
    model = B.VAE(10, (8,), 2, likelihood="gaussian", sigma=1.0, seed=0)
    before = model.get_params()
    with pytest.raises(FloatingPointError, match="diverged"):
        B.train_step(model, B.SGD(model.params, lr=1.0), x * 1e200, np.zeros((8, 2)))
    after = model.get_params()
    assert all(np.array_equal(before[k], after[k]) for k in before)


# ---- the NumPy VAE trains with the functions lesson 05 prints --------------------------------

PRINTED = [
    "kl_normal_std_normal",
    "kl_normal_std_normal_backward",
    "log_px_given_z_bernoulli",
    "log_px_given_z_bernoulli_backward",
    "reparameterize",
    "reparameterize_backward",
]


def test_models_use_the_distributions_functions_themselves():
    from vaelearn.numpy import distributions, models

    for name in PRINTED:
        assert getattr(models, name) is getattr(distributions, name), name


@pytest.mark.parametrize("name", PRINTED)
def test_vae_loss_and_grads_calls(name, monkeypatch):
    """Sabotage one function where the model looks it up: the loss or a gradient must move."""
    from vaelearn.numpy import models

    x = _data()[:12]
    eps = np.random.default_rng(3).standard_normal((12, 2))
    model = NP.VAE(10, (8,), 2, seed=7)
    loss0, grads0 = model.loss_and_grads(x, eps)
    calls = []
    real = getattr(models, name)

    def sabotaged(*args, **kwargs):
        calls.append(name)
        out = real(*args, **kwargs)
        return tuple(o * 1.5 for o in out) if isinstance(out, tuple) else out * 1.5

    monkeypatch.setattr(models, name, sabotaged)
    loss1, grads1 = model.loss_and_grads(x, eps)
    assert calls, f"VAE.loss_and_grads never called {name}"
    moved = loss1 != loss0 or any(not np.array_equal(grads0[k], grads1[k]) for k in grads0)
    assert moved, f"{name}'s result is not used"


# ---- the device is a constructor argument ---------------------------------------------------

NUMPY_BUILDERS = {
    "VAE": lambda B, **kw: B.VAE(6, (4,), 2, **kw),
    "Autoencoder": lambda B, **kw: B.Autoencoder(6, (4,), 2, **kw),
    "VQVAE": lambda B, **kw: B.VQVAE(6, (4,), 2, 3, **kw),
    "Linear": lambda B, **kw: B.Linear(3, 2, **kw),
    "MLP": lambda B, **kw: B.MLP((3, 4, 2), **kw),
}


@pytest.mark.parametrize("name", sorted(NUMPY_BUILDERS))
def test_numpy_accepts_only_cpu(name):
    build = NUMPY_BUILDERS[name]
    for ok in (None, "cpu"):
        build(NP, device=ok)
    with pytest.raises(ValueError, match="'device'"):
        build(NP, device="cuda")


@pytest.mark.parametrize("name", sorted(NUMPY_BUILDERS))
def test_torch_builds_on_the_given_device(name, monkeypatch):
    TH = _backend("torch")
    # the argument wins over VAELEARN_DEVICE, which stays the default
    monkeypatch.setenv("VAELEARN_DEVICE", "cuda:7")
    obj = NUMPY_BUILDERS[name](TH, device="cpu")
    assert {str(p.device) for p in obj.params.values()} == {"cpu"}
    with pytest.raises(ValueError, match="'device'"):
        NUMPY_BUILDERS[name](TH, device="tpu")
    monkeypatch.delenv("VAELEARN_DEVICE")
    assert {str(p.device) for p in NUMPY_BUILDERS[name](TH).params.values()} <= {"cpu", "cuda"}
