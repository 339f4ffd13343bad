r"""An autoregressive (MADE) Bernoulli decoder and the VAE that uses it. Lesson 07.

A MADE network (Germain et al. 2015, "MADE: Masked Autoencoder for Distribution Estimation",
arXiv 1502.03509) is a one-hidden-layer network whose weight matrices are multiplied by fixed 0/1
*masks*, chosen so that output ``i`` depends only on the inputs before it in a fixed order:

.. math::
    p(x \mid z) = \prod_{i=1}^{D} \mathrm{Bern}\big(x_i \mid \sigma(\ell_i(x_{<i}, z))\big),
    \qquad \log p(x \mid z) = \sum_i x_i \ell_i - \operatorname{softplus}(\ell_i).

The order is the raster order of the pixels (row by row, left to right): the decoder of a
PixelCNN (van den Oord et al. 2016, arXiv 1606.05328) in its simplest, fully connected form.
Because the masks enforce the order, all ``D`` conditionals are computed in **one** pass from the
data itself (teacher forcing); generating needs ``D`` passes, one pixel at a time (ancestral
sampling). The latent ``z`` enters the hidden layer through an unmasked linear term, so every
conditional may use it -- or ignore it, which is how such a decoder drives the VAE's KL term to
zero (posterior collapse, Chen et al. 2017 "Variational Lossy Autoencoder", arXiv 1611.02731).

Degrees (the MADE construction): pixel ``i`` (0-based) has input degree ``i + 1`` and output
degree ``i + 1``; hidden unit ``k`` has degree ``m_k = k mod D`` in ``{0, ..., D-1}``. A weight
from input ``i`` to unit ``k`` is kept when ``i + 1 <= m_k``, one from unit ``k`` to output ``i``
when ``m_k < i + 1``; so output ``i`` sees input ``j`` only through units with
``j + 1 <= m_k <= i``, i.e. only when ``j < i``. Units of degree 0 see no pixel, only ``z``.

Every log-likelihood is in nats per example, summed over pixels. The torch twin,
:mod:`vaelearn.torch.autoregressive`, has the same names and signatures and uses autograd.
"""

from __future__ import annotations

import numpy as np

# The argument checks both backends share (vaelearn.common, which imports neither backend).
from ..common.checks import (
    ELBOTerms,
    _check_binary,
    _check_context,
    _check_dtype,
    _check_mask,
    _check_nonneg,
    _check_param_dict,
    _check_rng,
    _init_autoregressive_vae,
    _init_made,
    _pos_int,
)
from ..common.checks import _as_data as _check_data
from ..common.checks import _as_eps as _check_eps
from ._device import get_device
from .distributions import (
    kl_normal_std_normal,
    log_px_given_z_bernoulli,
    reparameterize,
    reparameterize_backward,
    sigmoid,
)
from .layers import ACTIVATIONS, MLP, Linear

__all__ = ["made_masks", "MaskedLinear", "MADE", "AutoregressiveVAE"]


# ----------------------------------------------------------------------------------------------
# masks and the masked layer
# ----------------------------------------------------------------------------------------------


