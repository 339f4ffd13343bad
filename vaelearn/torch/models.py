"""Autoencoder and VAE on torch autograd, behind the same API as :mod:`vaelearn.numpy.models`.

Same constructor arguments, parameter keys, initial weights (drawn from
``numpy.random.default_rng(seed)`` in the same order) and methods. Parameters live in
``model.params`` as leaf tensors (``requires_grad=True``) on :func:`get_device`; ``get_params`` /
``set_params`` move NumPy arrays. NumPy inputs give NumPy outputs; tensor inputs give tensors.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..common.checkpoints import _CONFIG_KEY, _load_checkpoint_into
from ..common.checkpoints import save_checkpoint as _save_checkpoint
from ..common.checks import (
    _BETA_PROPERTY,
    ELBOTerms,
    _as_data,
    _as_eps,
    _check_activation,
    _check_beta,
    _check_dtype,
    _check_likelihood,
    _check_on_grid,
    _check_param_dict,
    _check_rng,
    _check_seed,
    _check_sizes,
)
from ._device import get_device
from .distributions import (
    LOG_2PI,
    _cb_log_norm_t,
    _cb_mean_t,
    _kl_dims_t,
    _kl_t,
    _log_normal_eps_t,
    _log_normal_t,
    _logmeanexp_t,
    _out,
    _torch_dtype,
)
from .layers import MLP, Linear

__all__ = [
    "ELBOTerms",
    "Autoencoder",
    "VAE",
    "save_checkpoint",
    "load_checkpoint",
]

def _bernoulli_log_px(x, logits):
    """sum_d x*l - softplus(l), via torch's fused, stable binary_cross_entropy_with_logits."""
    return -F.binary_cross_entropy_with_logits(
        logits, x.expand_as(logits), reduction="none"
    ).sum(dim=-1)


def _copy_params(model, params):
    """Copy NumPy arrays (or tensors) into ``model.params`` in place, after checking keys, shapes,
    real dtype and finiteness *after* the cast to the model's dtype (``set_params`` of every
    torch model)."""
    ref = {k: np.empty(tuple(v.shape)) for k, v in model.params.items()}
    as_np = {
        k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
        for k, v in params.items()
    } if isinstance(params, dict) else params
    cast = _check_param_dict(as_np, ref, model.dtype)
    with torch.no_grad():
        for k, v in cast.items():
            model.params[k].copy_(torch.as_tensor(v, dtype=model._tdtype))


class _Model:
    """Shared by Autoencoder and VAE: params as tensors, data conversion, get/set_params."""

    kind: str
    params: dict
    config: dict

    def _init_modules(self, modules, seed):
        """Build the layers, ``{prefix: (MLP or Linear, args, kwargs)}``, drawing their weights
        in order from ``seed``; their tensors are the model's ``params``."""
        rng = np.random.default_rng(seed)
        self._tdtype = _torch_dtype(self.dtype)
        self._modules = {
            prefix: cls(*args, seed=rng, dtype=self.dtype, device=self.device, **kwargs)
            for prefix, (cls, args, kwargs) in modules.items()
        }
        self.params = {
            f"{prefix}.{k}": v
            for prefix, mod in self._modules.items()
            for k, v in mod.params.items()
        }

    def _leaf(self, array):
        return torch.tensor(array, dtype=self._tdtype, device=self.device).requires_grad_(True)

    def _tensor(self, x, x_dim, name="x", unit_interval=False):
        """Validate and convert data to a tensor of the model's dtype on its device."""
        if isinstance(x, torch.Tensor):
            if x.dim() != 2:
                raise ValueError(
                    f"argument {name!r} has shape {tuple(x.shape)}; expected (batch_size, {x_dim})"
                )
            if x.shape[1] != x_dim:
                raise ValueError(
                    f"argument {name!r} has {x.shape[1]} columns; the model has dim {x_dim}"
                )
            x = x.to(device=self.device, dtype=self._tdtype)
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"argument {name!r} contains NaN or infinite values")
            if unit_interval and x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
                raise ValueError(
                    f"argument {name!r} has values outside [0, 1]; a Bernoulli decoder needs "
                    "data in [0, 1]"
                )
            return x, True
        x = _as_data(x, x_dim, self.dtype, name, unit_interval)
        return torch.as_tensor(x, device=self.device), False

    def _eps_tensor(self, eps, n):
        if isinstance(eps, torch.Tensor):
            if eps.dim() not in (2, 3) or tuple(eps.shape[-2:]) != (n, self.z_dim):
                raise ValueError(
                    f"argument 'eps' has shape {tuple(eps.shape)}; expected ({n}, {self.z_dim}) "
                    f"or (n_samples, {n}, {self.z_dim})"
                )
            eps = eps.to(device=self.device, dtype=self._tdtype)
            if not bool(torch.isfinite(eps).all()):
                raise ValueError("argument 'eps' contains NaN or infinite values")
            return eps
        return torch.as_tensor(_as_eps(eps, n, self.z_dim, self.dtype), device=self.device)

    def get_params(self):
        """Return a dict of NumPy copies of the parameters (keys as in ``params``)."""
        return {k: v.detach().cpu().numpy().copy() for k, v in self.params.items()}

    def set_params(self, params):
        """Copy NumPy arrays (or tensors) into the parameters in place; keys/shapes must match."""
        _copy_params(self, params)

    def _to_dtype(self, dtype):
        """Cast every parameter to ``dtype`` (fast mode trains in float32)."""
        dtype = _check_dtype(dtype)
        if dtype == self.dtype:
            return
        self.dtype = dtype
        self.config["dtype"] = dtype
        self._tdtype = _torch_dtype(dtype)
        for k in list(self.params):
            self.params[k] = self.params[k].detach().to(self._tdtype).requires_grad_(True)
        for prefix, mod in self._modules.items():  # the layers hold the new tensors too
            own = {k[len(prefix) + 1:]: v for k, v in self.params.items()
                   if k.startswith(prefix + ".") and k[len(prefix) + 1:] in mod.params}
            if isinstance(mod, MLP):
                mod._rebind(own)
            else:
                mod.params = own

    def num_params(self):
        """Total number of scalar parameters."""
        return int(sum(v.numel() for v in self.params.values()))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "model")
        return f"{type(self).__name__}({args})"


