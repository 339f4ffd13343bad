"""VQ-VAE (van den Oord et al. 2017): codebook, straight-through gradient, commitment term.

Lesson 08. The encoder maps ``x`` to a continuous ``z_e``; quantisation replaces it by the
nearest codebook vector ``z_q = e_k``, ``k = argmin_j ||z_e - e_j||^2``; the decoder reads
``z_q``. The loss per example (nats, summed over pixels and code dimensions) is

    -log p(x | z_q) + ||sg[z_e] - e_k||^2 + commitment * ||z_e - sg[e_k]||^2

with ``sg`` the stop-gradient. ``argmin`` has no gradient, so the encoder receives the decoder's
gradient with respect to ``z_q`` unchanged: the *straight-through* estimator (Bengio et al. 2013),
written out in :meth:`VQVAE.loss_and_grads`.
"""

from __future__ import annotations

import numpy as np

from ..common.checks import _check_param_dict, _check_vq_config
from ..common.checks import _check_vq_data as _check_x
from ..common.codebook import codebook_perplexity
from ._device import get_device
from .distributions import (
    log_px_given_z_bernoulli,
    log_px_given_z_bernoulli_backward,
    sigmoid,
)
from .layers import MLP
from .optim import make_optimizer

__all__ = ["VQVAE", "fit_vqvae", "codebook_perplexity"]


