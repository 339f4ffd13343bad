"""VQ-VAE (van den Oord et al. 2017) on autograd: the twin of :mod:`vaelearn.numpy.vq`.

Lesson 08. Same parameters (keys, shapes, initial draws), same loss; the straight-through
estimator is the usual one-liner ``z_st = z_e + (z_q - z_e).detach()``: its value is ``z_q`` and
its gradient flows to ``z_e`` unchanged. ``sg[.]`` is ``.detach()``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..common.checks import _check_param_dict, _check_vq_config, _check_vq_data
from ..common.codebook import codebook_perplexity
from ..common.fitting import _nonfinite_error
from ._device import get_device
from .layers import MLP
from .optim import make_optimizer

__all__ = ["VQVAE", "fit_vqvae", "codebook_perplexity"]


class VQVAE:
    """A small VQ-VAE for 8x8 digits; see :class:`vaelearn.numpy.VQVAE` (same signature, same
    ``params`` keys, same initial weights for the same ``seed``). Parameters are torch tensors on
    ``device`` (default :func:`get_device`); methods take and return NumPy arrays."""

    kind = "vqvae"

    def __init__(self, x_dim=64, hidden_dims=(64,), z_dim=4, n_codes=16, commitment=0.25, *,
                 seed=0, dtype="float64", device=None):
        hidden_dims = _check_vq_config(x_dim, hidden_dims, z_dim, n_codes, commitment, seed, dtype)
        self.x_dim, self.z_dim, self.n_codes = int(x_dim), int(z_dim), int(n_codes)
        self.hidden_dims, self.commitment, self.dtype = hidden_dims, float(commitment), dtype
        self.config = {  # what save_checkpoint stores and VQVAE(**config) rebuilds
            "model": "VQVAE", "x_dim": self.x_dim, "hidden_dims": [int(h) for h in hidden_dims],
            "z_dim": self.z_dim, "n_codes": self.n_codes, "commitment": self.commitment,
            "seed": int(seed), "dtype": dtype,
        }
        self.device = get_device(device)
        # drawn in the NumPy twin's order: encoder, codebook ~ U(-1, 1), decoder
        rng = np.random.default_rng(seed)
        self._enc = MLP((self.x_dim, *hidden_dims, self.z_dim), seed=rng, dtype=dtype,
                        out_name="out", device=self.device)
        codebook = rng.uniform(-1, 1, size=(self.n_codes, self.z_dim)).astype(dtype)
        self._dec = MLP((self.z_dim, *hidden_dims[::-1], self.x_dim), seed=rng, dtype=dtype,
                        out_name="out", device=self.device)
        self.params = {
            **{f"encoder.{k}": p for k, p in self._enc.params.items()},
            "codebook": torch.tensor(codebook, device=self.device).requires_grad_(True),
            **{f"decoder.{k}": p for k, p in self._dec.params.items()},
        }

    def get_params(self):
        """NumPy copies of the parameters."""
        return {k: v.detach().cpu().numpy().copy() for k, v in self.params.items()}

    def set_params(self, params):
        """Copy NumPy arrays into the parameters; keys and shapes must match, values must be
        real and finite after the cast to the model's dtype (checked before any is copied)."""
        ref = {k: np.empty(tuple(v.shape)) for k, v in self.params.items()}
        if isinstance(params, dict):
            params = {k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v)
                      for k, v in params.items()}
        cast = _check_param_dict(params, ref, self.dtype)
        with torch.no_grad():
            for k, v in cast.items():
                self.params[k].copy_(torch.as_tensor(v))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "model")
        return f"{type(self).__name__}({args})"

    def _x(self, x, name="x"):
        x = _check_vq_data(x, self.x_dim, self.dtype, name)
        return torch.as_tensor(x, device=self.device)

    def _quantize_t(self, z_e):
        e = self.params["codebook"]
        # ||z - e||^2 from the difference, not the expanded form (cancels for large, close
        # vectors; see the NumPy twin)
        diff = z_e[:, None, :] - e[None, :, :]
        codes = torch.argmin((diff * diff).sum(-1), dim=1)
        return e[codes], codes

    def _terms_t(self, x):
        z_e = self._enc._f(x)
        z_q, codes = self._quantize_t(z_e)
        z_st = z_e + (z_q - z_e).detach()  # straight-through
        logits = self._dec._f(z_st)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        codebook = ((z_e.detach() - z_q) ** 2).sum(1)
        commitment = self.commitment * ((z_e - z_q.detach()) ** 2).sum(1)
        return rec, codebook, commitment, codes

    def encode(self, x):
        """Continuous encoder output ``z_e``, shape ``(n, z_dim)``."""
        with torch.no_grad():
            return self._enc._f(self._x(x)).cpu().numpy()

    def quantize(self, z_e):
        """Nearest codebook vector and its index: ``(z_q (n, z_dim), codes (n,))``."""
        z_e = np.asarray(z_e, dtype=self.dtype)
        if z_e.ndim != 2 or z_e.shape[1] != self.z_dim:
            raise ValueError(f"argument 'z_e' must have shape (n, {self.z_dim}), got {z_e.shape}")
        with torch.no_grad():
            z_q, codes = self._quantize_t(torch.as_tensor(z_e, device=self.device))
        return z_q.cpu().numpy(), codes.cpu().numpy()

    def decode(self, z_q):
        """Bernoulli probabilities ``sigmoid(decoder(z_q))``, shape ``(n, x_dim)``."""
        z_q = torch.as_tensor(np.asarray(z_q, dtype=self.dtype), device=self.device)
        with torch.no_grad():
            return torch.sigmoid(self._dec._f(z_q)).cpu().numpy()

    def reconstruct(self, x):
        """``decode(quantize(encode(x)))``."""
        return self.decode(self.quantize(self.encode(x))[0])

    def codebook_usage(self, x):
        """How many examples of ``x`` use each code: counts, shape ``(n_codes,)``."""
        codes = self.quantize(self.encode(x))[1]
        return np.bincount(codes, minlength=self.n_codes)

    def loss_terms(self, x):
        """Per-example terms, nats: ``rec``, ``codebook``, ``commitment``, each ``(n,)``."""
        with torch.no_grad():
            rec, cb, cm, _ = self._terms_t(self._x(x))
        return {"rec": rec.cpu().numpy(), "codebook": cb.cpu().numpy(),
                "commitment": cm.cpu().numpy()}

    def loss_and_grads(self, x):
        """Mean loss over the batch and its gradients (autograd). Returns ``(float, dict)``."""
        loss = self._loss_t(self._x(x))
        grads = torch.autograd.grad(loss, list(self.params.values()))
        grads = {k: g.cpu().numpy() for k, g in zip(self.params, grads, strict=True)}
        return float(loss.detach()), grads

    def _loss_t(self, x):
        rec, cb, cm, _ = self._terms_t(x)
        return (rec + cb + cm).mean()