class Autoencoder(_Model):
    """A deterministic autoencoder ``x -> z -> x_hat`` on torch. Lessons 02-03.

    See :class:`vaelearn.numpy.Autoencoder` for the arguments; the same keys and initial weights.
    """

    kind = "autoencoder"

    def __init__(
        self,
        x_dim,
        hidden_dims=(128,),
        z_dim=2,
        linear=False,
        loss="mse",
        activation="relu",
        seed=0,
        dtype="float64",
        device=None,
    ):
        x_dim, hidden_dims, z_dim = _check_sizes(x_dim, hidden_dims, z_dim)
        seed = _check_seed(seed)
        if loss not in ("mse", "bce"):
            raise ValueError(f"argument 'loss' is {loss!r}; expected 'mse' or 'bce'")
        activation = _check_activation(activation)
        self.dtype = _check_dtype(dtype)
        self.x_dim, self.z_dim, self.hidden_dims = x_dim, z_dim, hidden_dims
        self.linear, self.loss_name = bool(linear), loss
        self.activation = "identity" if linear else activation
        self.config = {
            "model": "Autoencoder",
            "x_dim": x_dim,
            "hidden_dims": list(hidden_dims),
            "z_dim": z_dim,
            "linear": self.linear,
            "loss": loss,
            "activation": activation,
            "seed": int(seed),
            "dtype": self.dtype,
        }
        self.device = get_device(device)
        act = self.activation
        self._init_modules({
            "encoder": (MLP, ((x_dim, *hidden_dims, z_dim), act), {"out_name": "out"}),
            "decoder": (MLP, ((z_dim, *hidden_dims[::-1], x_dim), act), {"out_name": "out"}),
        }, seed)
        self._enc, self._dec = self._modules["encoder"], self._modules["decoder"]

    def _check_x(self, x, name="x"):
        return self._tensor(x, self.x_dim, name, unit_interval=self.loss_name == "bce")

    def _encode_t(self, x):
        return self._enc._f(x)

    def _decode_raw_t(self, z):
        return self._dec._f(z)

    def encode(self, x):
        """Code ``z = encoder(x)``, shape ``(batch_size, z_dim)``."""
        x, tin = self._tensor(x, self.x_dim)
        with torch.set_grad_enabled(tin):
            return _out(self._encode_t(x), tin)

    def decode(self, z):
        """Reconstruction ``x_hat``, shape ``(batch_size, x_dim)`` (probabilities for bce)."""
        z, tin = self._tensor(z, self.z_dim, "z")
        with torch.set_grad_enabled(tin):
            out = self._decode_raw_t(z)
            return _out(torch.sigmoid(out) if self.loss_name == "bce" else out, tin)

    def _per_example_t(self, x, target):
        out = self._decode_raw_t(self._encode_t(x))
        if self.loss_name == "mse":
            diff = out - target
            return torch.sum(diff * diff, dim=-1)
        return -_bernoulli_log_px(target, out)

    def _targets(self, x, x_target):
        x, tin = self._tensor(x, self.x_dim)
        if x_target is None:
            target, _ = self._check_x(x)
        else:
            target, _ = self._check_x(x_target, "x_target")
        if target.shape != x.shape:
            raise ValueError(
                f"argument 'x_target' has shape {tuple(target.shape)}; expected {tuple(x.shape)}"
            )
        return x, target, tin

    def loss(self, x, x_target=None):
        """Per-example loss, ``(batch_size,)``, summed over dimensions (see the NumPy twin)."""
        x, target, tin = self._targets(x, x_target)
        with torch.set_grad_enabled(tin):
            return _out(self._per_example_t(x, target), tin)

    def _loss_t(self, x, target):
        loss = self._per_example_t(x, target).mean()
        return loss, {}

    def loss_and_grads(self, x, x_target=None):
        """Mean loss over the batch and its gradient for every parameter (by autograd).

        Returns ``(float, {key: ndarray})`` for NumPy input, ``(tensor, {key: tensor})`` for
        tensor input.
        """
        x, target, tin = self._targets(x, x_target)
        with torch.enable_grad():
            loss, _ = self._loss_t(x, target)
            keys = list(self.params)
            g = torch.autograd.grad(loss, [self.params[k] for k in keys])
        grads = {k: _out(v.detach(), tin) for k, v in zip(keys, g, strict=True)}
        return _loss_out(loss, tin), grads


