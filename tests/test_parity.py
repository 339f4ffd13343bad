"""Backend agreement: one catalogue of cases, each run on vaelearn.numpy and vaelearn.torch.

A case is ``(name, fn)`` where ``fn(B)`` computes something with backend ``B`` from fixed,
seeded inputs and returns a (nested) tuple/dict of NumPy arrays and floats. The test runs it on
both backends and compares every leaf. To give a new function parity, add one line to CASES.

Tolerances: float64 on the CPU. The backends share no code for the numbers (hand-written
backward vs autograd, different BLAS calls), so they differ by rounding only: ~1e-15 relative for
one forward/backward. We require max|a - b| <= 1e-10 * max|a| per array (the issue's bar) for
single evaluations; 5 epochs of training compound the rounding through ~100 Adam steps, and we
require 1e-8 there (the issue's bar; FACTS.md measured 6e-14 over 6,900 steps).
"""

from __future__ import annotations

import numpy as np
import pytest

import vaelearn
from vaelearn.data import load_digits

torch = pytest.importorskip("torch")

NP = vaelearn.get_backend("numpy")
TH = vaelearn.get_backend("torch")

RTOL = 1e-10
RTOL_FIT = 1e-8


def _rng(seed=0):
    return np.random.default_rng(seed)


def _x01(n=6, d=7, seed=0):
    return _rng(seed).uniform(0, 1, size=(n, d))


def _gauss(shape, seed=0):
    return _rng(seed).normal(size=shape)


# ---------------------------------------------------------------------------- cases: layers


def layer_case(cls_name, make_args=()):
    def fn(B):
        x = _gauss((5, 4), seed=1)
        layer = getattr(B, cls_name)(*make_args)
        y, cache = layer.forward(x)
        dy = _gauss(np.shape(y), seed=2)
        dx, grads = layer.backward(dy, cache)
        return {"y": y, "dx": dx, **grads}

    return fn


def mlp_case(B):
    mlp = B.MLP((4, 6, 3), activation="tanh", out_activation="sigmoid", seed=3)
    x = _gauss((5, 4), seed=1)
    return {"y": mlp(x), **{k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v)
                            for k, v in mlp.params.items()}}


# ---------------------------------------------------------------------------- distributions


def dist_case(B):
    mean, logvar = _gauss((2, 5, 3), seed=4)
    eps2 = _gauss((5, 3), seed=5)
    eps3 = _gauss((4, 5, 3), seed=6)
    x = _x01(5, 7)
    logits = 30 * _gauss((5, 7), seed=7)  # large logits: stability matters
    return {
        "reparam2": B.reparameterize(mean, logvar, eps2),
        "reparam3": B.reparameterize(mean, logvar, eps3),
        "reparam_bw": B.reparameterize_backward(_gauss((4, 5, 3), 8), logvar, eps3),
        "kl": B.kl_normal_std_normal(mean, logvar),
        "bern": B.log_px_given_z_bernoulli(x, logits),
        "gauss": B.log_px_given_z_gaussian(x, logits, 0.3),
        "gauss_vec": B.log_px_given_z_gaussian(x, logits, _gauss((7,), 9)),
        "log_normal": B.log_normal(eps3, mean, logvar),
        "log_prior": B.log_normal(eps3, 0.0, 0.0),
        "lme": B.logmeanexp(500 * eps3, axis=0),
        "softplus": B.softplus(logits),
        "sigmoid": B.sigmoid(logits),
        # the continuous Bernoulli at large logits and across its series switch points
        "cb": B.log_px_given_z_continuous_bernoulli(x, logits),
        "cb_near0": B.log_px_given_z_continuous_bernoulli(x, 0.2 * _gauss((5, 7), seed=7)),
        "cb_bw": B.log_px_given_z_continuous_bernoulli_backward(x, logits, _gauss((5,), 9)),
        "cb_log_norm": B.continuous_bernoulli_log_norm(logits),
        "cb_mean": B.continuous_bernoulli_mean(logits),
        "cb_sample": B.continuous_bernoulli_sample(logits, _x01(5, 7, seed=8)),
        "cat": B.log_px_given_z_categorical(_levels(), 3 * _gauss((5, 7, 17), seed=9)),
        "cat_bw": B.log_px_given_z_categorical_backward(
            _levels(), 3 * _gauss((5, 7, 17), seed=9), _gauss((5,), 9)),
    }


def _levels(n=5, d=7, seed=0):
    """Integer grey levels 0..16, like the 8x8 digits' x * 16."""
    return _rng(seed).integers(0, 17, size=(n, d))


# ---------------------------------------------------------------------------- models

VAE_CONFIGS = {
    "bernoulli": dict(likelihood="bernoulli"),
    "gaussian": dict(likelihood="gaussian", sigma=0.4, activation="tanh"),
    "learned": dict(likelihood="gaussian", sigma="learned", hidden_dims=(8, 5)),
    "fb-beta": dict(likelihood="bernoulli", beta=2.0, free_bits=0.05, activation="softplus"),
    "cb": dict(likelihood="continuous_bernoulli"),
    "categorical": dict(likelihood="categorical", activation="tanh"),
}


