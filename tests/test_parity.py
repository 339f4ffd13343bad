"""Backend agreement: ONE catalogue of cases, each run on vaelearn.numpy and vaelearn.torch.

A :class:`Case` is an id, a function ``fn(B)`` that computes something with backend ``B`` from
fixed, seeded inputs and returns a (nested) dict/tuple of NumPy arrays, floats and plain values,
and ``covers``: the public backend names the case exercises. :func:`test_backends_agree` runs
every case on both backends and compares every leaf; while it runs, ``B`` is a recorder that
notes which public names the case really reads, so a case cannot claim a name it never touches.
To give a new function parity, add one :class:`Case` to CASES naming it in ``covers``.

A few checks need two backends in one call (a checkpoint written by one and read by the other,
NumPy's hand-written backward against torch autograd, torch's own optimizer): they are the
grouped tests at the end of this file, listed in EXTRA_TESTS with the names they cover.

Coverage (:func:`test_every_public_name_is_in_the_catalogue`): every name in
``vaelearn.numpy.__all__`` (the same list as torch's, ``tests/test_api.py``) must be covered by
at least one case or grouped test; a new public name without a parity check fails that test.

Tolerances (float64 on the CPU; the backends share no code for the numbers: hand-written backward
against autograd, different BLAS calls and summation orders). A sum of n float64 terms computed
in two orders differs by at most about n * 2^-53 * sum|terms|; the arrays here sum at most 64
terms whose magnitudes cancel by at most a factor ~1e3 (log-likelihood sums), so one
forward/backward can differ by ~1e-11 of the largest value: RTOL = 1e-10 (x max|a| per array)
is that bound with a margin of 10, and still 1e4 below the smallest real formula slip these
cases would show (a missing 1/2, log 2 pi, or sign changes values by >= 1e-6). Where a check was
written with a tighter elementwise tolerance (information functions, gradient estimators, the
continuous-Bernoulli series) the case keeps it. Training (``fit`` for 5 epochs: 7 minibatches x
5 = 35 Adam steps) feeds the rounding differences back through every step; Adam divides by
sqrt(v), which can amplify a relative difference in a small gradient, so RTOL_FIT = 1e-8 allows
a growth of 100x over the one-step bound. Measured on the development machine (2 x86 cores,
OpenBLAS, torch 2.13 CPU, 1 thread), max|a - b| / max|a| over all arrays of a case: <= 7e-16 for
every single-evaluation case except vae-cb (4e-14: the continuous Bernoulli's series near
lambda = 0), and <= 1e-15 for every fit case: the bars sit >= 2e3 and 1e7 above what we see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import vaelearn
from vaelearn.data import load_digits

torch = pytest.importorskip("torch")

NP = vaelearn.get_backend("numpy")
TH = vaelearn.get_backend("torch")

RTOL = 1e-10
RTOL_FIT = 1e-8


@dataclass(frozen=True)
class Case:
    """One parity check: ``fn(B)`` on both backends, compared leaf by leaf.

    ``rtol``/``atol``: a leaf ``a`` (NumPy) and ``b`` (torch) agree when
    ``|a - b| <= atol + rtol * scale`` with ``scale = max|a|`` over the array, or ``|a_i|`` per
    element when ``elementwise``. Integer, boolean and string leaves must be equal; NaN and
    infinities must sit at the same places.
    """

    id: str
    fn: Callable[[Any], Any]
    covers: tuple[str, ...]
    rtol: float = RTOL
    atol: float = 0.0
    elementwise: bool = False


class _Recorder:
    """Stands in for a backend module and records which public names a case reads."""

    def __init__(self, backend):
        self._backend = backend
        self.used: set[str] = set()

    def __getattr__(self, name):
        value = getattr(self._backend, name)
        if name in self._backend.__all__:
            self.used.add(name)
        return value


def _np(v):
    """A torch tensor (or anything array-like) as a NumPy array; other values unchanged."""
    if hasattr(v, "detach"):
        return v.detach().cpu().numpy()
    return v


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
    W, b = B.init_linear(5, 3, _rng(3))
    return {"vae": _vae(B, "learned").get_params(),
            "ae": B.Autoencoder(7, (5, 4), 2, seed=3).get_params(),
            "init_linear": (_np(W), _np(b))}


def activations_case(B):
    """Every entry of ACTIVATIONS, by the name ``activation=`` accepts."""
    x = _gauss((5, 4), seed=1)
    dy = _gauss((5, 4), seed=2)
    out = {}
    for name, cls in B.ACTIVATIONS.items():
        y, cache = cls().forward(x)
        dx, _ = cls().backward(dy, cache)
        out[name] = {"y": y, "dx": dx}
    return out


def device_case(B):
    return {"cpu": B.get_device("cpu")}


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
            assert isinstance(t, B.ELBOTerms) and isinstance(tm, B.ELBOTerms)
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
        if B.NAME == "torch":
            params = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
        else:
            params = {k: v.copy() for k, v in init.items()}
        opt = B.make_optimizer(name, params, lr=0.05)
        assert isinstance(opt, getattr(B, {"adam": "Adam", "sgd": "SGD"}[name]))
        for _ in range(60):
            grads = {k: rng.normal(size=s) for k, s in shapes.items()}
            opt.step(grads)
        return {k: (v.detach().numpy() if B.NAME == "torch" else v) for k, v in params.items()}

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


# ---------------------------------------------------------------------------- information (L01)


def _distributions(rng, shape, zeros=False):
    p = rng.gamma(0.7, size=shape)
    if zeros:
        p[rng.random(shape) < 0.3] = 0.0
        p[..., 0] += 0.1  # keep every row non-empty
    return p / p.sum(axis=-1, keepdims=True)


def info_case(tensors):
    """The information functions on arrays, or (``tensors``) on tensors: tensors in, out."""

    def fn(B):
        rng = _rng(9)
        p = _distributions(rng, (6, 5), zeros=True)
        q = _distributions(rng, (6, 5))
        mu_q, mu_p = rng.normal(size=(2, 6, 3))
        var_q, var_p = rng.uniform(0.1, 3.0, size=(2, 6, 3))
        if tensors and B.NAME == "torch":
            p, q, mu_q, mu_p, var_q, var_p = map(torch.tensor, (p, q, mu_q, mu_p, var_q, var_p))

        def out(v):
            if tensors and B.NAME == "torch":
                assert isinstance(v, torch.Tensor)  # tensors in, tensors out
            else:
                assert isinstance(v, np.ndarray)  # arrays in, arrays out
            return _np(v)

        return {
            "entropy": out(B.entropy(p, base=2)),
            "cross_entropy": out(B.cross_entropy(p, q)),
            "kl_divergence": out(B.kl_divergence(p, q, base=2)),
            "gaussian_entropy": out(B.gaussian_entropy(var_q)),
            "kl_normal": out(B.kl_normal(mu_q, var_q, mu_p, var_p)),
            "kl_normal_std": out(B.kl_normal(mu_q, var_q)),
            "kl_infinite": np.asarray(B.kl_divergence([0.5, 0.5], [1.0, 0.0]), dtype=float),
        }

    return fn


# ---------------------------------------------------------------------------- estimators (L06)


def _estimator_problem():
    rng = _rng(9)
    eps = rng.standard_normal((300, 3))
    mean, std = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    return rng, eps, mean, std


def _f(x):
    return ((x - 0.3) ** 2).sum(-1) + x[..., 0] ** 3


def _df(B):
    """The derivative of :func:`_f` written out, in the backend's array type."""
    first = np.arange(3) == 0
    if B.NAME == "torch":
        return lambda x: 2 * (x - 0.3) + 3 * (x[..., :1] ** 2) * torch.as_tensor(first)
    return lambda x: 2 * (x - 0.3) + 3 * (x[..., :1] ** 2) * first