def _loss_out(loss, tin):
    return loss.detach() if tin else float(loss.detach())


class VAE(_Model):
    """Variational autoencoder on torch autograd. Lessons 05-08.

    See :class:`vaelearn.numpy.VAE` for the arguments and the maths; the same keys, initial
    weights, objective and hooks (``estimator="score"``, ``objective="iwae"``, ``free_bits``).
    """

    kind = "vae"
    beta = _BETA_PROPERTY

    def __init__(
        self,
        x_dim,
        hidden_dims=(128,),
        z_dim=2,
        likelihood="bernoulli",
        sigma=1.0,
        beta=1.0,
        free_bits=0.0,
        activation="relu",
        seed=0,
        dtype="float64",
        n_levels=17,
        device=None,
    ):
        x_dim, hidden_dims, z_dim = _check_sizes(x_dim, hidden_dims, z_dim)
        seed = _check_seed(seed)
        likelihood, n_levels = _check_likelihood(likelihood, n_levels)
        learned = isinstance(sigma, str)
        if learned and sigma != "learned":
            raise ValueError(f"argument 'sigma' is {sigma!r}; expected a float > 0 or 'learned'")
        if not learned and not (float(sigma) > 0 and math.isfinite(float(sigma))):
            raise ValueError(f"argument 'sigma' is {sigma!r}; expected a float > 0 or 'learned'")
        _check_beta(beta)
        if not (float(free_bits) >= 0 and math.isfinite(float(free_bits))):
            raise ValueError(f"argument 'free_bits' is {free_bits!r}; expected a float >= 0")
        activation = _check_activation(activation)
        self.dtype = _check_dtype(dtype)
        self.x_dim, self.z_dim, self.hidden_dims = x_dim, z_dim, hidden_dims
        self.likelihood = likelihood
        self.learn_sigma = learned and likelihood == "gaussian"
        self.sigma = sigma if learned else float(sigma)
        self.beta = float(beta)
        self.free_bits = float(free_bits)
        self.activation = activation
        self.config = {
            "model": "VAE",
            "x_dim": x_dim,
            "hidden_dims": list(hidden_dims),
            "z_dim": z_dim,
            "likelihood": likelihood,
            "sigma": self.sigma,
            "beta": self.beta,
            "free_bits": self.free_bits,
            "activation": activation,
            "seed": int(seed),
            "dtype": self.dtype,
        }
        self.n_levels = n_levels
        if likelihood == "categorical":
            self.config["n_levels"] = n_levels
        out_dim = x_dim * n_levels if likelihood == "categorical" else x_dim
        self.device = get_device(device)
        width = hidden_dims[-1] if hidden_dims else x_dim
        self._init_modules({
            "encoder": (MLP, ((x_dim, *hidden_dims), activation, activation), {}),
            "encoder.mean": (Linear, (width, z_dim), {}),
            "encoder.logvar": (Linear, (width, z_dim), {}),
            "decoder": (MLP, ((z_dim, *hidden_dims[::-1], out_dim), activation),
                        {"out_name": "out"}),
        }, seed)
        self._enc, self._dec = self._modules["encoder"], self._modules["decoder"]
        self._enc_mean = self._modules["encoder.mean"]
        self._enc_logvar = self._modules["encoder.logvar"]
        if self.learn_sigma:
            self.params["decoder.logsigma"] = self._leaf(np.zeros(1))

    # -- forward pieces on tensors ------------------------------------------------------------

    def _check_x(self, x, name="x"):
        x, tin = self._tensor(x, self.x_dim, name, unit_interval=self.likelihood != "gaussian")
        if self.likelihood == "categorical":
            _check_on_grid(x.detach().cpu().numpy(), self.n_levels, name)
        return x, tin

    def _mean_from_raw_t(self, out):
        if self.likelihood == "bernoulli":
            return torch.sigmoid(out)
        if self.likelihood == "continuous_bernoulli":
            return _cb_mean_t(out)
        if self.likelihood == "categorical":
            grid = torch.arange(self.n_levels, dtype=out.dtype, device=out.device)
            p = torch.softmax(out.reshape(*out.shape[:-1], self.x_dim, self.n_levels), dim=-1)
            return p @ (grid / (self.n_levels - 1))
        return out

    def _encode_t(self, x):
        h = self._enc._f(x)
        return self._enc_mean._f(h), self._enc_logvar._f(h)

    def _decode_raw_t(self, z):
        shape = z.shape
        z2 = z.reshape(-1, self.z_dim)
        out = self._dec._f(z2)
        return out.reshape(*shape[:-1], out.shape[-1])

    def _log_px_t(self, x, out):
        if self.likelihood == "bernoulli":
            return _bernoulli_log_px(x, out)
        if self.likelihood == "continuous_bernoulli":
            return _bernoulli_log_px(x, out) + torch.sum(_cb_log_norm_t(out), dim=-1)
        if self.likelihood == "categorical":
            lsm = torch.log_softmax(out.reshape(*out.shape[:-1], self.x_dim, self.n_levels), -1)
            levels = torch.round(x * (self.n_levels - 1)).long()
            idx = levels.expand(lsm.shape[:-1])[..., None]
            return torch.gather(lsm, -1, idx)[..., 0].sum(dim=-1)
        if self.learn_sigma:
            log_sigma = self.params["decoder.logsigma"][0]
            inv_var = torch.exp(-2 * log_sigma)
        else:
            log_sigma = math.log(self.sigma)
            inv_var = math.exp(-2 * log_sigma)
        diff = x - out
        return -0.5 * torch.sum(diff * diff, dim=-1) * inv_var - self.x_dim * (
            log_sigma + 0.5 * LOG_2PI
        )

    # -- public forward -----------------------------------------------------------------------

    def encode(self, x):
        """Return ``(z_mean, z_logvar)``, each ``(batch_size, z_dim)``."""
        x, tin = self._check_x(x)
        with torch.set_grad_enabled(tin):
            z_mean, z_logvar = self._encode_t(x)
        return _out(z_mean, tin), _out(z_logvar, tin)

    def decode(self, z):
        """Mean of p(x|z), ``(batch_size, x_dim)``: see :meth:`vaelearn.numpy.VAE.decode`."""
        z, tin = self._tensor(z, self.z_dim, "z")
        with torch.set_grad_enabled(tin):
            return _out(self._mean_from_raw_t(self._decode_raw_t(z)), tin)

    def decode_raw(self, z):
        """The decoder's output before the likelihood (see :meth:`vaelearn.numpy.VAE.decode_raw`):
        logits, ``(batch_size, x_dim, n_levels)`` logits (categorical), or Gaussian means."""
        z, tin = self._tensor(z, self.z_dim, "z")
        with torch.set_grad_enabled(tin):
            out = self._decode_raw_t(z)
            if self.likelihood == "categorical":
                out = out.reshape(*out.shape[:-1], self.x_dim, self.n_levels)
            return _out(out, tin)

    def sample_eps(self, n, rng, n_samples=None):
        """Standard normal noise from ``rng`` (NumPy), ``(n, z_dim)`` or ``(n_samples, n, z_dim)``.

        The same draws as the NumPy backend; returned as a NumPy array.
        """
        _check_rng(rng)
        if int(n) != n or n < 1:
            raise ValueError(f"argument 'n' is {n!r}; expected a positive int")
        shape = (int(n), self.z_dim)
        if n_samples is not None:
            if int(n_samples) != n_samples or n_samples < 1:
                raise ValueError(f"argument 'n_samples' is {n_samples!r}; expected int >= 1")
            shape = (int(n_samples), *shape)
        return rng.standard_normal(shape).astype(self.dtype, copy=False)

    def sample(self, n, rng):
        """Decoded means of ``n`` draws ``z ~ N(0, I)`` from ``rng``, ``(n, x_dim)``."""
        return self.decode(self.sample_eps(n, rng))

    def reconstruct(self, x):
        """``decode(z_mean)``, ``(batch_size, x_dim)``."""
        z_mean, _ = self.encode(x)
        return self.decode(z_mean)

    def elbo(self, x, eps, kl="analytic"):
        """Per-example ELBO and its terms (``ELBOTerms``, each ``(batch_size,)``), in nats."""
        if kl not in ("analytic", "mc"):
            raise ValueError(f"argument 'kl' is {kl!r}; expected 'analytic' or 'mc'")
        x, tin = self._check_x(x)
        eps = self._eps_tensor(eps, x.shape[0])
        with torch.set_grad_enabled(tin):
            t = self._elbo_t(x, eps, kl)
        return ELBOTerms(*(_out(v, tin) for v in t))

    def _elbo_t(self, x, eps, kl="analytic"):
        z_mean, z_logvar = self._encode_t(x)
        z = z_mean + torch.exp(0.5 * z_logvar) * eps
        log_px = self._log_px_t(x, self._decode_raw_t(z))
        if kl == "analytic":
            kl_value = _kl_t(z_mean, z_logvar)
        else:
            # log q(z|x) from the noise (z - z_mean would round away when sigma << |mu|)
            kl_value = _log_normal_eps_t(eps, z_logvar) - _log_normal_t(z, 0.0, 0.0)
        if eps.dim() == 3:
            log_px = log_px.mean(dim=0)
            if kl == "mc":
                kl_value = kl_value.mean(dim=0)
        return ELBOTerms(log_px - kl_value, log_px, kl_value)

    def _log_weights_t(self, x, eps, x_target=None):
        z_mean, z_logvar = self._encode_t(x)
        z = z_mean + torch.exp(0.5 * z_logvar) * eps
        target = x if x_target is None else x_target
        log_px = self._log_px_t(target, self._decode_raw_t(z))
        # log q(z|x) at z = mu + sigma * eps is -1/2 sum(eps^2 + log 2 pi + logvar): from eps,
        # never from z - mu (which rounds away when sigma << |mu|, or gives 0 * inf)
        log_w = log_px + _log_normal_t(z, 0.0, 0.0) - _log_normal_eps_t(eps, z_logvar)
        return log_w, log_px, z_mean, z_logvar

    def iwae_bound(self, x, eps):
        """Importance-weighted bound per example, ``(batch_size,)``, nats; eps ``(k, n, z_dim)``."""
        x, tin = self._check_x(x)
        eps = self._eps_tensor(eps, x.shape[0])
        if eps.dim() == 2:
            eps = eps[None]
        with torch.set_grad_enabled(tin):
            return _out(_logmeanexp_t(self._log_weights_t(x, eps)[0], 0), tin)

    # -- training loss ------------------------------------------------------------------------

    def _loss_t(
        self, x, eps, estimator="pathwise", baseline=None, objective="elbo", x_target=None
    ):
        """Differentiable training loss (a surrogate for the score estimator), and batch-mean
        terms ``{"value": the true loss, "rec", "kl"}`` as detached tensors."""
        if objective == "iwae":
            eps3 = eps if eps.dim() == 3 else eps[None]
            log_w, log_px, z_mean, z_logvar = self._log_weights_t(x, eps3, x_target)
            loss = -_logmeanexp_t(log_w, 0).mean()
            with torch.no_grad():
                rec, kl = -log_px.mean(), _kl_t(z_mean, z_logvar).mean()
            return loss, {"value": loss.detach(), "rec": rec, "kl": kl}
        target = x if x_target is None else x_target
        z_mean, z_logvar = self._encode_t(x)
        std = torch.exp(0.5 * z_logvar)
        z = z_mean + std * eps
        if estimator == "score":
            z = z.detach()
        out = self._decode_raw_t(z)
        if self.likelihood == "bernoulli" and estimator == "pathwise":
            # the batch-mean reconstruction term in one fused call (as a plain torch loop does)
            rec = F.binary_cross_entropy_with_logits(
                out, target.expand_as(out), reduction="sum"
            ) * (1.0 / out[..., 0].numel())
        else:
            log_px = self._log_px_t(target, out)  # (n,) or (k, n)
            rec = -log_px.mean()
        n = z_mean.shape[0]
        # KL per latent dimension, averaged over the batch (floored at free_bits in the loss)
        kl_mean_dim = _kl_dims_t(z_mean, z_logvar).sum(dim=0) * (1.0 / n)
        kl = kl_mean_dim.sum()
        kl_term = torch.clamp(kl_mean_dim, min=self.free_bits).sum() if self.free_bits > 0 else kl
        loss = rec + self.beta * kl_term
        value = loss.detach()
        if estimator == "score":
            # REINFORCE: add -(signal - baseline) * log q(z|x) with z and the signal held fixed;
            # its gradient is the score-function estimate, its value is not part of the loss.
            signal = log_px.detach()
            if baseline is not None:
                signal = signal - baseline
            log_q = _log_normal_t(z, z_mean, z_logvar)
            loss = loss - (signal * log_q).mean()
        return loss, {"value": value, "rec": rec.detach(), "kl": kl.detach()}

    def loss_and_grads(self, x, eps, estimator="pathwise", baseline=None, objective="elbo"):
        """Training loss (batch mean, nats) and its gradient for every parameter, by autograd.

        Same arguments and meaning as :meth:`vaelearn.numpy.VAE.loss_and_grads`. Returns
        ``(float, {key: ndarray})`` for NumPy input, ``(tensor, {key: tensor})`` for tensors.
        """
        if estimator not in ("pathwise", "score"):
            raise ValueError(f"argument 'estimator' is {estimator!r}; expected 'pathwise'/'score'")
        if objective not in ("elbo", "iwae"):
            raise ValueError(f"argument 'objective' is {objective!r}; expected 'elbo' or 'iwae'")
        if objective == "iwae" and estimator != "pathwise":
            raise ValueError("argument 'estimator' must be 'pathwise' with objective='iwae'")
        if baseline is not None and estimator != "score":
            raise ValueError("argument 'baseline' is only used with estimator='score'")
        x, tin = self._check_x(x)
        eps = self._eps_tensor(eps, x.shape[0])
        if baseline is not None:
            if isinstance(baseline, torch.Tensor):
                baseline = baseline.detach().to(device=self.device, dtype=self._tdtype)
            else:
                baseline = torch.as_tensor(
                    np.asarray(baseline, dtype=self.dtype), device=self.device
                )
            if not bool(torch.isfinite(baseline).all()):
                raise ValueError("argument 'baseline' contains NaN or infinite values")
            try:
                torch.broadcast_shapes(baseline.shape, eps.shape[:-1])
            except RuntimeError as exc:
                raise ValueError(
                    f"argument 'baseline' has shape {tuple(baseline.shape)}; it must broadcast "
                    f"to {tuple(eps.shape[:-1])}"
                ) from exc
        with torch.enable_grad():
            loss, terms = self._loss_t(x, eps, estimator, baseline, objective)
            keys = list(self.params)
            g = torch.autograd.grad(loss, [self.params[k] for k in keys])
        return _loss_out(terms["value"], tin), {
            k: _out(v.detach(), tin) for k, v in zip(keys, g, strict=True)
        }


def save_checkpoint(model, path):
    """Save ``model`` to ``path`` (``.npz``): one array per ``params`` key plus its config as JSON.

    The same file format as the NumPy backend; loads into either backend.
    """
    return _save_checkpoint(model, path)


def load_checkpoint(path):
    """Load a model saved by :func:`save_checkpoint` (from either backend) into this backend.

    Raises
    ------
    ValueError
        If the device (``VAELEARN_DEVICE``) is unavailable (checked first, so the message blames
        the device and not the file), or for the reasons of
        :func:`vaelearn.numpy.load_checkpoint`; the message names the file.
    """
    from .autoregressive import AutoregressiveVAE
    from .vq import VQVAE

    get_device()  # a missing GPU is the device's fault, not the checkpoint's
    return _load_checkpoint_into(
        path, {"VAE": VAE, "Autoencoder": Autoencoder, "VQVAE": VQVAE,
               "AutoregressiveVAE": AutoregressiveVAE}
    )


_ = _CONFIG_KEY
