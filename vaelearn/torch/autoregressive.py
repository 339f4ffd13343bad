r"""The autoregressive (MADE) decoder and its VAE on torch autograd. Lesson 07.

The same names, signatures, parameter keys and initial weights as
:mod:`vaelearn.numpy.autoregressive` (read its docstrings for the maths); here every backward pass
is autograd's. NumPy in gives NumPy out; tensors in give tensors out (keeping the graph).
"""

from __future__ import annotations

import numpy as np
import torch

from ..common.checks import (
    ELBOTerms,
    _check_binary,
    _check_context,
    _check_dtype,
    _check_mask,
    _check_nonneg,
    _check_rng,
    _init_autoregressive_vae,
    _init_made,
    _pos_int,
)
from ..common.checks import _as_data as _check_data
from ..common.checks import _as_eps as _check_eps
from ._device import get_device
from .distributions import (
    _out,
    _to_tensors,
    _torch_dtype,
    kl_normal_std_normal,
    log_px_given_z_bernoulli,
    reparameterize,
)
from .layers import ACTIVATIONS, MLP, Linear, init_linear
from .models import _copy_params

__all__ = ["made_masks", "MaskedLinear", "MADE", "AutoregressiveVAE"]


def made_masks(x_dim, hidden_dim, context=None):
    """The two MADE masks, as NumPy 0/1 arrays: see :func:`vaelearn.numpy.made_masks`.

    Returns
    -------
    mask_in : ndarray, shape (x_dim, hidden_dim)
    mask_out : ndarray, shape (hidden_dim, x_dim)
    """
    x_dim = _pos_int(x_dim, "x_dim")
    hidden_dim = _pos_int(hidden_dim, "hidden_dim")
    context = _check_context(context)
    m_in = torch.arange(1, x_dim + 1)  # input degrees 1..D
    m_hidden = torch.arange(hidden_dim) % x_dim  # hidden degrees 0..D-1, cycled
    m_out = torch.arange(1, x_dim + 1)  # output degrees 1..D
    keep_in = m_in[:, None] <= m_hidden[None, :]
    if context is None:
        keep_out = m_hidden[:, None] < m_out[None, :]
    else:
        keep_in &= m_in[:, None] > m_hidden[None, :] - context
        keep_out = m_hidden[:, None] == m_out[None, :] - 1
    return keep_in.double().numpy(), keep_out.double().numpy()


class MaskedLinear(Linear):
    """Affine layer with a fixed 0/1 mask on its weights, ``y = x @ (W * mask) + b``.

    See :class:`vaelearn.numpy.MaskedLinear`; ``backward`` is autograd's.
    """

    def __init__(self, in_dim, out_dim, mask, *, seed=0, dtype="float64", device=None):
        if isinstance(mask, torch.Tensor):
            mask = mask.detach().cpu().numpy()
        in_dim, out_dim, mask = _check_mask(in_dim, out_dim, mask)
        super().__init__(in_dim, out_dim, seed=seed, dtype=dtype, device=device)
        W = self.params["W"]
        self.mask = torch.as_tensor(mask, dtype=W.dtype, device=W.device)
        with torch.no_grad():
            W.mul_(self.mask)

    def _f(self, x):
        return torch.addmm(self.params["b"], x, self.params["W"] * self.mask) if x.dim() == 2 \
            else x @ (self.params["W"] * self.mask) + self.params["b"]


def _linear_t(x, W, b):
    return torch.addmm(b, x, W) if x.dim() == 2 else x @ W + b