def estimators_case(B):
    rng, eps, mean, std = _estimator_problem()
    out = {}
    for i, baseline in enumerate((None, 1.5, rng.normal(size=300), "leave-one-out")):
        out[f"score-{i}"] = B.score_function_grad(_f, mean, std, eps, baseline)
    out["pathwise"] = B.pathwise_grad(_f, mean, std, eps, _df(B))
    out["mean_var"] = B.estimator_mean_var(NP.pathwise_grad(_f, mean, std, eps, _df(NP))[0])
    return out


def pathwise_autograd_case(B):
    """torch without ``df`` (autograd's derivative) against NumPy with the derivative written."""
    _, eps, mean, std = _estimator_problem()
    return B.pathwise_grad(_f, mean, std, eps, _df(B) if B.NAME == "numpy" else None)


# ---------------------------------------------------------------------------- VQ-VAE (L08)


def vqvae_case(B):
    x = load_digits().x_train[:12]
    m = B.VQVAE(x_dim=64, hidden_dims=(8,), z_dim=3, n_codes=5, seed=1)
    loss, grads = m.loss_and_grads(x)
    usage = np.asarray(_np(m.codebook_usage(x)))
    return {"loss": loss, "grads": grads, "terms": m.loss_terms(x), "usage": usage,
            "perplexity": B.codebook_perplexity(usage)}