def made_masks(x_dim, hidden_dim, context=None):
    r"""The two MADE masks for ``x_dim`` pixels in raster order and ``hidden_dim`` hidden units.

    Degrees (Germain et al. 2015, section 4): input and output ``i`` (0-based) have degree
    ``i + 1``, hidden unit ``k`` has degree :math:`m_k = k \bmod D`. Then

    .. math::
        M^{\mathrm{in}}_{ik} = [\,i + 1 \le m_k\,], \qquad
        M^{\mathrm{out}}_{ki} = [\,m_k < i + 1\,],

    so :math:`(M^{\mathrm{in}} M^{\mathrm{out}})_{ji} > 0` only for ``j < i``: output ``i``
    depends on the inputs before it and on nothing else (a unit of degree 0 sees no input).

    With ``context = c`` the decoder sees only the ``c`` previous pixels: unit ``k`` reads the
    inputs with :math:`m_k - c < i + 1 \le m_k` and feeds only output :math:`i = m_k`, so
    output ``i`` depends on :math:`x_{i-c}, \dots, x_{i-1}` (a weaker decoder, lesson 07).

    Parameters
    ----------
    x_dim : int
        Number of pixels ``D``.
    hidden_dim : int
        Number of hidden units ``H``.
    context : int, optional
        How many previous pixels each conditional may read; ``None``: all of them.

    Returns
    -------
    mask_in : ndarray, shape (x_dim, hidden_dim)
        0/1 (float64), multiplies the input-to-hidden weights.
    mask_out : ndarray, shape (hidden_dim, x_dim)
        0/1 (float64), multiplies the hidden-to-output weights.

    Raises
    ------
    ValueError
        If a size is not a positive int or ``context`` is not ``None`` or a positive int.

    Notes
    -----
    Source: Germain et al. 2015 (MADE), arXiv 1502.03509. Lesson 07.
    """
    x_dim = _pos_int(x_dim, "x_dim")
    hidden_dim = _pos_int(hidden_dim, "hidden_dim")
    context = _check_context(context)
    m_in = np.arange(1, x_dim + 1)  # input degrees 1..D
    m_hidden = np.arange(hidden_dim) % x_dim  # hidden degrees 0..D-1, cycled
    m_out = np.arange(1, x_dim + 1)  # output degrees 1..D
    keep_in = m_in[:, None] <= m_hidden[None, :]
    if context is None:
        keep_out = m_hidden[:, None] < m_out[None, :]
    else:
        keep_in &= m_in[:, None] > m_hidden[None, :] - context
        keep_out = m_hidden[:, None] == m_out[None, :] - 1
    return keep_in.astype(np.float64), keep_out.astype(np.float64)


class MaskedLinear(Linear):
    r"""Affine layer with a fixed 0/1 mask on its weights: ``y = x @ (W * mask) + b``.

    The masked entries of ``W`` are set to 0 at initialisation and receive zero gradient, so
    they stay 0 under any optimiser that maps a zero gradient to a zero step (SGD, Adam).

    Parameters
    ----------
    in_dim, out_dim : int
    mask : array_like, shape (in_dim, out_dim)
        0/1 entries (e.g. from :func:`made_masks`).
    seed : int or numpy.random.Generator, default 0
        Initial ``W`` and ``b`` as in :class:`Linear` (``W`` then multiplied by ``mask``).
    dtype : str, default "float64"
    device : {None, "cpu"}, default None
        The NumPy backend computes on the CPU only; anything else raises ``ValueError``.

    Attributes
    ----------
    params : dict
        ``{"W": (in_dim, out_dim), "b": (out_dim,)}``.
    mask : ndarray, shape (in_dim, out_dim)

    Notes
    -----
    Backward: :math:`\partial L/\partial W = (x^\top \delta) \odot M`,
    :math:`\partial L/\partial x = \delta\,(W \odot M)^\top`. Germain et al. 2015. Lesson 07.
    """

    def __init__(self, in_dim, out_dim, mask, *, seed=0, dtype="float64", device=None):
        in_dim, out_dim, mask = _check_mask(in_dim, out_dim, mask)
        super().__init__(in_dim, out_dim, seed=seed, dtype=dtype, device=device)
        self.mask = mask.astype(self.params["W"].dtype)
        self.params["W"] *= self.mask

    def __call__(self, x):
        return x @ (self.params["W"] * self.mask) + self.params["b"]

    def backward(self, dy, cache, need_dx=True):
        """``dL/dx = dy @ (W * mask).T``, ``dL/dW = (x.T @ dy) * mask``, ``dL/db = sum dy``.

        ``need_dx=False`` skips ``dL/dx`` (returned as ``None``), as in :meth:`Linear.backward`."""
        x = cache
        grads = {"W": (x.T @ dy) * self.mask, "b": dy.sum(axis=0)}
        dx = dy @ (self.params["W"] * self.mask).T if need_dx else None
        return dx, grads


