"""Autoencoder and VAE behind one API, with hand-written backward passes. Lessons 02-08.

The parameter keys are the same in both backends:

- ``Autoencoder``: ``encoder.{i}.W/b`` (hidden layers), ``encoder.out.W/b`` (to z),
  ``decoder.{i}.W/b`` (hidden layers), ``decoder.out.W/b`` (to x);
- ``VAE``: ``encoder.{i}.W/b``, ``encoder.mean.W/b``, ``encoder.logvar.W/b``, ``decoder.{i}.W/b``,
  ``decoder.out.W/b`` and, with ``sigma="learned"``, ``decoder.logsigma`` (shape ``(1,)``, one
  sigma shared by all pixels, initialised at 0).

Initial weights are drawn from ``numpy.random.default_rng(seed)`` in exactly this key order (``W``
before ``b``, see :func:`vaelearn.numpy.layers.init_linear`). The decoder's hidden widths are
``hidden_dims`` reversed. Every loss is in nats per example, summed over dimensions.
"""

from __future__ import annotations

import math

import numpy as np

from ..common.checkpoints import _load_checkpoint_into, save_checkpoint
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
    _cb_mean,
    _log_softmax,
    kl_normal_std_normal,
    kl_normal_std_normal_backward,
    log_normal,
    log_normal_backward,
    log_normal_eps,
    log_normal_eps_backward,
    log_px_given_z_bernoulli,
    log_px_given_z_bernoulli_backward,
    log_px_given_z_categorical,
    log_px_given_z_categorical_backward,
    log_px_given_z_continuous_bernoulli,
    log_px_given_z_continuous_bernoulli_backward,
    log_px_given_z_gaussian,
    log_px_given_z_gaussian_backward,
    logmeanexp,
    logmeanexp_backward,
    reparameterize,
    reparameterize_backward,
    sigmoid,
    squared_error,
    squared_error_backward,
)
from .layers import MLP, Linear

__all__ = [
    "ELBOTerms",
    "Autoencoder",
    "VAE",
    "save_checkpoint",
    "load_checkpoint",
]

def _prefixed(prefix, grads):
    """A layer's gradients (keyed like its ``params``) under the model's key ``prefix``."""
    return {f"{prefix}.{k}": v for k, v in grads.items()}


def _register(modules):
    """``{prefix.key: array}`` for the layers of ``modules`` (``{prefix: MLP or Linear}``), in
    order: the arrays the layers hold are the model's parameters."""
    return {f"{prefix}.{k}": v for prefix, mod in modules.items() for k, v in mod.params.items()}


class _Model:
    """What Autoencoder and VAE share: params, dtype, get/set_params, config."""

    params: dict
    config: dict
    dtype: str
    x_dim: int
    z_dim: int

    def get_params(self):
        """Return a dict of NumPy copies of the parameters (keys as in ``params``)."""
        return {k: v.copy() for k, v in self.params.items()}

    def set_params(self, params):
        """Copy NumPy arrays into the parameters in place; keys and shapes must match exactly.

        All values are checked (after the cast to the model's dtype) before any is copied.

        Raises
        ------
        ValueError
            If a key is missing or unexpected, a shape differs, a value is complex or not a
            number, or a value is not finite in the model's dtype (1e40 is inf in float32).
        """
        cast = _check_param_dict(params, self.params, self.dtype)
        for k, v in cast.items():
            np.copyto(self.params[k], v)

    def _to_dtype(self, dtype):
        """Cast every parameter to ``dtype`` (fast mode trains in float32)."""
        dtype = _check_dtype(dtype)
        if dtype == self.dtype:
            return
        for mod in self._modules.values():
            if isinstance(mod, MLP):
                mod._astype(dtype)
            else:
                mod.params = {k: v.astype(dtype) for k, v in mod.params.items()}
        layers = _register(self._modules)
        for key in list(self.params):
            self.params[key] = layers[key] if key in layers else self.params[key].astype(dtype)
        self.dtype = dtype
        self.config["dtype"] = dtype

    def num_params(self):
        """Total number of scalar parameters."""
        return int(sum(v.size for v in self.params.values()))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "model")
        return f"{type(self).__name__}({args})"


# ----------------------------------------------------------------------------------------------
# Autoencoder
# ----------------------------------------------------------------------------------------------