def fit_vqvae_case(B):
    x = load_digits().x_train[:200]
    m = B.VQVAE(hidden_dims=(16,), z_dim=2, n_codes=4, seed=0)
    h = B.fit_vqvae(m, x, epochs=3, batch_size=50, lr=1e-2, seed=0)
    return {"train_loss": np.asarray(h["train_loss"], dtype=float),
            "perplexity": np.asarray(h["perplexity"], dtype=float)}


# ---------------------------------------------------------------------------- numerical edges


def cb_series_case(B):
    """The continuous Bernoulli across its series switch points (0, 1e-7, 0.1, 1) and far out."""
    rng = _rng(4)
    lam = np.concatenate([rng.normal(scale=5, size=40),
                          [0.0, 1e-7, 0.09, 0.11, 0.99, 1.01, 31.0]])
    x = rng.uniform(size=lam.shape)
    u = rng.uniform(size=lam.shape)
    return {
        "log_norm": B.continuous_bernoulli_log_norm(lam),
        "mean": B.continuous_bernoulli_mean(lam),
        "sample": B.continuous_bernoulli_sample(lam, u),
        "log_px": B.log_px_given_z_continuous_bernoulli(x, lam),
        "backward": B.log_px_given_z_continuous_bernoulli_backward(x, lam),
    }


def iwae_tiny_sigma_case(B):
    """IWAE gradients of an encoder with mean 3 and logvar -30 (sigma 3e-7): z - mu formed by
    subtraction would lose 7 digits; the backends agree only if both use sigma * eps."""
    rng = _rng(5)
    x = rng.random((4, 6))
    eps = rng.standard_normal((5, 4, 2))
    m = B.VAE(6, (8,), 2, dtype="float64", seed=0)
    p = m.get_params()
    p["encoder.mean.W"][:] = 0.1  # let the gradient reach the encoder weights too
    p["encoder.mean.b"][:] = 3.0
    p["encoder.logvar.W"][:] = 0
    p["encoder.logvar.b"][:] = -30.0
    m.set_params(p)
    _, g = m.loss_and_grads(x, eps, objective="iwae")
    assert max(float(np.abs(v).max()) for v in g.values()) < 10  # O(1): atol below is relative
    return g


# ---------------------------------------------------------------------------- the catalogue

LAYERS = ("Linear", "ReLU", "Tanh", "Sigmoid", "Softplus", "Identity")
DISTRIBUTIONS = (
    "reparameterize", "reparameterize_backward", "kl_normal_std_normal",
    "log_px_given_z_bernoulli", "log_px_given_z_gaussian", "log_normal", "logmeanexp",
    "softplus", "sigmoid", "log_px_given_z_continuous_bernoulli",
    "log_px_given_z_continuous_bernoulli_backward", "continuous_bernoulli_log_norm",
    "continuous_bernoulli_mean", "continuous_bernoulli_sample", "log_px_given_z_categorical",
    "log_px_given_z_categorical_backward",
)
INFO = ("entropy", "cross_entropy", "kl_divergence", "gaussian_entropy", "kl_normal")
CB = ("continuous_bernoulli_log_norm", "continuous_bernoulli_mean", "continuous_bernoulli_sample",
      "log_px_given_z_continuous_bernoulli", "log_px_given_z_continuous_bernoulli_backward")


# ------------------------------------------------------------------------- formula/backward pairs