def _vae(B, name, seed=1):
    kw = {"hidden_dims": (8,), **VAE_CONFIGS[name]}
    return B.VAE(x_dim=7, z_dim=3, seed=seed, **kw)


def init_case(B):
    return {"vae": _vae(B, "learned").get_params(),
            "ae": B.Autoencoder(7, (5, 4), 2, seed=3).get_params()}


def vae_case(name, **loss_kw):
    def fn(B):
        vae = _vae(B, name)
        x = {"bernoulli": _x01(), "continuous_bernoulli": _x01(),
             "categorical": _levels(6, 7, seed=10) / 16}.get(vae.likelihood)
        if x is None:
            x = _gauss((6, 7), seed=10)
        rng = _rng(11)
        n_samples = 4 if loss_kw.get("objective") == "iwae" else 2
        eps = vae.sample_eps(6, rng, n_samples=n_samples)
        loss, grads = vae.loss_and_grads(x, eps, **loss_kw)
        out = {"loss": loss, **grads}
        if not loss_kw:
            t = vae.elbo(x, eps)
            tm = vae.elbo(x, eps, kl="mc")
            z_mean, z_logvar = vae.encode(x)
            out.update(
                elbo=tuple(t), elbo_mc=tuple(tm), iwae=vae.iwae_bound(x, eps),
                z_mean=z_mean, z_logvar=z_logvar, rec=vae.reconstruct(x),
                sample=vae.sample(3, _rng(12)), raw=vae.decode_raw(_gauss((3, 3), seed=13)),
            )
        return out

    return fn


def ae_case(**kw):
    def fn(B):
        ae = B.Autoencoder(7, (6,), 2, seed=4, **kw)
        x = _x01()
        x_noisy = np.clip(x + 0.2 * _gauss(x.shape, 13), 0, 1)
        loss, grads = ae.loss_and_grads(x)
        loss_d, grads_d = ae.loss_and_grads(x_noisy, x_target=x)
        return {"loss": loss, "grads": grads, "loss_d": loss_d, "grads_d": grads_d,
                "per_example": ae.loss(x), "z": ae.encode(x), "x_hat": ae.decode(ae.encode(x))}

    return fn


# ---------------------------------------------------------------------------- optimizers


def optim_case(name):
    def fn(B):
        rng = _rng(14)
        shapes = {"a": (3, 4), "b": (4,)}
        init = {k: rng.normal(size=s) for k, s in shapes.items()}
        vae = None  # noqa: F841  (optimizers take any dict of parameters)
        if B is TH:
            params = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
        else:
            params = {k: v.copy() for k, v in init.items()}
        opt = B.make_optimizer(name, params, lr=0.05)
        for _ in range(60):
            grads = {k: rng.normal(size=s) for k, s in shapes.items()}
            opt.step(grads)
        return {k: (v.detach().numpy() if B is TH else v) for k, v in params.items()}

    return fn


# ---------------------------------------------------------------------------- fit


def _digits():
    d = load_digits()
    return d.x_train[:400], d.x_test[:100]


def fit_case(model, **fit_kw):
    def fn(B):
        x_train, x_test = _digits()
        if model == "vae":
            m = B.VAE(64, (32,), 2, seed=5)
        elif model in ("continuous_bernoulli", "categorical"):
            m = B.VAE(64, (32,), 2, likelihood=model, seed=5)
        elif model == "gvae":
            m = B.VAE(64, (32,), 3, likelihood="gaussian", sigma="learned", seed=5)
        else:
            m = B.Autoencoder(64, (32,), 2, loss="bce", seed=5)
        h = B.fit(m, x_train, x_test, epochs=5, batch_size=64, progress=False, **fit_kw)
        return {"history": {k: np.asarray(v, dtype=float) for k, v in h.items()},
                "params": m.get_params()}

    return fn


def _flip(x, rng):
    """A corruption drawing from the fit generator: zero out 20% of the pixels."""
    return x * (rng.uniform(size=x.shape) > 0.2)