class MADE:
    """MADE conditioned on ``z`` on torch: see :class:`vaelearn.numpy.MADE` (same arguments,
    keys, initial weights). ``backward`` returns ``(dx, dz, grads)`` by autograd."""

    def __init__(self, x_dim, hidden_dim, z_dim=0, context=None, activation="relu", *, seed=0,
                 dtype="float64", device=None):
        dtype, rng = _init_made(self, x_dim, hidden_dim, z_dim, context, activation, seed, dtype)
        mask_in, mask_out = made_masks(self.x_dim, self.hidden_dim, self.context)
        self.inp = MaskedLinear(self.x_dim, self.hidden_dim, mask_in, seed=rng, dtype=dtype,
                                 device=device)
        self.params = {"in.W": self.inp.params["W"], "in.b": self.inp.params["b"]}
        if self.z_dim:
            bound = 1.0 / np.sqrt(self.z_dim)
            wz = rng.uniform(-bound, bound, size=(self.z_dim, self.hidden_dim)).astype(dtype)
            self.params["z.W"] = torch.tensor(wz, device=get_device(device)).requires_grad_(True)
        self.out = MaskedLinear(self.hidden_dim, self.x_dim, mask_out, seed=rng, dtype=dtype,
                                 device=device)
        self.params["out.W"] = self.out.params["W"]
        self.params["out.b"] = self.out.params["b"]
        self.act = ACTIVATIONS[self.activation]()

    def _relink(self):
        self.inp.params = {"W": self.params["in.W"], "b": self.params["in.b"]}
        self.out.params = {"W": self.params["out.W"], "b": self.params["out.b"]}
        dtype = self.params["in.W"].dtype
        self.inp.mask = self.inp.mask.to(dtype)
        self.out.mask = self.out.mask.to(dtype)

    def _check_inputs(self, x, z):
        ref = self.params["in.W"]
        if self.z_dim:
            if z is None:
                raise ValueError(f"argument 'z' is None; this MADE needs z of size {self.z_dim}")
            (x, z), tin = _to_tensors(x, z, dtype=ref.dtype, device=ref.device)
        else:
            if z is not None:
                raise ValueError("argument 'z' must be None for a MADE with z_dim=0")
            (x,), tin = _to_tensors(x, dtype=ref.dtype, device=ref.device)
        if x.dim() != 2 or x.shape[1] != self.x_dim:
            raise ValueError(f"argument 'x' has shape {tuple(x.shape)}; expected (batch_size, "
                             f"{self.x_dim})")
        if z is not None and (z.dim() not in (2, 3)
                              or tuple(z.shape[-2:]) != (x.shape[0], self.z_dim)):
            raise ValueError(
                f"argument 'z' has shape {tuple(z.shape)}; expected ({x.shape[0]}, "
                f"{self.z_dim}) or (n_samples, {x.shape[0]}, {self.z_dim})")
        return x, z, tin

    def _logits_t(self, x, z):
        p = self.params
        a = _linear_t(x, p["in.W"] * self.inp.mask, p["in.b"])
        if self.z_dim:
            a = a + z @ p["z.W"]
        return _linear_t(self.act._f(a), p["out.W"] * self.out.mask, p["out.b"])

    def __call__(self, x, z=None):
        """Logits ``(batch_size, x_dim)`` (or ``(n_samples, batch_size, x_dim)`` for 3-D z)."""
        x, z, tin = self._check_inputs(x, z)
        with torch.set_grad_enabled(tin):
            return _out(self._logits_t(x, z), tin)

    def forward(self, x, z=None):
        """Return ``(logits, cache)``; the cache holds the graph for :meth:`backward`."""
        x, z, tin = self._check_inputs(x, z)
        x = x.detach().requires_grad_(True)
        if z is not None:
            z = z.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self._logits_t(x, z)
        return _out(logits, tin), (x, z, logits, tin)

    def backward(self, d_logits, cache):
        """``(dx, dz, grads)`` for upstream ``dL/dlogits``, by autograd (``dz`` None without z)."""
        x, z, logits, tin = cache
        (d,), _ = _to_tensors(d_logits, dtype=logits.dtype, device=logits.device)
        keys = list(self.params)
        inputs = [x] + ([z] if z is not None else []) + [self.params[k] for k in keys]
        g = torch.autograd.grad(logits, inputs, d, retain_graph=True)
        dx = _out(g[0].detach(), tin)
        dz = _out(g[1].detach(), tin) if z is not None else None
        rest = g[2:] if z is not None else g[1:]
        return dx, dz, {k: _out(v.detach(), tin) for k, v in zip(keys, rest, strict=True)}

    def _sample_t(self, z, u):
        p = self.params
        x = torch.zeros_like(u)
        w_in = p["in.W"] * self.inp.mask
        w_out = p["out.W"] * self.out.mask
        a = p["in.b"].expand(u.shape[0], -1)
        if self.z_dim:
            a = a + z @ p["z.W"]
        for i in range(self.x_dim):
            logit = self.act._f(a) @ w_out[:, i] + p["out.b"][i]
            x[:, i] = (u[:, i] < torch.sigmoid(logit)).to(u.dtype)
            a = a + x[:, i : i + 1] * w_in[i]
        return x

    def sample(self, z, u):
        """Ancestral samples, ``(batch_size, x_dim)`` of 0/1: see
        :meth:`vaelearn.numpy.MADE.sample`."""
        ref = self.params["in.W"]
        if self.z_dim and z is None:
            raise ValueError(f"argument 'z' is None; this MADE needs z of size {self.z_dim}")
        arrays = (u,) if z is None else (u, z)
        ts, tin = _to_tensors(*arrays, dtype=ref.dtype, device=ref.device)
        u = ts[0]
        if u.dim() != 2 or u.shape[1] != self.x_dim or not bool(torch.isfinite(u).all()):
            raise ValueError(f"argument 'u' has shape {tuple(u.shape)} or non-finite values; "
                             f"expected finite (batch_size, {self.x_dim})")
        z = None if z is None else ts[1]
        self._check_inputs(torch.zeros_like(u), z)
        if z is not None and z.dim() != 2:
            raise ValueError(f"argument 'z' has shape {tuple(z.shape)}; expected 2-D for sampling")
        with torch.no_grad():
            return _out(self._sample_t(z, u), tin)