_PR = np.random.default_rng(16)
_PN, _PD = 4, 3
_PAIR = {
    "mu": _PR.normal(size=(_PN, _PD)), "lv": _PR.normal(scale=0.7, size=(_PN, _PD)),
    "x01": _PR.random((_PN, _PD)), "logits": _PR.normal(scale=2.0, size=(_PN, _PD)),
    "mean": _PR.normal(size=(_PN, _PD)), "eps3": _PR.normal(size=(2, _PN, _PD)),
    "g_row": _PR.normal(size=(_PN,)), "g_row3": _PR.normal(size=(2, _PN)),
    "g_dim": _PR.normal(size=(_PN, _PD)),
}
BACKWARD_PAIRS = (
    "kl_normal_std_normal", "kl_normal_std_normal_backward", "log_px_given_z_bernoulli",
    "log_px_given_z_bernoulli_backward", "log_px_given_z_gaussian",
    "log_px_given_z_gaussian_backward", "squared_error", "squared_error_backward", "log_normal",
    "log_normal_backward", "log_normal_eps", "log_normal_eps_backward", "logmeanexp",
    "logmeanexp_backward",
)


def backward_pairs_case(B):
    """Each formula of ``distributions.py`` and its ``*_backward`` (hand-written in NumPy,
    autograd in torch; tests/test_backward_pairs.py checks the NumPy ones by finite
    differences)."""
    p = _PAIR
    mu, lv, x, lg, mean, e3 = p["mu"], p["lv"], p["x01"], p["logits"], p["mean"], p["eps3"]
    g, g3, gd = p["g_row"], p["g_row3"], p["g_dim"]
    s1, s3 = np.array([0.3]), np.array([0.3, -0.2, 0.1])
    return {
        "kl": (B.kl_normal_std_normal(mu, lv), B.kl_normal_std_normal_backward(mu, lv, g)),
        "kl_per_dim": (B.kl_normal_std_normal(mu, lv, per_dim=True),
                       B.kl_normal_std_normal_backward(mu, lv, gd, per_dim=True)),
        "bernoulli": (B.log_px_given_z_bernoulli(x, lg),
                      B.log_px_given_z_bernoulli_backward(x, lg, g)),
        "gaussian_shared": (B.log_px_given_z_gaussian(x, mean, s1),
                            B.log_px_given_z_gaussian_backward(x, mean, s1, g)),
        "gaussian_per_dim": (B.log_px_given_z_gaussian(x, mean, s3),
                             B.log_px_given_z_gaussian_backward(x, mean, s3, g)),
        "squared_error": (B.squared_error(x, mean), B.squared_error_backward(x, mean, g)),
        "log_normal": (B.log_normal(e3, mu, lv), B.log_normal_backward(e3, mu, lv, g3)),
        "log_normal_eps": (B.log_normal_eps(e3, lv), B.log_normal_eps_backward(e3, lv, g3)),
        "logmeanexp": (B.logmeanexp(e3[:, :, 0] * 3, axis=0),
                       B.logmeanexp_backward(e3[:, :, 0] * 3, 0, g)),
    }


def train_step_case(B):
    """Three ``train_step`` calls (the body of ``fit``'s loop) from the same eps."""
    x = load_digits().x_train[:16, :10]
    eps = _rng(1).standard_normal((16, 3))
    model = B.VAE(10, (8,), 3, seed=2)
    opt = B.Adam(model.params, lr=1e-2)
    losses = [B.train_step(model, opt, x, eps) for _ in range(3)]
    return {"losses": np.array([float(v) for v in losses]), **model.get_params()}


# ------------------------------------------------------------------------- autoregressive decoder


def _binary(n, d, seed=0):
    return (_rng(seed).random((n, d)) < 0.5).astype(np.float64)