# ----------------------------------------------------------------------------------------------
# MADE
# ----------------------------------------------------------------------------------------------


def _flat(a):
    """(..., d) -> (prod(...), d)."""
    return a.reshape(-1, a.shape[-1])


class MADE:
    r"""Masked autoencoder for a binary vector, conditioned on ``z``: the logits of
    :math:`p(x_i \mid x_{<i}, z)` for every pixel, in one pass.

    .. math::
        a = x\,(W^{\mathrm{in}} \odot M^{\mathrm{in}}) + z\,W^{z} + b^{\mathrm{in}}, \qquad
        \ell = f(a)\,(W^{\mathrm{out}} \odot M^{\mathrm{out}}) + b^{\mathrm{out}}

    with :math:`f` the activation and the masks of :func:`made_masks`; logit ``i`` depends only
    on :math:`x_{<i}` (or the ``context`` pixels before ``i``) and on ``z``.

    Parameters
    ----------
    x_dim : int
    hidden_dim : int
        Hidden units ``H`` (each output ``i`` can use about ``H * i / D`` of them).
    z_dim : int, default 0
        Size of the conditioning vector (0: an unconditional MADE).
    context : int, optional
        Previous pixels each conditional may read (see :func:`made_masks`); ``None``: all.
    activation : str, default "relu"
    seed : int or numpy.random.Generator, default 0
        Draws, in order: ``in.W``, ``in.b`` (:func:`init_linear`), ``z.W``
        (``U(-1/sqrt(z_dim), 1/sqrt(z_dim))``, if ``z_dim > 0``), ``out.W``, ``out.b``.
    dtype : str, default "float64"
    device : {None, "cpu"}, default None
        The NumPy backend computes on the CPU only; anything else raises ``ValueError``.

    Attributes
    ----------
    params : dict
        ``in.W`` (x_dim, H), ``in.b`` (H,), ``z.W`` (z_dim, H) if ``z_dim > 0``, ``out.W``
        (H, x_dim), ``out.b`` (x_dim,); masked weights are 0.

    Notes
    -----
    Germain et al. 2015 (MADE, arXiv 1502.03509); van den Oord et al. 2016 (PixelCNN decoders,
    arXiv 1606.05328). Lesson 07.
    """

    def __init__(self, x_dim, hidden_dim, z_dim=0, context=None, activation="relu", *, seed=0,
                 dtype="float64", device=None):
        dtype, rng = _init_made(self, x_dim, hidden_dim, z_dim, context, activation, seed, dtype)
        mask_in, mask_out = made_masks(self.x_dim, self.hidden_dim, self.context)
        self.inp = MaskedLinear(self.x_dim, self.hidden_dim, mask_in, seed=rng, dtype=dtype,
                                 device=device)
        self.params = {"in.W": self.inp.params["W"], "in.b": self.inp.params["b"]}
        if self.z_dim:
            bound = 1.0 / np.sqrt(self.z_dim)
            self.params["z.W"] = rng.uniform(
                -bound, bound, size=(self.z_dim, self.hidden_dim)).astype(dtype)
        self.out = MaskedLinear(self.hidden_dim, self.x_dim, mask_out, seed=rng, dtype=dtype,
                                 device=device)
        self.params["out.W"] = self.out.params["W"]
        self.params["out.b"] = self.out.params["b"]
        self.act = ACTIVATIONS[self.activation]()

    def _relink(self):
        """Point the layers at the arrays in ``params`` (after a dtype change)."""
        self.inp.params = {"W": self.params["in.W"], "b": self.params["in.b"]}
        self.out.params = {"W": self.params["out.W"], "b": self.params["out.b"]}
        dtype = self.params["in.W"].dtype
        self.inp.mask = self.inp.mask.astype(dtype)
        self.out.mask = self.out.mask.astype(dtype)

    def _check_inputs(self, x, z):
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.x_dim:
            raise ValueError(f"argument 'x' has shape {x.shape}; expected (batch_size, "
                             f"{self.x_dim})")
        if self.z_dim:
            if z is None:
                raise ValueError(f"argument 'z' is None; this MADE needs z of size {self.z_dim}")
            z = np.asarray(z)
            if z.ndim not in (2, 3) or z.shape[-2:] != (x.shape[0], self.z_dim):
                raise ValueError(
                    f"argument 'z' has shape {z.shape}; expected ({x.shape[0]}, {self.z_dim}) "
                    f"or (n_samples, {x.shape[0]}, {self.z_dim})")
        elif z is not None:
            raise ValueError("argument 'z' must be None for a MADE with z_dim=0")
        return x, z

    def _pre(self, x, z):
        a = self.inp(x)  # (n, H)
        if self.z_dim:
            a = a + z @ self.params["z.W"]  # (n, H) or (k, n, H)
        return a

    def __call__(self, x, z=None):
        """Logits ``(batch_size, x_dim)`` (or ``(n_samples, batch_size, x_dim)`` for 3-D z)."""
        x, z = self._check_inputs(x, z)
        return self.out(self.act(self._pre(x, z)))

    def forward(self, x, z=None):
        """Return ``(logits, cache)``; logits as in ``__call__``."""
        x, z = self._check_inputs(x, z)
        a = self._pre(x, z)
        h, act_cache = self.act.forward(a)
        logits = self.out(h)
        return logits, (x, z, h, act_cache)

    def backward(self, d_logits, cache):
        """Given ``dL/dlogits`` (the shape of the logits), return ``(dx, dz, grads)``.

        ``dx`` is ``(batch_size, x_dim)``; ``dz`` has the shape of ``z`` (``None`` without z);
        ``grads`` is keyed like ``params``.
        """
        x, z, h, act_cache = cache
        grads = {}
        dh, g = self.out.backward(_flat(d_logits), _flat(h))
        grads["out.W"], grads["out.b"] = g["W"], g["b"]
        dh = dh.reshape(h.shape)
        da, _ = self.act.backward(dh, act_cache)
        da_x = da.sum(axis=0) if da.ndim == 3 else da  # x is shared by the samples of z
        dx, g = self.inp.backward(da_x, x)
        grads["in.W"], grads["in.b"] = g["W"], g["b"]
        dz = None
        if self.z_dim:
            grads["z.W"] = _flat(z).T @ _flat(da)
            dz = da @ self.params["z.W"].T
        return dx, dz, {k: grads[k] for k in self.params}

    def sample(self, z, u):
        r"""Ancestral sampling: ``x_i = [u_i < sigmoid(l_i(x_<i, z))]`` for i = 1, ..., D in turn.

        Each step adds the new pixel's contribution to the hidden pre-activation, so the whole
        sample costs one pass of the network (``D`` small steps), not ``D`` passes.

        Parameters
        ----------
        z : ndarray, shape (batch_size, z_dim), or None when ``z_dim == 0``
        u : ndarray, shape (batch_size, x_dim)
            Uniform(0, 1) numbers, one per pixel.

        Returns
        -------
        x : ndarray, shape (batch_size, x_dim)
            0/1 values in the model's dtype.
        """
        u = np.asarray(u, dtype=self.params["in.W"].dtype)
        if u.ndim != 2 or u.shape[1] != self.x_dim or not np.all(np.isfinite(u)):
            raise ValueError(f"argument 'u' has shape {u.shape} or non-finite values; expected "
                             f"finite (batch_size, {self.x_dim})")
        x = np.zeros_like(u)
        _, z = self._check_inputs(x, z)
        if z is not None and z.ndim != 2:
            raise ValueError(f"argument 'z' has shape {z.shape}; expected 2-D for sampling")
        a = self._pre(x, z)  # the pre-activation with every pixel still 0
        w_in = self.params["in.W"] * self.inp.mask
        w_out = self.params["out.W"] * self.out.mask
        b_out = self.params["out.b"]
        for i in range(self.x_dim):
            logit = self.act(a) @ w_out[:, i] + b_out[i]
            x[:, i] = u[:, i] < sigmoid(logit)
            a = a + x[:, i : i + 1] * w_in[i]  # pixel i now enters the units that read it
        return x