def fit_vqvae(model, x_train, *, epochs, batch_size=128, lr=1e-3, seed=0):
    """Train a :class:`VQVAE` with Adam; the same minibatch order as the NumPy backend.

    Returns the same history as :func:`vaelearn.numpy.fit_vqvae`.
    """
    x_np = _check_vq_data(x_train, model.x_dim, model.dtype, "x_train")
    if not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ValueError(f"argument 'epochs' is {epochs!r}; expected an int >= 1")
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"argument 'batch_size' is {batch_size!r}; expected an int >= 1")
    if x_np.shape[0] == 0:
        raise ValueError("argument 'x_train' has no rows; fit needs at least one example")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"argument 'seed' is {seed!r}; expected an int >= 0")
    x_t = torch.as_tensor(x_np, device=model.device)
    opt = make_optimizer("adam", model.params, lr=lr)
    rng = np.random.default_rng(seed)
    n = x_np.shape[0]
    n_batches = -(-n // batch_size)
    saved = {k: torch.empty_like(v) for k, v in model.params.items()}
    hist = {"epoch": [], "train_loss": [], "train_rec": [], "perplexity": []}
    for epoch in range(epochs):
        perm = torch.as_tensor(rng.permutation(n), device=model.device)
        total = 0.0
        for b, start in enumerate(range(0, n, batch_size)):
            xb = x_t[perm[start : start + batch_size]]
            loss = model._loss_t(xb)
            grads = torch.autograd.grad(loss, list(model.params.values()))
            value = float(loss.detach())
            # nothing non-finite reaches the parameters: checked before the step commits, and
            # a step that overflows a parameter is undone bit for bit
            if not math.isfinite(value):
                raise _nonfinite_error(value, epoch, b, n_batches)
            if not all(bool(torch.isfinite(g).all()) for g in grads):
                raise _nonfinite_error("non-finite", epoch, b, n_batches, what="a gradient is")
            with torch.no_grad():
                for k, v in model.params.items():
                    saved[k].copy_(v)
            total += value * xb.shape[0]
            opt.step(dict(zip(model.params, grads, strict=True)))
            if not all(bool(torch.isfinite(v).all()) for v in model.params.values()):
                with torch.no_grad():
                    for k, v in model.params.items():
                        v.copy_(saved[k])
                raise _nonfinite_error("non-finite", epoch, b, n_batches,
                                       what="the step made a parameter")
        hist["epoch"].append(epoch + 1)
        hist["train_loss"].append(total / n)
        hist["train_rec"].append(float(model.loss_terms(x_np)["rec"].mean()))
        hist["perplexity"].append(codebook_perplexity(model.codebook_usage(x_np)))
    return hist