def autoregressive_case(B):
    """Masks, the masked layer, MADE and the autoregressive VAE (lesson 07)."""
    mask = (_rng(0).random((4, 3)) < 0.5) * 1.0
    layer = B.MaskedLinear(4, 3, mask, seed=3)
    y, cache = layer.forward(_gauss((5, 4), seed=1))
    dx, lgrads = layer.backward(_gauss((5, 3), seed=2), cache)
    made = B.MADE(6, 11, z_dim=2, context=3, seed=4)
    model = B.AutoregressiveVAE(8, hidden_dims=(6,), z_dim=3, made_hidden=13, beta=1.5,
                                free_bits=0.05, seed=7)
    x = _binary(6, 8, seed=4)
    rng = _rng(8)
    eps = model.sample_eps(6, rng, n_samples=2)
    loss, grads = model.loss_and_grads(x, eps)
    z = rng.standard_normal((6, 3))
    return {
        "masks": B.made_masks(8, 13), "masks_context": B.made_masks(8, 13, context=2),
        "masked_linear": {"y": _np(y), "dx": _np(dx), **{k: _np(v) for k, v in lgrads.items()}},
        "made": _np(made(_binary(5, 6, seed=5), _gauss((5, 2), seed=6))),
        "loss": loss, **grads, "init": model.get_params(),
        "elbo": tuple(model.elbo(x, eps)), "enc": model.encode(x), "logits": model.logits(x, z),
        "log_px": model.log_px_given_z(x, z), "samples": model.sample(50, _rng(9)),
        "given_z": model.sample_given_z(z, rng.random((6, 8))),
    }


def fit_autoregressive_case(B):
    d = load_digits()
    x_train, x_test = (d.x_train[:300] > 0.5) * 1.0, (d.x_test[:80] > 0.5) * 1.0
    m = B.AutoregressiveVAE(64, hidden_dims=(16,), z_dim=2, made_hidden=64, seed=5)
    hist = B.fit(m, x_train, x_test, epochs=5, batch_size=64, lr=1e-2, progress=False, seed=0,
                 beta_schedule=lambda e: min(1.0, 0.25 * (e + 1)))
    return {"history": {k: np.asarray(v, dtype=float) for k, v in hist.items()},
            **m.get_params()}


# ---------------------------------------------------------------------------- rate decomposition


def rate_decomposition_case(B):
    """The rate split into I_q(x; z) and KL(q(z) || p(z)) (lesson 05), two chunk sizes."""
    rng = _rng(0)
    z_mean = rng.normal(scale=1.5, size=(60, 4))
    z_logvar = rng.normal(loc=-1.0, scale=0.7, size=(60, 4))
    eps = rng.standard_normal((3, 60, 4))
    return {f"chunk{c}": tuple(_np(v) for v in B.rate_decomposition(
        z_mean, z_logvar, eps, per_example=True, chunk_size=c)) for c in (7, 64)}