class Autoencoder(_Model):
    r"""A deterministic autoencoder ``x -> z -> x_hat``. Lessons 02-03.

    Parameters
    ----------
    x_dim : int
        Data dimension.
    hidden_dims : sequence of int, default (128,)
        Encoder hidden widths; the decoder uses them reversed. ``()`` for none.
    z_dim : int, default 2
        Code dimension.
    linear : bool, default False
        No nonlinearities at all (a linear autoencoder spans the PCA subspace, Baldi & Hornik
        1989); ``loss="bce"`` still applies its sigmoid at the output.
    loss : {"mse", "bce"}, default "mse"
        Per-example loss summed over dimensions: ``"mse"`` is :math:`\sum_d (x_d - \hat x_d)^2`
        with a linear output; ``"bce"`` is :math:`-\sum_d x_d \log\hat x_d + (1-x_d)\log(1-\hat
        x_d)` with :math:`\hat x = \sigma(\text{logits})` (data in [0, 1]).
    activation : str, default "relu"
        Hidden nonlinearity (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"softplus"``).
    device : {None, "cpu"}, default None
        As for :class:`VAE`.
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` for the initial weights.
    dtype : {"float64", "float32"}, default "float64"
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
        get_device(device)  # the NumPy backend computes on "cpu" only
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
        rng = np.random.default_rng(seed)
        act, dt = self.activation, self.dtype
        self._enc = MLP((x_dim, *hidden_dims, z_dim), act, seed=rng, dtype=dt, out_name="out")
        self._dec = MLP((z_dim, *hidden_dims[::-1], x_dim), act, seed=rng, dtype=dt,
                        out_name="out")
        self._modules = {"encoder": self._enc, "decoder": self._dec}
        self.params = _register(self._modules)

    # -- forward ------------------------------------------------------------------------------

    def _check_x(self, x, name="x"):
        return _as_data(x, self.x_dim, self.dtype, name, unit_interval=self.loss_name == "bce")

    def encode(self, x):
        """Code ``z = encoder(x)``, shape ``(batch_size, z_dim)``."""
        x = _as_data(x, self.x_dim, self.dtype)
        return self._enc(x)

    def decode(self, z):
        """Reconstruction ``x_hat``, shape ``(batch_size, x_dim)`` (probabilities for bce)."""
        z = _as_data(z, self.z_dim, self.dtype, "z")
        out = self._dec(z)
        return sigmoid(out) if self.loss_name == "bce" else out

    def _per_example(self, out, target):
        if self.loss_name == "mse":
            return squared_error(target, out)
        return -log_px_given_z_bernoulli(target, out)

    def loss(self, x, x_target=None):
        """Per-example loss, shape ``(batch_size,)``, summed over dimensions.

        Parameters
        ----------
        x : ndarray, shape (batch_size, x_dim)
            Input (possibly corrupted, for a denoising autoencoder).
        x_target : ndarray, shape (batch_size, x_dim), optional
            What the reconstruction is compared with; default ``x``.
        """
        x = _as_data(x, self.x_dim, self.dtype)
        target = self._check_x(x if x_target is None else x_target, "x_target")
        if target.shape != x.shape:
            raise ValueError(f"argument 'x_target' has shape {target.shape}; expected {x.shape}")
        out = self._dec(self._enc(x))
        return self._per_example(out, target)

    def loss_and_grads(self, x, x_target=None):
        """Mean loss over the batch and its gradient for every parameter.

        Returns
        -------
        loss : float
            Mean over the batch of :meth:`loss`, nats-like units summed over dimensions.
        grads : dict
            ``{key: ndarray}`` with the keys and shapes of ``params``.
        """
        x = _as_data(x, self.x_dim, self.dtype)
        target = self._check_x(x if x_target is None else x_target, "x_target")
        if target.shape != x.shape:
            raise ValueError(f"argument 'x_target' has shape {target.shape}; expected {x.shape}")
        loss, grads, _ = self._loss_and_grads(x, target)
        return loss, grads

    def _loss_and_grads(self, x, target):
        """Forward, then the hand-written backward: each step calls the ``*_backward`` of the
        function its forward called. Returns ``(loss, grads, {})``."""
        n = x.shape[0]
        z, enc_cache = self._enc.forward(x)
        out, dec_cache = self._dec.forward(z)
        if self.loss_name == "mse":
            per_example = squared_error(target, out)
            d_out = squared_error_backward(target, out, grad=1 / n)  # loss = mean over the batch
        else:
            per_example = -log_px_given_z_bernoulli(target, out)
            d_out = log_px_given_z_bernoulli_backward(target, out, grad=-1 / n)
        dz, dec_grads = self._dec.backward(d_out, dec_cache)
        _, enc_grads = self._enc.backward(dz, enc_cache, need_dx=False)
        grads = {**_prefixed("encoder", enc_grads), **_prefixed("decoder", dec_grads)}
        loss = float(per_example.mean())
        return loss, {k: grads[k] for k in self.params}, {}


# ----------------------------------------------------------------------------------------------
# VAE
# ----------------------------------------------------------------------------------------------


class VAE(_Model):
    r"""Variational autoencoder with a diagonal-Gaussian encoder and prior N(0, I). Lessons 05-08.

    The encoder q(z|x) = N(z_mean, diag(exp(z_logvar))); the decoder p(x|z) is Bernoulli
    (logits, numerically stable) or Gaussian (fixed or learned sigma). The objective per example

    .. math::
        \mathrm{ELBO}(x) = \mathbb E_{q(z|x)}[\log p(x\mid z)] - \mathrm{KL}(q(z|x)\,\|\,p(z))

    is in nats; ``loss_and_grads`` minimises the batch mean of
    :math:`-(\log p(x|z) - \beta\,\mathrm{KL})`.

    Parameters
    ----------
    x_dim : int
    hidden_dims : sequence of int, default (128,)
        Encoder hidden widths; the decoder uses them reversed.
    z_dim : int, default 2
    likelihood : {"bernoulli", "gaussian", "continuous_bernoulli", "categorical"}
        Default "bernoulli". ``"continuous_bernoulli"``: the normalised density on [0, 1]
        (Loaiza-Ganem & Cunningham 2019) from the same logits; ``"categorical"``: ``n_levels``
        logits per pixel (the decoder's output has ``x_dim * n_levels`` units, pixel-major) and
        data on the grid ``0, 1/(n_levels-1), ..., 1`` (the 8x8 digits: 17 levels).
    sigma : float or "learned", default 1.0
        Standard deviation of the Gaussian decoder; ``"learned"`` adds the parameter
        ``decoder.logsigma`` (one shared sigma, initialised at 1). Ignored for Bernoulli.
    beta : float, default 1.0
        Weight of the KL term in the training loss (beta-VAE, Higgins et al. 2017). The ELBO
        reported by :meth:`elbo` is always the true one (beta = 1).
    free_bits : float, default 0.0
        Floor, in nats, on the batch-averaged KL of each latent dimension in the training loss
        (Kingma et al. 2016): the loss uses ``sum_j max(free_bits, mean_batch KL_j)``.
    activation : str, default "relu"
    seed : int, default 0
    dtype : {"float64", "float32"}, default "float64"
    n_levels : int, default 17
        Grey levels per pixel of the categorical decoder (ignored by the others).
    device : {None, "cpu"}, default None
        Where the parameters live; the NumPy reference computes on the CPU only, so anything else
        is a ``ValueError`` (the torch twin takes a torch device; not part of ``config``).
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
        get_device(device)  # the NumPy backend computes on "cpu" only
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
        rng = np.random.default_rng(seed)
        dt = self.dtype
        # drawn in this order: encoder hidden layers, mean head, logvar head, decoder
        self._enc = MLP((x_dim, *hidden_dims), activation, activation, seed=rng, dtype=dt)
        self._enc_mean = Linear(self._enc_width, z_dim, seed=rng, dtype=dt)
        self._enc_logvar = Linear(self._enc_width, z_dim, seed=rng, dtype=dt)
        self._dec = MLP((z_dim, *hidden_dims[::-1], out_dim), activation, seed=rng, dtype=dt,
                        out_name="out")
        self._modules = {
            "encoder": self._enc,
            "encoder.mean": self._enc_mean,
            "encoder.logvar": self._enc_logvar,
            "decoder": self._dec,
        }
        self.params = _register(self._modules)
        if self.learn_sigma:
            self.params["decoder.logsigma"] = np.zeros(1, dtype=self.dtype)

    @property
    def _enc_width(self):
        return self.hidden_dims[-1] if self.hidden_dims else self.x_dim

    # -- helpers ------------------------------------------------------------------------------

    def _check_x(self, x, name="x"):
        x = _as_data(x, self.x_dim, self.dtype, name, unit_interval=self.likelihood != "gaussian")
        if self.likelihood == "categorical":
            _check_on_grid(x, self.n_levels, name)
        return x

    def _levels(self, x):
        """Data in [0, 1] on the grid as integer levels 0..n_levels-1."""
        return np.rint(x * (self.n_levels - 1)).astype(np.intp)

    def _cat_logits(self, out):
        """Decoder output (..., x_dim * K) as (..., x_dim, K)."""
        return out.reshape(*out.shape[:-1], self.x_dim, self.n_levels)

    def _mean_from_raw(self, out):
        """Mean of p(x|z) from the decoder's raw output."""
        if self.likelihood == "bernoulli":
            return sigmoid(out)
        if self.likelihood == "continuous_bernoulli":
            return _cb_mean(out)  # not sigmoid(out): the CB's mean is pulled towards 1/2
        if self.likelihood == "categorical":
            grid = np.arange(self.n_levels, dtype=self.dtype) / (self.n_levels - 1)
            return np.exp(_log_softmax(self._cat_logits(out))) @ grid
        return out

    def _log_sigma(self):
        """log sigma of the Gaussian decoder: the parameter, or a Python float if fixed."""
        if self.learn_sigma:
            return self.params["decoder.logsigma"]
        return math.log(self.sigma)

    def _decode_raw(self, z):
        """Decoder output before the likelihood: logits (Bernoulli, continuous Bernoulli,
        categorical: ``x_dim * n_levels``) or means (Gaussian)."""
        return self._dec(z)

    # -- public forward -----------------------------------------------------------------------

    def encode(self, x):
        """Return ``(z_mean, z_logvar)``, each ``(batch_size, z_dim)``: the parameters of q(z|x)."""
        x = self._check_x(x)
        h = self._enc(x)
        return self._enc_mean(h), self._enc_logvar(h)

    def decode(self, z):
        """Mean of p(x|z), shape ``(batch_size, x_dim)``: probabilities (Bernoulli), the CB mean
        (not sigmoid of the logits), the mean grey level (categorical) or the Gaussian mean."""
        z = _as_data(z, self.z_dim, self.dtype, "z")
        return self._mean_from_raw(self._decode_raw(z))

    def decode_raw(self, z):
        """The decoder's output before the likelihood: the parameters of p(x|z).

        Logits ``(batch_size, x_dim)`` (Bernoulli, continuous Bernoulli), logits
        ``(batch_size, x_dim, n_levels)`` (categorical), or means (Gaussian). Lesson 05 draws
        samples of x from them.
        """
        z = _as_data(z, self.z_dim, self.dtype, "z")
        out = self._decode_raw(z)
        return self._cat_logits(out) if self.likelihood == "categorical" else out

    def sample_eps(self, n, rng, n_samples=None):
        """Standard normal noise from ``rng``: ``(n, z_dim)``, or ``(n_samples, n, z_dim)``.

        Drawn with ``rng.standard_normal`` in float64 and cast to the model dtype, so both
        backends see identical noise for the same generator state.
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
        z = self.sample_eps(n, rng)
        return self.decode(z)

    def reconstruct(self, x):
        """``decode(z_mean)``: the decoder's mean at the encoder's mean, ``(batch_size, x_dim)``."""
        z_mean, _ = self.encode(x)
        return self.decode(z_mean)

    def _log_px(self, x, out):
        """log p(x|z) per row of ``out`` (any leading shape), in nats."""
        if self.likelihood == "bernoulli":
            return log_px_given_z_bernoulli(x, out)
        if self.likelihood == "continuous_bernoulli":
            return log_px_given_z_continuous_bernoulli(x, out)
        if self.likelihood == "categorical":
            return log_px_given_z_categorical(self._levels(x), self._cat_logits(out))
        return log_px_given_z_gaussian(x, out, self._log_sigma())

    def _log_px_backward(self, x, out, grad, grads):
        """Backward of :meth:`_log_px`: ``d loss / d out`` for ``grad = d loss / d log p(x|z)``;
        a learned sigma's gradient goes into ``grads``."""
        if self.likelihood == "bernoulli":
            return log_px_given_z_bernoulli_backward(x, out, grad)
        if self.likelihood == "continuous_bernoulli":
            return log_px_given_z_continuous_bernoulli_backward(x, out, grad)
        if self.likelihood == "categorical":
            d = log_px_given_z_categorical_backward(self._levels(x), self._cat_logits(out), grad)
            return d.reshape(out.shape)
        d_out, d_log_sigma = log_px_given_z_gaussian_backward(x, out, self._log_sigma(), grad)
        if self.learn_sigma:
            grads["decoder.logsigma"] = np.atleast_1d(d_log_sigma).astype(self.dtype)
        return d_out

    def elbo(self, x, eps, kl="analytic"):
        """Per-example ELBO and its terms, in nats.

        Parameters
        ----------
        x : ndarray, shape (batch_size, x_dim)
        eps : ndarray, shape (batch_size, z_dim) or (n_samples, batch_size, z_dim)
            Noise for z = z_mean + exp(z_logvar / 2) * eps; the reconstruction term (and a Monte
            Carlo KL) average over the samples.
        kl : {"analytic", "mc"}, default "analytic"
            Closed-form KL, or the Monte Carlo estimate mean(log q(z|x) - log p(z)).

        Returns
        -------
        ELBOTerms
            ``(elbo, log_px_given_z, kl)``, each ``(batch_size,)``.
        """
        if kl not in ("analytic", "mc"):
            raise ValueError(f"argument 'kl' is {kl!r}; expected 'analytic' or 'mc'")
        x = self._check_x(x)
        eps = _as_eps(eps, x.shape[0], self.z_dim, self.dtype)
        return self._elbo(x, eps, kl)

    def _elbo(self, x, eps, kl="analytic"):
        h = self._enc(x)
        z_mean, z_logvar = self._enc_mean(h), self._enc_logvar(h)
        z = reparameterize(z_mean, z_logvar, eps)
        log_px = self._log_px(x, self._decode_raw(z))
        if kl == "analytic":
            kl_value = kl_normal_std_normal(z_mean, z_logvar)
        else:
            # log q(z|x) from the noise (z - z_mean would round away when sigma << |mu|)
            kl_value = log_normal_eps(eps, z_logvar) - log_normal(z, 0.0, 0.0)
        if eps.ndim == 3:
            log_px = log_px.mean(axis=0)
            if kl == "mc":
                kl_value = kl_value.mean(axis=0)
        return ELBOTerms(log_px - kl_value, log_px, kl_value)

    def iwae_bound(self, x, eps):
        r"""Importance-weighted bound (Burda et al. 2015) per example, in nats. Lesson 08.

        .. math::
            \mathcal L_k(x) = \log \frac1k \sum_{i=1}^k \frac{p(x\mid z_i)\,p(z_i)}{q(z_i\mid x)},
            \qquad z_i = \mu + \sigma\varepsilon_i

        Parameters
        ----------
        x : ndarray, shape (batch_size, x_dim)
        eps : ndarray, shape (k, batch_size, z_dim)
            ``(batch_size, z_dim)`` is taken as k = 1 (the ELBO with a Monte Carlo KL).

        Returns
        -------
        ndarray, shape (batch_size,)
        """
        x = self._check_x(x)
        eps = _as_eps(eps, x.shape[0], self.z_dim, self.dtype)
        if eps.ndim == 2:
            eps = eps[None]
        return logmeanexp(self._log_weights(x, eps)[0], axis=0)

    def _log_weights(self, x, eps, x_target=None):
        """log w = log p(x|z) + log p(z) - log q(z|x), shape (k, n), log p(x|z) and the forward
        caches. ``eps`` has shape (k, n, z_dim); ``x_target`` (default ``x``) is what the
        decoder's likelihood scores (denoising)."""
        h, enc_cache = self._enc.forward(x)
        z_mean, mean_cache = self._enc_mean.forward(h)
        z_logvar, logvar_cache = self._enc_logvar.forward(h)
        z = reparameterize(z_mean, z_logvar, eps)
        k, n, _ = eps.shape
        out, dec_cache = self._dec.forward(z.reshape(k * n, self.z_dim))
        out = out.reshape(k, n, out.shape[-1])
        log_px = self._log_px(x if x_target is None else x_target, out)
        # log q(z|x) from the noise: z - z_mean would round away when sigma << |z_mean|
        log_w = log_px + log_normal(z, 0.0, 0.0) - log_normal_eps(eps, z_logvar)
        cache = (enc_cache, mean_cache, logvar_cache, z_mean, z_logvar, z, dec_cache, out)
        return log_w, log_px, cache

    # -- loss and gradients -------------------------------------------------------------------

    def loss_and_grads(self, x, eps, estimator="pathwise", baseline=None, objective="elbo"):
        r"""Training loss (batch mean, nats) and its gradient for every parameter.

        ``objective="elbo"`` (default): loss is
        :math:`\frac1n\sum_i -\overline{\log p(x_i|z_i)} + \beta \sum_j \max(\text{free\_bits},
        \frac1n\sum_i \mathrm{KL}_{ij})`, KL analytic, reconstruction averaged over the samples
        in ``eps``. ``objective="iwae"``: loss is the batch mean of :math:`-\mathcal L_k`
        (``beta`` and ``free_bits`` do not apply).

        Parameters
        ----------
        x : ndarray, shape (batch_size, x_dim)
        eps : ndarray, shape (batch_size, z_dim) or (n_samples, batch_size, z_dim)
        estimator : {"pathwise", "score"}, default "pathwise"
            How the encoder gradient of the reconstruction term is estimated: through z by the
            reparameterization trick, or by the score function (REINFORCE, Williams 1992)
            :math:`\mathbb E_q[(\log p(x|z) - b)\,\nabla_\phi \log q_\phi(z|x)]` with z held
            fixed. The KL gradient is analytic and decoder gradients are the same for both.
            Lesson 06.
        baseline : float or ndarray broadcastable to (n_samples, batch_size), optional
            Subtracted from the learning signal ``log p(x|z)`` (score estimator only).
        objective : {"elbo", "iwae"}, default "elbo"

        Returns
        -------
        loss : float
        grads : dict
            ``{key: ndarray}``, keys and shapes of ``params``.
        """
        if estimator not in ("pathwise", "score"):
            raise ValueError(f"argument 'estimator' is {estimator!r}; expected 'pathwise'/'score'")
        if objective not in ("elbo", "iwae"):
            raise ValueError(f"argument 'objective' is {objective!r}; expected 'elbo' or 'iwae'")
        if objective == "iwae" and estimator != "pathwise":
            raise ValueError("argument 'estimator' must be 'pathwise' with objective='iwae'")
        if baseline is not None and estimator != "score":
            raise ValueError("argument 'baseline' is only used with estimator='score'")
        x = self._check_x(x)
        eps = _as_eps(eps, x.shape[0], self.z_dim, self.dtype)
        if baseline is not None:
            baseline = np.asarray(baseline, dtype=self.dtype)
            if not np.all(np.isfinite(baseline)):
                raise ValueError("argument 'baseline' contains NaN or infinite values")
            try:
                np.broadcast_shapes(baseline.shape, eps.shape[:-1])
            except ValueError as exc:
                raise ValueError(
                    f"argument 'baseline' has shape {baseline.shape}; it must broadcast to "
                    f"{eps.shape[:-1]}"
                ) from exc
        loss, grads, _ = self._loss_and_grads(x, eps, estimator, baseline, objective)
        return loss, grads

    def _loss_and_grads(
        self, x, eps, estimator="pathwise", baseline=None, objective="elbo", x_target=None
    ):
        """Forward, then the hand-written backward. Returns (loss, grads, terms) with batch-mean
        terms ``{"rec": mean -log p(x|z), "kl": mean KL}`` for the training history. ``x_target``
        (default ``x``): the clean data the decoder scores when ``x`` is corrupted.

        Every likelihood, KL and log-density is a call to :mod:`vaelearn.numpy.distributions`,
        and the backward pass calls each one's ``*_backward`` in reverse order (only the score
        estimator's two derivatives of log q are written inline). Lesson 05 prints this method."""
        eps = eps if eps.ndim == 3 else eps[None]  # (k, n, z_dim): k noise samples per example
        k, n, _ = eps.shape
        # ---- forward ----
        log_w, log_px, cache = self._log_weights(x, eps, x_target)
        enc_cache, mean_cache, logvar_cache, z_mean, z_logvar, z, dec_cache, out = cache
        x = x if x_target is None else x_target
        if objective == "iwae":  # loss = -1/n sum_i log mean_l w_il
            loss = -float(logmeanexp(log_w, axis=0).mean())
            d_log_w = logmeanexp_backward(log_w, axis=0, grad=-1 / n)  # (k, n)
            d_log_px = d_log_w
            kl = kl_normal_std_normal(z_mean, z_logvar)
        else:  # loss = -mean log p(x|z) + beta * sum_j max(free_bits, mean_batch KL_j)
            kl_dim = kl_normal_std_normal(z_mean, z_logvar, per_dim=True)  # (n, z_dim)
            kl_mean_dim = kl_dim.mean(axis=0)
            loss = float(-log_px.mean() + self.beta * np.maximum(kl_mean_dim, self.free_bits).sum())
            d_log_px = -1 / (n * k)  # a Python float: keeps float32 arrays float32
            kl = kl_dim.sum(axis=-1)

        # ---- backward: decoder ----
        grads = {}
        d_out = self._log_px_backward(x, out, d_log_px, grads)
        dz, dec_grads = self._dec.backward(
            d_out.reshape(k * n, out.shape[-1]), dec_cache, need_dx=estimator == "pathwise"
        )
        grads.update(_prefixed("decoder", dec_grads))

        # ---- backward: to the encoder's outputs z_mean, z_logvar ----
        if estimator == "pathwise":
            dz = dz.reshape(k, n, self.z_dim)
            if objective == "iwae":  # log w also holds log p(z) - log q(z|x)
                dz = dz + log_normal_backward(z, 0.0, 0.0, d_log_w)[0]
            d_mean, d_logvar = reparameterize_backward(dz, z_logvar, eps)
            if objective == "iwae":
                d_logvar = d_logvar + log_normal_eps_backward(eps, z_logvar, -d_log_w)
        else:
            # score function: grad_phi E_q[f(z)] = E_q[f(z) grad_phi log q(z|x)], z held fixed.
            # With z = mu + sigma * eps: d log q/d mu = eps / sigma, d log q/d logvar = (eps^2-1)/2
            signal = log_px if baseline is None else log_px - baseline  # (k, n)
            weight = signal[..., None] * d_log_px  # the loss has -log p(x|z), averaged
            d_mean = (weight * eps).sum(axis=0) / np.exp(0.5 * z_logvar)
            d_logvar = (weight * (eps * eps - 1)).sum(axis=0) * 0.5
        if objective == "elbo":
            # free bits: a dimension whose batch-mean KL is below the floor gets no gradient
            scale = self.beta / n
            if self.free_bits > 0:
                scale = (kl_mean_dim > self.free_bits) * scale
            d_kl_mean, d_kl_logvar = kl_normal_std_normal_backward(
                z_mean, z_logvar, scale, per_dim=True
            )
            d_mean = d_mean + d_kl_mean
            d_logvar = d_logvar + d_kl_logvar

        # ---- backward: encoder ----
        dh_mean, mean_grads = self._enc_mean.backward(d_mean, mean_cache)
        dh_logvar, logvar_grads = self._enc_logvar.backward(d_logvar, logvar_cache)
        _, enc_grads = self._enc.backward(dh_mean + dh_logvar, enc_cache, need_dx=False)
        grads.update(_prefixed("encoder.mean", mean_grads))
        grads.update(_prefixed("encoder.logvar", logvar_grads))
        grads.update(_prefixed("encoder", enc_grads))
        terms = {"rec": -log_px.mean(), "kl": kl.mean()}
        return loss, {key: grads[key] for key in self.params}, terms


# ----------------------------------------------------------------------------------------------
# checkpoints
# ----------------------------------------------------------------------------------------------

def load_checkpoint(path):
    """Load a model saved by :func:`save_checkpoint` (from either backend) into this backend.

    Works for ``VAE``, ``Autoencoder``, ``VQVAE`` and ``AutoregressiveVAE``.

    Raises
    ------
    ValueError
        If the file is corrupt or truncated, is not a vaelearn checkpoint, declares arrays
        larger than its config allows (checked before anything is inflated), or its arrays do
        not match the model its config describes (including complex or non-finite values); the
        message names the file.
    """
    from .autoregressive import AutoregressiveVAE
    from .vq import VQVAE

    return _load_checkpoint_into(
        path, {"VAE": VAE, "Autoencoder": Autoencoder, "VQVAE": VQVAE,
               "AutoregressiveVAE": AutoregressiveVAE}
    )