CASES = [
    ("Linear", layer_case("Linear", (4, 3))),
    ("ReLU", layer_case("ReLU")),
    ("Tanh", layer_case("Tanh")),
    ("Sigmoid", layer_case("Sigmoid")),
    ("Softplus", layer_case("Softplus")),
    ("Identity", layer_case("Identity")),
    ("MLP", mlp_case),
    ("distributions", dist_case),
    ("init", init_case),
    *[(f"vae-{name}", vae_case(name)) for name in VAE_CONFIGS],
    ("vae-score", vae_case("bernoulli", estimator="score")),
    ("vae-score-baseline", vae_case("learned", estimator="score", baseline=-3.0)),
    ("vae-iwae", vae_case("gaussian", objective="iwae")),
    ("vae-cb-iwae", vae_case("cb", objective="iwae")),
    ("vae-categorical-iwae", vae_case("categorical", objective="iwae")),
    ("vae-categorical-score", vae_case("categorical", estimator="score")),
    ("ae-mse", ae_case(loss="mse")),
    ("ae-bce", ae_case(loss="bce", activation="tanh")),
    ("ae-linear", ae_case(loss="mse", linear=True)),
    ("adam", optim_case("adam")),
    ("sgd", optim_case("sgd")),
    ("fit-vae", fit_case("vae")),
    ("fit-vae-sgd-anneal", fit_case("vae", optimizer="sgd", lr=0.05,
                                    beta_schedule=lambda e: min(1.0, 0.2 * (e + 1)))),
    ("fit-gvae-iwae", fit_case("gvae", loss_kwargs={"objective": "iwae", "n_samples": 3})),
    ("fit-vae-score", fit_case("vae", loss_kwargs={"estimator": "score", "n_samples": 2})),
    ("fit-vae-denoise", fit_case("vae", corrupt=_flip)),
    ("fit-vae-cb", fit_case("continuous_bernoulli")),
    ("fit-vae-categorical", fit_case("categorical")),
    ("fit-ae", fit_case("ae", corrupt=_flip)),
]


def _leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{prefix}/{k}")
    elif isinstance(obj, tuple | list):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, obj


@pytest.mark.parametrize("name,fn", CASES, ids=[c[0] for c in CASES])
def test_backends_agree(name, fn):
    out_np, out_th = fn(NP), fn(TH)
    leaves_np, leaves_th = dict(_leaves(out_np)), dict(_leaves(out_th))
    assert leaves_np.keys() == leaves_th.keys()
    rtol = RTOL_FIT if name.startswith("fit") else RTOL
    for key, a in leaves_np.items():
        b = leaves_th[key]
        assert isinstance(b, np.ndarray | float), f"{key}: torch returned {type(b).__name__}"
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        assert a.shape == b.shape, key
        scale = max(float(np.max(np.abs(a), initial=0.0)), 1e-300)
        err = float(np.max(np.abs(a - b), initial=0.0)) / scale
        assert err <= rtol, f"{name} {key}: relative difference {err:.2e}"


def test_init_weights_bit_identical():
    """The same seed gives bit-identical starting weights (not just close)."""
    for make in (lambda B: _vae(B, "learned"), lambda B: B.Autoencoder(7, (5,), 2, seed=9)):
        p_np, p_th = make(NP).get_params(), make(TH).get_params()
        for k in p_np:
            np.testing.assert_array_equal(p_np[k], p_th[k], err_msg=k)


def test_adam_equals_torch_optim_adam():
    """Independent oracle: torch.optim.Adam itself, driven directly, vs NumPy Adam."""
    rng = _rng(15)
    p0 = rng.normal(size=(5, 3))
    p_np = {"w": p0.copy()}
    w = torch.tensor(p0, requires_grad=True)
    opt_np = NP.Adam(p_np, lr=0.01)
    opt_th = torch.optim.Adam([w], lr=0.01)
    for _ in range(200):
        g = rng.normal(size=p0.shape)
        opt_np.step({"w": g})
        w.grad = torch.tensor(g)
        opt_th.step()
    err = np.max(np.abs(p_np["w"] - w.detach().numpy())) / np.max(np.abs(p_np["w"]))
    assert err < 1e-13  # same equations in the same order: rounding only


@pytest.mark.parametrize("src,dst", [(NP, TH), (TH, NP)], ids=["numpy->torch", "torch->numpy"])
def test_checkpoint_crosses_backends(tmp_path, src, dst):
    x = _gauss((6, 7), seed=16)
    vae = _vae(src, "learned", seed=7)
    ae = src.Autoencoder(7, (5,), 2, loss="mse", seed=8)
    # move the weights away from a re-drawable initialisation
    vae.set_params({k: v + 0.01 for k, v in vae.get_params().items()})
    ae.set_params({k: v - 0.02 for k, v in ae.get_params().items()})
    for model in (vae, ae):
        path = tmp_path / f"{type(model).__name__}.npz"
        src.save_checkpoint(model, path)
        loaded = dst.load_checkpoint(path)
        assert type(loaded).__name__ == type(model).__name__
        assert loaded.config == model.config
        if model is vae:
            eps = _gauss((6, 3), seed=17)
            a = np.asarray(model.elbo(x, eps).elbo)
            b = np.asarray(loaded.elbo(x, eps).elbo)
            np.testing.assert_allclose(b, a, rtol=RTOL, atol=0)
            np.testing.assert_allclose(loaded.reconstruct(x), model.reconstruct(x),
                                       rtol=RTOL, atol=1e-14)
        else:
            np.testing.assert_allclose(loaded.loss(x), model.loss(x), rtol=RTOL, atol=0)