CASES = [
    Case("Linear", layer_case("Linear", (4, 3)), ("Linear",)),
    *[Case(name, layer_case(name), (name,)) for name in LAYERS[1:]],
    Case("ACTIVATIONS", activations_case, ("ACTIVATIONS",)),
    Case("MLP", mlp_case, ("MLP",)),
    Case("distributions", dist_case, DISTRIBUTIONS),
    # continuous Bernoulli: elementwise 1e-14 relative + 1e-15 absolute, as the check of its
    # series switch points was written (each value is one short series or closed form: a few ulp)
    Case("cb-series", cb_series_case, CB, rtol=1e-14, atol=1e-15, elementwise=True),
    Case("init", init_case, ("VAE", "Autoencoder", "init_linear")),
    Case("device", device_case, ("get_device",)),
    *[Case(f"vae-{name}", vae_case(name), ("VAE", "ELBOTerms")) for name in VAE_CONFIGS],
    Case("vae-score", vae_case("bernoulli", estimator="score"), ("VAE",)),
    Case("vae-score-baseline", vae_case("learned", estimator="score", baseline=-3.0), ("VAE",)),
    Case("vae-iwae", vae_case("gaussian", objective="iwae"), ("VAE",)),
    Case("vae-cb-iwae", vae_case("cb", objective="iwae"), ("VAE",)),
    Case("vae-categorical-iwae", vae_case("categorical", objective="iwae"), ("VAE",)),
    Case("vae-categorical-score", vae_case("categorical", estimator="score"), ("VAE",)),
    # gradients are O(1) (largest ~3.4): from eps they agree to ~4e-15, formed from z - mu they
    # differed by 2e-10; an absolute 1e-12 is 250x round-off and catches the cancellation.
    Case("vae-iwae-tiny-sigma", iwae_tiny_sigma_case, ("VAE",), rtol=0.0, atol=1e-12,
         elementwise=True),
    Case("ae-mse", ae_case(loss="mse"), ("Autoencoder",)),
    Case("ae-bce", ae_case(loss="bce", activation="tanh"), ("Autoencoder",)),
    Case("ae-linear", ae_case(loss="mse", linear=True), ("Autoencoder",)),
    Case("adam", optim_case("adam"), ("make_optimizer", "Adam")),
    Case("sgd", optim_case("sgd"), ("make_optimizer", "SGD")),
    # information functions: elementwise 1e-12 relative + 1e-12 absolute (closed forms and sums
    # of <= 5 terms: a few ulp; the absolute part for entries that are 0 up to rounding)
    Case("info", info_case(tensors=False), INFO, rtol=1e-12, atol=1e-12, elementwise=True),
    Case("info-tensors", info_case(tensors=True), INFO, rtol=1e-12, atol=1e-12,
         elementwise=True),
    # estimators: per-draw gradients, a product of a few float64 factors: 1e-12 (rounding only)
    Case("estimators", estimators_case,
         ("score_function_grad", "pathwise_grad", "estimator_mean_var"), rtol=1e-12, atol=1e-12,
         elementwise=True),
    Case("pathwise-autograd", pathwise_autograd_case, ("pathwise_grad",), rtol=1e-12, atol=1e-12,
         elementwise=True),
    Case("vqvae", vqvae_case, ("VQVAE", "codebook_perplexity")),
    # 3 epochs of 4 Adam steps: the loss history agreed to 1e-10 elementwise when written
    Case("fit-vqvae", fit_vqvae_case, ("VQVAE", "fit_vqvae"), elementwise=True),
    Case("fit-vae", fit_case("vae"), ("fit",), rtol=RTOL_FIT),
    Case("fit-vae-sgd-anneal", fit_case("vae", optimizer="sgd", lr=0.05,
                                        beta_schedule=lambda e: min(1.0, 0.2 * (e + 1))),
         ("fit",), rtol=RTOL_FIT),
    Case("fit-gvae-iwae", fit_case("gvae", loss_kwargs={"objective": "iwae", "n_samples": 3}),
         ("fit",), rtol=RTOL_FIT),
    Case("fit-vae-score", fit_case("vae", loss_kwargs={"estimator": "score", "n_samples": 2}),
         ("fit",), rtol=RTOL_FIT),
    Case("fit-vae-denoise", fit_case("vae", corrupt=_flip), ("fit",), rtol=RTOL_FIT),
    Case("fit-vae-cb", fit_case("continuous_bernoulli"), ("fit",), rtol=RTOL_FIT),
    Case("fit-vae-categorical", fit_case("categorical"), ("fit",), rtol=RTOL_FIT),
    Case("fit-ae", fit_case("ae", corrupt=_flip), ("fit",), rtol=RTOL_FIT),
    Case("backward-pairs", backward_pairs_case, BACKWARD_PAIRS),
    Case("train-step", train_step_case, ("train_step", "VAE", "Adam")),
    Case("autoregressive", autoregressive_case,
         ("made_masks", "MaskedLinear", "MADE", "AutoregressiveVAE")),
    Case("fit-autoregressive", fit_autoregressive_case, ("AutoregressiveVAE", "fit"),
         rtol=RTOL_FIT),
    Case("rate-decomposition", rate_decomposition_case, ("rate_decomposition",)),
]

# Checks that need both backends in one call: test name -> the public names it covers.
EXTRA_TESTS = {
    "test_init_weights_bit_identical": ("VAE", "Autoencoder", "VQVAE"),
    "test_adam_equals_torch_optim_adam": ("Adam",),
    "test_checkpoint_crosses_backends": ("save_checkpoint", "load_checkpoint", "VAE",
                                         "Autoencoder", "VQVAE"),
    "test_numpy_backward_equals_torch_autograd": (
        "log_px_given_z_continuous_bernoulli", "log_px_given_z_continuous_bernoulli_backward",
        "log_px_given_z_categorical", "log_px_given_z_categorical_backward"),
}