class VQVAE:
    """A small VQ-VAE for 8x8 digits: MLP encoder -> ``z_e`` -> nearest code -> MLP decoder.

    Parameters
    ----------
    x_dim : int, default 64
    hidden_dims : tuple of int, default (64,)
        ReLU hidden layers of the encoder (the decoder mirrors them).
    z_dim : int, default 4
        Dimension of ``z_e`` and of each codebook vector.
    n_codes : int, default 16
        Codebook size ``K``.
    commitment : float, default 0.25
        The weight ``beta`` of the commitment term (van den Oord et al. 2017 use 0.25).
    seed : int, default 0
        Initial weights from ``numpy.random.default_rng(seed)``: encoder layers, ``encoder.out``,
        then ``codebook`` ~ U(-1, 1), then decoder layers and ``decoder.out`` (same in both
        backends).
    dtype : {"float64", "float32"}

    Attributes
    ----------
    params : dict
        ``encoder.{i}.W/b``, ``encoder.out.W/b``, ``codebook`` (n_codes, z_dim),
        ``decoder.{i}.W/b``, ``decoder.out.W/b``; ``W`` has shape ``(in, out)``.
    """

    kind = "vqvae"

    def __init__(self, x_dim=64, hidden_dims=(64,), z_dim=4, n_codes=16, commitment=0.25, *,
                 seed=0, dtype="float64", device=None):
        get_device(device)  # the NumPy backend computes on "cpu" only
        hidden_dims = _check_vq_config(x_dim, hidden_dims, z_dim, n_codes, commitment, seed, dtype)
        self.x_dim, self.z_dim, self.n_codes = int(x_dim), int(z_dim), int(n_codes)
        self.hidden_dims, self.commitment, self.dtype = hidden_dims, float(commitment), dtype
        self.config = {  # what save_checkpoint stores and VQVAE(**config) rebuilds
            "model": "VQVAE", "x_dim": self.x_dim, "hidden_dims": [int(h) for h in hidden_dims],
            "z_dim": self.z_dim, "n_codes": self.n_codes, "commitment": self.commitment,
            "seed": int(seed), "dtype": dtype,
        }
        rng = np.random.default_rng(seed)
        self._enc = MLP((self.x_dim, *hidden_dims, self.z_dim), seed=rng, dtype=dtype,
                        out_name="out")
        codebook = rng.uniform(-1, 1, size=(self.n_codes, self.z_dim)).astype(dtype)
        self._dec = MLP((self.z_dim, *hidden_dims[::-1], self.x_dim), seed=rng, dtype=dtype,
                        out_name="out")
        self.params = {
            **{f"encoder.{k}": v for k, v in self._enc.params.items()},
            "codebook": codebook,
            **{f"decoder.{k}": v for k, v in self._dec.params.items()},
        }

    # -- parameters ---------------------------------------------------------------------------
    def get_params(self):
        """NumPy copies of the parameters."""
        return {k: v.copy() for k, v in self.params.items()}

    def set_params(self, params):
        """Copy NumPy arrays into the parameters; keys and shapes must match, values must be
        real and finite after the cast to the model's dtype (checked before any is copied)."""
        for k, v in _check_param_dict(params, self.params, self.dtype).items():
            np.copyto(self.params[k], v)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "model")
        return f"{type(self).__name__}({args})"

    # -- forward ------------------------------------------------------------------------------
    def encode(self, x):
        """Continuous encoder output ``z_e``, shape ``(n, z_dim)``."""
        x = _check_x(x, self.x_dim, self.dtype)
        return self._enc(x)

    def quantize(self, z_e):
        """Nearest codebook vector: ``codes = argmin_j ||z_e - e_j||^2`` (ties: lowest index).

        Returns
        -------
        z_q : ndarray, shape (n, z_dim)
        codes : ndarray of int, shape (n,)
        """
        z_e = np.asarray(z_e, dtype=self.dtype)
        if z_e.ndim != 2 or z_e.shape[1] != self.z_dim:
            raise ValueError(f"argument 'z_e' must have shape (n, {self.z_dim}), got {z_e.shape}")
        e = self.params["codebook"]
        # ||z - e||^2 from the difference: the expanded ||z||^2 - 2 z.e + ||e||^2 cancels when
        # the vectors are large and close (it picks the wrong code in float32)
        diff = z_e[:, None, :] - e[None, :, :]
        dist = (diff * diff).sum(-1)
        codes = np.argmin(dist, axis=1)
        return e[codes], codes

    def decode(self, z_q):
        """Bernoulli probabilities ``sigmoid(decoder(z_q))``, shape ``(n, x_dim)``."""
        z_q = np.asarray(z_q, dtype=self.dtype)
        return sigmoid(self._dec(z_q))  # overflow-free, as the VAE

    def reconstruct(self, x):
        """``decode(quantize(encode(x)))``."""
        return self.decode(self.quantize(self.encode(x))[0])

    def codebook_usage(self, x):
        """How many examples of ``x`` use each code: counts, shape ``(n_codes,)``."""
        codes = self.quantize(self.encode(x))[1]
        return np.bincount(codes, minlength=self.n_codes)

    def loss_terms(self, x):
        """Per-example terms, nats: ``rec = -log p(x|z_q)``, ``codebook``, ``commitment``.

        ``codebook = ||sg[z_e] - z_q||^2`` and ``commitment = beta ||z_e - sg[z_q]||^2`` have the
        same value and differ only in which parameters their gradients reach. Each ``(n,)``.
        """
        x = _check_x(x, self.x_dim, self.dtype)
        z_e = self._enc(x)
        z_q, _ = self.quantize(z_e)
        rec = -log_px_given_z_bernoulli(x, self._dec(z_q))
        sq = ((z_e - z_q) ** 2).sum(1)
        return {"rec": rec, "codebook": sq, "commitment": self.commitment * sq}

    def loss_and_grads(self, x):
        """Mean loss over the batch and its gradients, backward written by hand.

        Straight-through: ``dL/dz_e = dL/dz_q (from the decoder) + 2 beta (z_e - z_q) / n``;
        the codebook row ``e_k`` gets ``2 (e_k - z_e) / n`` from each example that chose it.

        Returns
        -------
        loss : float
        grads : dict
            Keys and shapes of ``params``.
        """
        x = _check_x(x, self.x_dim, self.dtype)
        n = x.shape[0]
        z_e, enc_cache = self._enc.forward(x)
        z_q, codes = self.quantize(z_e)
        logits, dec_cache = self._dec.forward(z_q)
        rec = -log_px_given_z_bernoulli(x, logits)
        diff = z_e - z_q
        sq = (diff**2).sum(1)
        loss = float((rec + (1 + self.commitment) * sq).mean())
        dlogits = log_px_given_z_bernoulli_backward(x, logits, grad=-1 / n)
        dz_q, dec_grads = self._dec.backward(dlogits, dec_cache)
        dz_e = dz_q + 2 * self.commitment * diff / n  # straight-through + commitment
        _, enc_grads = self._enc.backward(dz_e, enc_cache, need_dx=False)
        dcode = np.zeros_like(self.params["codebook"])
        np.add.at(dcode, codes, -2 * diff / n)  # d/de_k ||sg[z_e] - e_k||^2
        grads = {
            **{f"encoder.{k}": v for k, v in enc_grads.items()},
            "codebook": dcode,
            **{f"decoder.{k}": v for k, v in dec_grads.items()},
        }
        return loss, {k: grads[k] for k in self.params}