# ----------------------------------------------------------------------------------------------
# the VAE with a MADE decoder
# ----------------------------------------------------------------------------------------------


def _get_beta(self):
    return self._beta


def _set_beta(self, value):
    # fit's beta_schedule changes beta: keep the config in step (repr, checkpoints)
    self._beta = _check_nonneg(value, "beta")
    if hasattr(self, "config"):
        self.config["beta"] = self._beta


class AutoregressiveVAE:
    r"""A VAE whose decoder is autoregressive over the pixels (MADE, teacher forcing). Lesson 07.

    Encoder as in :class:`VAE`: an MLP ``x -> h`` and two heads, :math:`q(z|x) =
    \mathcal N(\mu, \operatorname{diag} e^{\log\sigma^2})`; prior :math:`\mathcal N(0, I)`.
    Decoder: a :class:`MADE` with ``z`` as its conditioning input,

    .. math::
        \log p(x \mid z) = \sum_{i=1}^{D} x_i \ell_i - \operatorname{softplus}(\ell_i),
        \qquad \ell_i = \ell_i(x_{<i}, z),

    all ``D`` logits in one pass from the observed ``x`` (teacher forcing). The training loss is
    that of :class:`VAE`: the batch mean of :math:`-\log p(x|z) + \beta \sum_j \max(\tau,
    \overline{\mathrm{KL}_j})` (``tau = free_bits``, the KL of latent ``j`` averaged over the
    batch), with the analytic KL. Data must be binary (0/1).

    Parameters
    ----------
    x_dim : int
    hidden_dims : int or sequence of int, default (128,)
        Encoder hidden widths.
    z_dim : int, default 2
    made_hidden : int, default 128
        Hidden units of the MADE decoder.
    context : int, optional
        Previous pixels each conditional may read (``None``: all); see :func:`made_masks`.
    beta : float, default 1.0
    free_bits : float, default 0.0
        Nats per latent dimension (Kingma et al. 2016).
    activation : str, default "relu"
        Of the encoder and of the MADE.
    seed : int, default 0
        ``numpy.random.default_rng(seed)`` draws the encoder exactly as :class:`VAE` does (same
        seed, same encoder weights), then the MADE (see :class:`MADE`).
    dtype : {"float64", "float32"}, default "float64"
    device : {None, "cpu"}, default None
        The NumPy backend computes on the CPU only; anything else raises ``ValueError``.

    Attributes
    ----------
    params : dict
        ``encoder.{i}.W/b``, ``encoder.mean.W/b``, ``encoder.logvar.W/b``,
        ``decoder.in.W/b``, ``decoder.z.W``, ``decoder.out.W/b``.

    Notes
    -----
    Sources: Germain et al. 2015 (MADE); van den Oord et al. 2016 (PixelCNN decoders); Chen et al.
    2017 (why such a decoder can make the KL vanish); Bowman et al. 2016. Lesson 07.
    """

    kind = "vae"  # trains with fit() like a VAE
    beta = property(_get_beta, _set_beta, doc="Weight of the KL term in the training loss.")

    def __init__(self, x_dim, hidden_dims=(128,), z_dim=2, made_hidden=128, context=None,
                 beta=1.0, free_bits=0.0, activation="relu", seed=0, dtype="float64", device=None):
        seed = _init_autoregressive_vae(
            self, x_dim, hidden_dims, z_dim, made_hidden, context, beta, free_bits, activation,
            seed, dtype)
        get_device(device)  # the NumPy backend computes on "cpu" only
        rng = np.random.default_rng(seed)
        self._build(rng)

    def _build(self, rng):
        dims = (self.x_dim, *self.hidden_dims)
        self.params = {}
        self._enc = None
        if self.hidden_dims:
            self._enc = MLP(dims, self.activation, out_activation=self.activation, seed=rng,
                            dtype=self.dtype)
            self.params.update({f"encoder.{k}": v for k, v in self._enc.params.items()})
        self._mean = Linear(dims[-1], self.z_dim, seed=rng, dtype=self.dtype)
        self._logvar = Linear(dims[-1], self.z_dim, seed=rng, dtype=self.dtype)
        for name, lin in (("mean", self._mean), ("logvar", self._logvar)):
            self.params[f"encoder.{name}.W"] = lin.params["W"]
            self.params[f"encoder.{name}.b"] = lin.params["b"]
        self._made = MADE(self.x_dim, self.made_hidden, self.z_dim, self.context,
                          self.activation, seed=rng, dtype=self.dtype)
        self.params.update({f"decoder.{k}": v for k, v in self._made.params.items()})

    def _relink(self):
        """Point every layer at the arrays in ``params`` (after a dtype change)."""
        if self._enc is not None:
            for k in self._enc.params:
                self._enc.params[k] = self.params[f"encoder.{k}"]
            linears = [layer for layer in self._enc.layers if isinstance(layer, Linear)]
            for i, lin in enumerate(linears):
                lin.params = {"W": self.params[f"encoder.{i}.W"],
                              "b": self.params[f"encoder.{i}.b"]}
        for name, lin in (("mean", self._mean), ("logvar", self._logvar)):
            lin.params = {"W": self.params[f"encoder.{name}.W"],
                          "b": self.params[f"encoder.{name}.b"]}
        for k in self._made.params:
            self._made.params[k] = self.params[f"decoder.{k}"]
        self._made._relink()

    # -- parameters ---------------------------------------------------------------------------

    def get_params(self):
        """Return a dict of NumPy copies of the parameters (keys as in ``params``)."""
        return {k: v.copy() for k, v in self.params.items()}

    def set_params(self, params):
        """Copy arrays into the parameters in place; keys and shapes must match exactly.

        Masked decoder weights are multiplied by their masks (they have no effect anyway).

        Raises
        ------
        ValueError
            If a key is missing or unexpected, a shape differs, or a value is not finite.
        """
        cast = _check_param_dict(params, self.params, self.dtype)
        for k, v in cast.items():
            np.copyto(self.params[k], v)
        self.params["decoder.in.W"] *= self._made.inp.mask
        self.params["decoder.out.W"] *= self._made.out.mask

    def _to_dtype(self, dtype):
        """Cast every parameter to ``dtype`` (``fit``'s fast mode trains in float32)."""
        dtype = _check_dtype(dtype)
        if dtype == self.dtype:
            return
        for k in list(self.params):
            self.params[k] = self.params[k].astype(dtype)
        self.dtype = self.config["dtype"] = dtype
        self._relink()

    def num_params(self):
        """Total number of scalar parameters (masked weights included)."""
        return int(sum(v.size for v in self.params.values()))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "model")
        return f"{type(self).__name__}({args})"

    # -- checks and noise ---------------------------------------------------------------------

    def _check_x(self, x, name="x"):
        x = _check_data(x, self.x_dim, self.dtype, name, unit_interval=True)
        return _check_binary(x, name)

    def sample_eps(self, n, rng, n_samples=None):
        """Standard normal noise from ``rng``: ``(n, z_dim)``, or ``(n_samples, n, z_dim)``.

        Drawn with ``rng.standard_normal`` in float64, as :meth:`VAE.sample_eps`.
        """
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

    def _encode(self, x):
        h = x if self._enc is None else self._enc(x)
        return self._mean(h), self._logvar(h)

    def encode(self, x):
        """Return ``(z_mean, z_logvar)``, each ``(batch_size, z_dim)``: the parameters of q(z|x)."""
        return self._encode(self._check_x(x))

    def _check_z(self, z, n=None):
        z = np.asarray(z, dtype=self.dtype)
        if z.ndim != 2 or z.shape[1] != self.z_dim or (n is not None and z.shape[0] != n):
            want = f"({'batch_size' if n is None else n}, {self.z_dim})"
            raise ValueError(f"argument 'z' has shape {z.shape}; expected {want}")
        if not np.all(np.isfinite(z)):
            raise ValueError("argument 'z' contains NaN or infinite values")
        return z

    def logits(self, x, z):
        r"""Teacher-forced logits :math:`\ell_i(x_{<i}, z)`, shape ``(batch_size, x_dim)``.

        Parameters
        ----------
        x : ndarray, shape (batch_size, x_dim), binary
        z : ndarray, shape (batch_size, z_dim)
        """
        x = self._check_x(x)
        return self._made(x, self._check_z(z, x.shape[0]))

    def log_px_given_z(self, x, z):
        r""":math:`\log p(x \mid z) = \sum_i x_i\ell_i - \operatorname{softplus}(\ell_i)` per
        example, ``(batch_size,)``, in nats (one pass, teacher forcing)."""
        x = self._check_x(x)
        return log_px_given_z_bernoulli(x, self._made(x, self._check_z(z, x.shape[0])))

    def sample_given_z(self, z, u):
        """Ancestral samples of p(x|z), ``(batch_size, x_dim)`` of 0/1: see :meth:`MADE.sample`.

        Parameters
        ----------
        z : ndarray, shape (batch_size, z_dim)
        u : ndarray, shape (batch_size, x_dim)
            Uniform(0, 1) numbers; pixel i is 1 when ``u_i < p(x_i = 1 | x_<i, z)``.
        """
        z = self._check_z(z)
        return self._made.sample(z, u)

    def sample(self, n, rng):
        """``n`` images from the model: ``z ~ N(0, I)`` then the pixels in raster order.

        Draws ``z`` (:meth:`sample_eps`) and then ``u = rng.random((n, x_dim))`` from ``rng``.
        Returns ``(n, x_dim)`` of 0/1.
        """
        z = self.sample_eps(n, rng)
        u = rng.random((int(n), self.x_dim)).astype(self.dtype)
        return self._made.sample(z, u)

    def elbo(self, x, eps):
        """Per-example ELBO and its terms (:class:`ELBOTerms`, each ``(batch_size,)``), in nats.

        Parameters
        ----------
        x : ndarray, shape (batch_size, x_dim), binary
        eps : ndarray, shape (batch_size, z_dim) or (n_samples, batch_size, z_dim)
            Noise for ``z = z_mean + exp(z_logvar / 2) * eps``; the reconstruction term is
            averaged over the samples; the KL is analytic.
        """
        x = self._check_x(x)
        return self._elbo(x, _check_eps(eps, x.shape[0], self.z_dim, self.dtype))

    def _elbo(self, x, eps):
        z_mean, z_logvar = self._encode(x)
        z = reparameterize(z_mean, z_logvar, eps)
        log_px = log_px_given_z_bernoulli(x, self._made(x, z))
        if eps.ndim == 3:
            log_px = log_px.mean(axis=0)
        kl = kl_normal_std_normal(z_mean, z_logvar)
        return ELBOTerms(log_px - kl, log_px, kl)

    # -- loss and gradients -------------------------------------------------------------------

    def loss_and_grads(self, x, eps, estimator="pathwise", baseline=None, objective="elbo"):
        r"""Training loss (batch mean, nats) and its gradient for every parameter.

        Loss: :math:`\frac1n\sum_n -\overline{\log p(x_n|z_n)} + \beta\sum_j \max(\tau,
        \frac1n\sum_n \mathrm{KL}_{nj})`, reconstruction averaged over the samples in ``eps``,
        KL analytic. Backward written by hand: :math:`\partial(-\log p)/\partial\ell_i =
        \sigma(\ell_i) - x_i`, through the MADE (:meth:`MADE.backward`), the reparameterization
        step (:func:`reparameterize_backward`) and the encoder.

        Parameters
        ----------
        x : ndarray, shape (batch_size, x_dim), binary
        eps : ndarray, shape (batch_size, z_dim) or (n_samples, batch_size, z_dim)
        estimator : {"pathwise"}
        baseline : None
        objective : {"elbo"}
            Only the pathwise ELBO is implemented; the other values of :meth:`VAE.loss_and_grads`
            raise ``ValueError``.

        Returns
        -------
        loss : float
        grads : dict
            Keys and shapes of ``params``.
        """
        if estimator != "pathwise":
            raise ValueError(f"argument 'estimator' is {estimator!r}; AutoregressiveVAE "
                             "supports only 'pathwise'")
        if baseline is not None:
            raise ValueError("argument 'baseline' must be None (score estimator not supported)")
        if objective != "elbo":
            raise ValueError(f"argument 'objective' is {objective!r}; AutoregressiveVAE "
                             "supports only 'elbo'")
        x = self._check_x(x)
        eps = _check_eps(eps, x.shape[0], self.z_dim, self.dtype)
        loss, grads, _ = self._loss_and_grads(x, eps)
        return loss, grads

    def _loss_and_grads(self, x, eps, estimator="pathwise", baseline=None, objective="elbo",
                        x_target=None):
        """Forward and backward; returns ``(loss, grads, {"rec", "kl"} batch means)``.

        ``x_target`` (default ``x``): the clean data the decoder reads and scores when the encoder
        sees a corrupted ``x`` (``fit(corrupt=...)``)."""
        if estimator != "pathwise" or baseline is not None or objective != "elbo":
            raise ValueError("AutoregressiveVAE trains only the pathwise ELBO (loss_kwargs)")
        target = x if x_target is None else _check_binary(x_target, "x_target")
        eps3 = eps if eps.ndim == 3 else eps[None]
        k, n, _ = eps3.shape
        grads = {}
        # ---- forward: encoder, z, MADE ----
        if self._enc is not None:
            h, enc_cache = self._enc.forward(x)
        else:
            h, enc_cache = x, None
        z_mean, z_logvar = self._mean(h), self._logvar(h)
        z = reparameterize(z_mean, z_logvar, eps3)  # (k, n, z_dim)
        logits, made_cache = self._made.forward(target, z)  # (k, n, x_dim)
        log_px = log_px_given_z_bernoulli(target, logits)  # (k, n)
        # KL per example and latent dimension, (n, z_dim): the closed form, one dimension at a time
        kl_dim = kl_normal_std_normal(z_mean[..., None], z_logvar[..., None])
        kl_mean_dim = kl_dim.mean(axis=0)
        loss = float(-log_px.mean() + self.beta * np.maximum(kl_mean_dim, self.free_bits).sum())
        # ---- backward ----
        d_logits = (sigmoid(logits) - target) * (1 / (k * n))  # d(-log Bern)/d logit
        _, dz, g = self._made.backward(d_logits, made_cache)
        grads.update({f"decoder.{key}": v for key, v in g.items()})
        d_mean, d_logvar = reparameterize_backward(dz, z_logvar, eps3)
        # analytic KL: dKL/dmu = mu, dKL/dlogvar = (exp(logvar) - 1) / 2; a dimension whose
        # batch-mean KL is below the free-bits floor contributes a constant: no gradient
        scale = (kl_mean_dim > self.free_bits) * (self.beta / n) if self.free_bits > 0 \
            else self.beta / n
        d_mean = d_mean + z_mean * scale
        d_logvar = d_logvar + (np.exp(z_logvar) - 1) * (0.5 * scale)
        dh = 0
        for name, lin, d in (("mean", self._mean, d_mean), ("logvar", self._logvar, d_logvar)):
            dh_part, gl = lin.backward(d, h)
            grads[f"encoder.{name}.W"], grads[f"encoder.{name}.b"] = gl["W"], gl["b"]
            dh = dh + dh_part
        if self._enc is not None:
            _, ge = self._enc.backward(dh, enc_cache)
            grads.update({f"encoder.{key}": v for key, v in ge.items()})
        terms = {"rec": float(-log_px.mean()), "kl": float(kl_dim.sum(axis=1).mean())}
        return loss, {key: grads[key] for key in self.params}, terms