def coverage(cases=None, extra=None) -> dict[str, list[str]]:
    """Public name -> ids of the cases and names of the grouped tests that cover it."""
    out: dict[str, list[str]] = {}
    for case in CASES if cases is None else cases:
        for name in case.covers:
            out.setdefault(name, []).append(case.id)
    for test, names in (EXTRA_TESTS if extra is None else extra).items():
        for name in names:
            out.setdefault(name, []).append(test)
    return out


def uncovered(public_names, covered: dict[str, list[str]]) -> set[str]:
    """The public names that no case or grouped test covers."""
    return set(public_names) - set(covered)


# ---------------------------------------------------------------------------- the tests


def _leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{prefix}/{k}")
    elif isinstance(obj, tuple | list):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, obj


def _max_err(case: Case, a, b) -> float:
    """The largest ``|a - b| / (atol + rtol * scale)`` of one leaf: agreement when <= 1."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    finite = np.isfinite(a)
    # NaN and infinities at the same places, with the same sign
    np.testing.assert_array_equal(np.where(finite, 0.0, a), np.where(finite, 0.0, b))
    a, b = a[finite], b[finite]
    if case.elementwise:
        scale = np.abs(a)
    else:
        scale = max(float(np.max(np.abs(a), initial=0.0)), 1e-300)
    bound = case.atol + case.rtol * scale
    diff = np.abs(a - b)
    return float(np.max(np.where(diff == 0, 0.0, diff / np.maximum(bound, 1e-300)), initial=0.0))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_backends_agree(case):
    rec_np, rec_th = _Recorder(NP), _Recorder(TH)
    out_np, out_th = case.fn(rec_np), case.fn(rec_th)
    # a case covers only names it really reads (the same on both backends)
    unread = set(case.covers) - rec_np.used
    assert not unread, f"{case.id} never reads {sorted(unread)}"
    assert rec_np.used == rec_th.used
    leaves_np, leaves_th = dict(_leaves(out_np)), dict(_leaves(out_th))
    assert leaves_np.keys() == leaves_th.keys()
    for key, a in leaves_np.items():
        b = leaves_th[key]
        if isinstance(a, str | bool | type(None)) or np.asarray(a).dtype.kind in "iubUS":
            assert np.array_equal(np.asarray(a), np.asarray(b)), f"{case.id} {key}: {a} != {b}"
            continue
        assert isinstance(b, np.ndarray | float), f"{key}: torch returned {type(b).__name__}"
        err = _max_err(case, a, b)
        assert err <= 1.0, f"{case.id} {key}: difference {err:.2e} x the allowed bound"


def test_every_public_name_is_in_the_catalogue():
    assert sorted(NP.__all__) == sorted(TH.__all__)  # tests/test_api.py checks this in detail
    covered = coverage()
    missing = uncovered(NP.__all__, covered)
    assert not missing, f"public backend names without a parity check: {sorted(missing)}"
    # every name the catalogue lists is public (no stale entries after a rename)
    assert set(covered) <= set(NP.__all__), sorted(set(covered) - set(NP.__all__))
    # every grouped test the table names exists in this file
    assert all(callable(globals().get(t)) for t in EXTRA_TESTS), list(EXTRA_TESTS)
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"


def test_coverage_check_fails_on_a_missing_name():
    """The coverage test can fail: a synthetic public name that no case covers is reported, and
    so is a name whose only case is taken out."""
    assert uncovered([*NP.__all__, "a_new_public_name"], coverage()) == {"a_new_public_name"}
    without_vq = [c for c in CASES if "codebook_perplexity" not in c.covers]
    assert uncovered(NP.__all__, coverage(without_vq)) == {"codebook_perplexity"}
    assert "fit" in uncovered(NP.__all__, coverage([], {}))


def test_a_case_cannot_claim_a_name_it_does_not_read():
    """The recorder behind test_backends_agree sees which names a case reads."""
    rec = _Recorder(NP)
    mlp_case(rec)
    assert rec.used == {"MLP"}
    with pytest.raises(AssertionError, match="never reads"):
        test_backends_agree(Case("liar", mlp_case, ("MLP", "VAE")))


def test_the_comparison_can_fail():
    """A difference above the bound, a moved infinity or a changed integer is reported."""
    case = Case("x", mlp_case, ())
    assert _max_err(case, np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12])) < 1
    assert _max_err(case, np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9])) > 1
    with pytest.raises(AssertionError):
        _max_err(case, np.array([np.inf, 1.0]), np.array([1.0, 1.0]))


def test_init_weights_bit_identical():
    """The same seed gives bit-identical starting weights (not just close)."""
    for make in (lambda B: _vae(B, "learned"), lambda B: B.Autoencoder(7, (5,), 2, seed=9),
                 lambda B: B.VQVAE(x_dim=64, hidden_dims=(8,), z_dim=3, n_codes=5, seed=1)):
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


@pytest.mark.parametrize("src,dst", [(NP, TH), (TH, NP), (NP, NP), (TH, TH)],
                         ids=["numpy->torch", "torch->numpy", "numpy->numpy", "torch->torch"])
def test_checkpoint_crosses_backends(tmp_path, src, dst):
    x = _gauss((6, 7), seed=16)
    vae = _vae(src, "learned", seed=7)
    ae = src.Autoencoder(7, (5,), 2, loss="mse", seed=8)
    vq = src.VQVAE(seed=3)
    # move the weights away from a re-drawable initialisation
    vae.set_params({k: v + 0.01 for k, v in vae.get_params().items()})
    ae.set_params({k: v - 0.02 for k, v in ae.get_params().items()})
    for model in (vae, ae, vq):
        path = tmp_path / f"{type(model).__name__}.npz"
        src.save_checkpoint(model, path)
        loaded = dst.load_checkpoint(path)
        assert type(loaded).__name__ == type(model).__name__
        assert loaded.config == model.config
        for k, v in model.get_params().items():  # the file holds the float64 values exactly
            assert np.array_equal(loaded.get_params()[k], v), k
        if model is vae:
            eps = _gauss((6, 3), seed=17)
            a = np.asarray(model.elbo(x, eps).elbo)
            b = np.asarray(loaded.elbo(x, eps).elbo)
            np.testing.assert_allclose(b, a, rtol=RTOL, atol=0)
            np.testing.assert_allclose(loaded.reconstruct(x), model.reconstruct(x),
                                       rtol=RTOL, atol=1e-14)
        elif model is ae:
            np.testing.assert_allclose(loaded.loss(x), model.loss(x), rtol=RTOL, atol=0)


def _backward_problems():
    rng = _rng(1)
    x = rng.uniform(size=(3, 7))
    lam = np.concatenate([rng.normal(scale=3, size=(3, 5)), [[0.0, 0.05]] * 3], axis=1)
    cb_grad = rng.normal(size=3)
    rng = _rng(2)
    logits = rng.normal(scale=2, size=(2, 5, 17))
    levels = rng.integers(0, 17, size=(2, 5))
    cat_grad = rng.normal(size=2)
    return {
        # autograd through torch's series/closed forms against NumPy's written-out derivative;
        # 1e-13 absolute on derivatives of size <= 1 (a few ulp of the series' terms)
        "continuous_bernoulli": ("log_px_given_z_continuous_bernoulli", x, lam, cb_grad, 1e-13),
        # log-softmax and its derivative softmax - onehot: 1e-14 absolute (entries <= 1)
        "categorical": ("log_px_given_z_categorical", levels, logits, cat_grad, 1e-14),
    }


@pytest.mark.parametrize("formula", ["continuous_bernoulli", "categorical"])
def test_numpy_backward_equals_torch_autograd(formula):
    """NumPy's hand-written ``*_backward`` against torch autograd of torch's forward (and
    against torch's own written-out ``*_backward``)."""
    name, x, logits, grad, atol = _backward_problems()[formula]
    got = getattr(NP, f"{name}_backward")(x, logits, grad)
    lt = torch.tensor(logits, requires_grad=True)
    (getattr(TH, name)(torch.tensor(x), lt) * torch.tensor(grad)).sum().backward()
    np.testing.assert_allclose(lt.grad.numpy(), got, atol=atol, rtol=0)
    np.testing.assert_allclose(getattr(TH, f"{name}_backward")(x, logits, grad), got,
                               atol=atol, rtol=0)