def fit_vqvae(model, x_train, *, epochs, batch_size=128, lr=1e-3, seed=0):
    """Train a :class:`VQVAE` with Adam on minibatches; minibatch order from
    ``numpy.random.default_rng(seed)`` (identical in both backends). Lesson 08.

    Returns
    -------
    dict of lists
        ``epoch``, ``train_loss`` (mean loss, nats per example), ``train_rec``
        (mean -log p(x|z_q)), ``perplexity`` (of the codes on ``x_train`` after the epoch).
    """
    x_train = _check_x(x_train, model.x_dim, model.dtype, "x_train")
    if not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ValueError(f"argument 'epochs' is {epochs!r}; expected an int >= 1")
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"argument 'batch_size' is {batch_size!r}; expected an int >= 1")
    if x_train.shape[0] == 0:
        raise ValueError("argument 'x_train' has no rows; fit needs at least one example")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"argument 'seed' is {seed!r}; expected an int >= 0")
    opt = make_optimizer("adam", model.params, lr=lr)
    rng = np.random.default_rng(seed)
    n = x_train.shape[0]
    n_batches = -(-n // batch_size)
    saved = {k: np.empty_like(v) for k, v in model.params.items()}
    hist = {"epoch": [], "train_loss": [], "train_rec": [], "perplexity": []}
    for epoch in range(epochs):
        perm = rng.permutation(n)
        total = 0.0
        for b, start in enumerate(range(0, n, batch_size)):
            xb = x_train[perm[start : start + batch_size]]
            loss, grads = model.loss_and_grads(xb)
            _guarded_step(opt, model.params, grads, saved, loss, epoch, b, n_batches)
            total += loss * xb.shape[0]
        hist["epoch"].append(epoch + 1)
        hist["train_loss"].append(total / n)
        hist["train_rec"].append(float(model.loss_terms(x_train)["rec"].mean()))
        hist["perplexity"].append(codebook_perplexity(model.codebook_usage(x_train)))
    return hist


def _guarded_step(opt, params, grads, saved, loss, epoch, b, n_batches):
    """``opt.step(grads)`` unless the loss is non-finite; a step that leaves a parameter
    non-finite (a NaN/inf gradient, an overflow) is undone bit for bit. Raises
    FloatingPointError naming the epoch and batch."""
    from ..common.fitting import _nonfinite_error
    from .train import _all_finite

    if not np.isfinite(loss):
        raise _nonfinite_error(loss, epoch, b, n_batches)
    for k, v in params.items():
        np.copyto(saved[k], v)
    opt.step(grads)  # a NaN or inf gradient makes a parameter non-finite: caught below
    if not _all_finite(params.values()):
        for k, v in params.items():
            np.copyto(v, saved[k])
        raise _nonfinite_error("non-finite", epoch, b, n_batches,
                               what="the gradient or the step left a parameter")