def _get_beta(self):
    return self._beta


def _set_beta(self, value):
    self._beta = _check_nonneg(value, "beta")
    if hasattr(self, "config"):
        self.config["beta"] = self._beta


class AutoregressiveVAE:
    """A VAE with a MADE decoder on torch: see :class:`vaelearn.numpy.AutoregressiveVAE` (same
    arguments, keys, initial weights, loss). Trains with :func:`vaelearn.torch.fit`. Lesson 07."""

    kind = "vae"
    beta = property(_get_beta, _set_beta, doc="Weight of the KL term in the training loss.")

    def __init__(self, x_dim, hidden_dims=(128,), z_dim=2, made_hidden=128, context=None,
                 beta=1.0, free_bits=0.0, activation="relu", seed=0, dtype="float64", device=None):
        seed = _init_autoregressive_vae(
            self, x_dim, hidden_dims, z_dim, made_hidden, context, beta, free_bits, activation,
            seed, dtype)
        self.device = get_device(device)
        self._tdtype = _torch_dtype(self.dtype)
        rng = np.random.default_rng(seed)
        dims = (x_dim, *hidden_dims)
        self.params = {}
        self._n_hidden = len(hidden_dims)
        if hidden_dims:
            enc = MLP(dims, activation, out_activation=activation, seed=rng, dtype=self.dtype,
                      device=self.device)
            self.params.update({f"encoder.{k}": v for k, v in enc.params.items()})
        for name in ("mean", "logvar"):
            W, b = init_linear(dims[-1], z_dim, rng, self.dtype)
            self.params[f"encoder.{name}.W"] = self._leaf(W)
            self.params[f"encoder.{name}.b"] = self._leaf(b)
        self._made = MADE(x_dim, made_hidden, z_dim, context, activation, seed=rng,
                          dtype=self.dtype, device=self.device)
        self.params.update({f"decoder.{k}": v for k, v in self._made.params.items()})
        self._act = ACTIVATIONS[activation]()

    def _leaf(self, array):
        return torch.tensor(array, dtype=self._tdtype, device=self.device).requires_grad_(True)

    # -- parameters ---------------------------------------------------------------------------

    def get_params(self):
        """Return a dict of NumPy copies of the parameters (keys as in ``params``)."""
        return {k: v.detach().cpu().numpy().copy() for k, v in self.params.items()}

    def set_params(self, params):
        """Copy NumPy arrays (or tensors) into the parameters in place; keys/shapes must match.

        Masked decoder weights are multiplied by their masks."""
        _copy_params(self, params)
        with torch.no_grad():
            self.params["decoder.in.W"].mul_(self._made.inp.mask)
            self.params["decoder.out.W"].mul_(self._made.out.mask)

    def _to_dtype(self, dtype):
        """Cast every parameter to ``dtype`` (``fit``'s fast mode trains in float32)."""
        dtype = _check_dtype(dtype)
        if dtype == self.dtype:
            return
        self.dtype = self.config["dtype"] = dtype
        self._tdtype = _torch_dtype(dtype)
        for k in list(self.params):
            self.params[k] = self.params[k].detach().to(self._tdtype).requires_grad_(True)
        for k in self._made.params:
            self._made.params[k] = self.params[f"decoder.{k}"]
        self._made._relink()

    def num_params(self):
        """Total number of scalar parameters (masked weights included)."""
        return int(sum(v.numel() for v in self.params.values()))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "model")
        return f"{type(self).__name__}({args})"

    # -- checks and noise ---------------------------------------------------------------------

    def _tensor(self, x, x_dim, name="x", binary=False):
        if isinstance(x, torch.Tensor):
            x_np, tin = x.detach().cpu().numpy(), True
        else:
            x_np, tin = x, False
        arr = _check_data(x_np, x_dim, self.dtype, name, unit_interval=binary)
        if binary:
            _check_binary(arr, name)
        if tin:
            return x.to(device=self.device, dtype=self._tdtype), True
        return torch.as_tensor(arr, device=self.device), False

    def _check_x(self, x, name="x"):
        return self._tensor(x, self.x_dim, name, binary=True)

    def _eps_tensor(self, eps, n):
        if isinstance(eps, torch.Tensor):
            _check_eps(eps.detach().cpu().numpy(), n, self.z_dim, self.dtype)
            return eps.to(device=self.device, dtype=self._tdtype)
        return torch.as_tensor(_check_eps(eps, n, self.z_dim, self.dtype), device=self.device)

    def sample_eps(self, n, rng, n_samples=None):
        """Standard normal noise from ``rng`` (NumPy), as :meth:`vaelearn.numpy.VAE.sample_eps`."""
        _check_rng(rng)
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"argument 'n' is {n!r}; expected a positive int")
        shape = (int(n), self.z_dim)
        if n_samples is not None:
            if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < 1:
                raise ValueError(f"argument 'n_samples' is {n_samples!r}; expected int >= 1")
            shape = (int(n_samples), *shape)
        return rng.standard_normal(shape).astype(self.dtype, copy=False)

    # -- forward ------------------------------------------------------------------------------

    def _encode_t(self, x):
        p = self.params
        h = x
        for i in range(self._n_hidden):
            h = self._act._f(_linear_t(h, p[f"encoder.{i}.W"], p[f"encoder.{i}.b"]))
        return (_linear_t(h, p["encoder.mean.W"], p["encoder.mean.b"]),
                _linear_t(h, p["encoder.logvar.W"], p["encoder.logvar.b"]))

    def encode(self, x):
        """Return ``(z_mean, z_logvar)``, each ``(batch_size, z_dim)``."""
        x, tin = self._check_x(x)
        with torch.set_grad_enabled(tin):
            z_mean, z_logvar = self._encode_t(x)
        return _out(z_mean, tin), _out(z_logvar, tin)

    def _z(self, z, n=None):
        if isinstance(z, torch.Tensor):
            z_np, tin = z.detach().cpu().numpy(), True
        else:
            z_np, tin = np.asarray(z, dtype=self.dtype), False
        if z_np.ndim != 2 or z_np.shape[1] != self.z_dim or (n is not None and z_np.shape[0] != n):
            want = f"({'batch_size' if n is None else n}, {self.z_dim})"
            raise ValueError(f"argument 'z' has shape {z_np.shape}; expected {want}")
        if not np.all(np.isfinite(z_np)):
            raise ValueError("argument 'z' contains NaN or infinite values")
        if tin:
            return z.to(device=self.device, dtype=self._tdtype), True
        return torch.as_tensor(z_np, device=self.device), False

    def logits(self, x, z):
        """Teacher-forced logits, ``(batch_size, x_dim)``: see
        :meth:`vaelearn.numpy.AutoregressiveVAE.logits`."""
        x, tin = self._check_x(x)
        z, tz = self._z(z, x.shape[0])
        tin = tin or tz
        with torch.set_grad_enabled(tin):
            return _out(self._made._logits_t(x, z), tin)

    def log_px_given_z(self, x, z):
        """``log p(x|z)`` per example, ``(batch_size,)``, nats (one pass, teacher forcing)."""
        x, tin = self._check_x(x)
        z, tz = self._z(z, x.shape[0])
        tin = tin or tz
        with torch.set_grad_enabled(tin):
            return _out(log_px_given_z_bernoulli(x, self._made._logits_t(x, z)), tin)

    def sample_given_z(self, z, u):
        """Ancestral samples of p(x|z), ``(batch_size, x_dim)`` of 0/1 (``u`` uniform)."""
        z, tin = self._z(z)
        if not tin:
            z = z.cpu().numpy()
        return self._made.sample(z, u)

    def sample(self, n, rng):
        """``n`` images: ``z ~ N(0, I)`` then the pixels in raster order (the same draws from
        ``rng`` as the NumPy backend). Returns ``(n, x_dim)`` of 0/1 (NumPy)."""
        z = self.sample_eps(n, rng)
        u = rng.random((int(n), self.x_dim)).astype(self.dtype)
        return self._made.sample(z, u)

    def elbo(self, x, eps):
        """Per-example ELBO and its terms (``ELBOTerms``, each ``(batch_size,)``), in nats."""
        x, tin = self._check_x(x)
        eps = self._eps_tensor(eps, x.shape[0])
        with torch.set_grad_enabled(tin):
            t = self._elbo_t(x, eps)
        return ELBOTerms(*(_out(v, tin) for v in t))

    def _elbo_t(self, x, eps):
        z_mean, z_logvar = self._encode_t(x)
        z = reparameterize(z_mean, z_logvar, eps)
        log_px = log_px_given_z_bernoulli(x, self._made._logits_t(x, z))
        if eps.dim() == 3:
            log_px = log_px.mean(dim=0)
        kl = kl_normal_std_normal(z_mean, z_logvar)
        return ELBOTerms(log_px - kl, log_px, kl)

    # -- training loss ------------------------------------------------------------------------

    def _loss_t(self, x, eps, estimator="pathwise", baseline=None, objective="elbo",
                x_target=None):
        if estimator != "pathwise" or baseline is not None or objective != "elbo":
            raise ValueError("AutoregressiveVAE trains only the pathwise ELBO (loss_kwargs)")
        target = x if x_target is None else x_target
        z_mean, z_logvar = self._encode_t(x)
        z = reparameterize(z_mean, z_logvar, eps)
        log_px = log_px_given_z_bernoulli(target, self._made._logits_t(target, z))
        rec = -log_px.mean()
        kl_dim = kl_normal_std_normal(z_mean[..., None], z_logvar[..., None])  # (n, z_dim)
        kl_mean_dim = kl_dim.mean(dim=0)
        loss = rec + self.beta * torch.clamp(kl_mean_dim, min=self.free_bits).sum()
        return loss, {"value": loss.detach(), "rec": rec.detach(),
                      "kl": kl_dim.sum(dim=1).mean().detach()}

    def loss_and_grads(self, x, eps, estimator="pathwise", baseline=None, objective="elbo"):
        """Training loss (batch mean, nats) and its gradient for every parameter, by autograd.

        See :meth:`vaelearn.numpy.AutoregressiveVAE.loss_and_grads`."""
        if estimator != "pathwise":
            raise ValueError(f"argument 'estimator' is {estimator!r}; AutoregressiveVAE "
                             "supports only 'pathwise'")
        if baseline is not None:
            raise ValueError("argument 'baseline' must be None (score estimator not supported)")
        if objective != "elbo":
            raise ValueError(f"argument 'objective' is {objective!r}; AutoregressiveVAE "
                             "supports only 'elbo'")
        x, tin = self._check_x(x)
        eps = self._eps_tensor(eps, x.shape[0])
        with torch.enable_grad():
            loss, terms = self._loss_t(x, eps)
            keys = list(self.params)
            g = torch.autograd.grad(loss, [self.params[k] for k in keys])
        value = terms["value"] if tin else float(terms["value"])
        return value, {k: _out(v.detach(), tin) for k, v in zip(keys, g, strict=True)}
