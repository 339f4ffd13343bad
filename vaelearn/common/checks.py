"""Argument checks shared by both backends: NumPy in, clear ``ValueError`` out.

Neither :mod:`vaelearn.numpy` nor :mod:`vaelearn.torch` imports the other; what both need (these
checks, the checkpoint format, the fit driver's bookkeeping) lives in :mod:`vaelearn.common`. No
formula lives here: each backend computes its own, so the parity tests compare two
implementations.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

ELBOTerms = namedtuple("ELBOTerms", ["elbo", "log_px_given_z", "kl"])
ELBOTerms.__doc__ = """Per-example ELBO and its two terms, each of shape (batch_size,), in nats.

``elbo = log_px_given_z - kl``: ``log_px_given_z`` is the expected reconstruction log-likelihood
(averaged over the samples of z), ``kl`` is KL(q(z|x) || p(z)).
"""

RateDecomposition = namedtuple(
    "RateDecomposition", ["rate", "mutual_information", "marginal_kl"]
)
RateDecomposition.__doc__ = """\
What :func:`vaelearn.numpy.rate_decomposition` returns: ``rate`` (closed form),
``mutual_information`` and ``marginal_kl`` (Monte Carlo), in nats per example; ``rate`` equals
the other two up to Monte Carlo error."""


_DTYPES = ("float32", "float64")


# ----------------------------------------------------------------------------------------------
# argument checks shared by the models (the torch backend mirrors them)
# ----------------------------------------------------------------------------------------------


def _check_dtype(dtype):
    name = np.dtype(dtype).name if dtype is not None else None
    if name not in _DTYPES:
        raise ValueError(f"argument 'dtype' is {dtype!r}; expected 'float32' or 'float64'")
    return name


def _is_int(v):
    return not isinstance(v, bool) and isinstance(v, int | np.integer)


def _check_sizes(x_dim, hidden_dims, z_dim):
    if not _is_int(x_dim) or x_dim < 1:
        raise ValueError(f"argument 'x_dim' is {x_dim!r}; expected a positive int")
    if not _is_int(z_dim) or z_dim < 1:
        raise ValueError(f"argument 'z_dim' is {z_dim!r}; expected a positive int")
    if _is_int(hidden_dims):
        hidden_dims = (hidden_dims,)
    # a string is a sequence too: '128' would silently become widths (1, 2, 8)
    if isinstance(hidden_dims, str | bytes) or not hasattr(hidden_dims, "__iter__"):
        raise ValueError(
            f"argument 'hidden_dims' is {hidden_dims!r}; expected an int or a sequence of ints"
        )
    hidden_dims = tuple(hidden_dims)
    if any(not _is_int(h) or h < 1 for h in hidden_dims):
        raise ValueError(
            f"argument 'hidden_dims' is {hidden_dims!r}; widths must be positive ints"
        )
    return int(x_dim), tuple(int(h) for h in hidden_dims), int(z_dim)


def _check_seed(seed):
    """An int >= 0 (NumPy's own message for a bad seed does not name the argument)."""
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"argument 'seed' is {seed!r}; expected an int >= 0")
    return int(seed)


def _check_beta(beta):
    if isinstance(beta, bool) or not isinstance(beta, int | float | np.integer | np.floating):
        raise ValueError(f"argument 'beta' is {beta!r}; expected a finite float >= 0")
    if not (float(beta) >= 0 and math.isfinite(float(beta))):
        raise ValueError(f"argument 'beta' is {beta!r}; expected a finite float >= 0")
    return float(beta)


def _get_beta(self):
    return self._beta


def _set_beta(self, value):
    # training may change beta (fit's beta_schedule): keep the config that repr and checkpoints
    # use in step, so a save/load round trip gives the same loss
    self._beta = _check_beta(value)
    if hasattr(self, "config"):
        self.config["beta"] = self._beta


_BETA_PROPERTY = property(
    _get_beta, _set_beta, doc="Weight of the KL term in the training loss (kept in ``config``)."
)


ACTIVATION_NAMES = ("relu", "tanh", "sigmoid", "softplus", "identity")
"""The names accepted by ``activation=`` (the keys of both backends' ``layers.ACTIVATIONS``)."""


def _check_activation(activation):
    key = str(activation).lower()
    if key not in ACTIVATION_NAMES:
        raise ValueError(
            f"argument 'activation' is {activation!r}; expected one of "
            f"{', '.join(ACTIVATION_NAMES)}"
        )
    return key


def _as_data(x, x_dim, dtype, name="x", unit_interval=False):
    """Validate a data batch: 2-D, ``x_dim`` columns, finite (and in [0, 1] if asked)."""
    try:
        x = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"argument {name!r} cannot be converted to a {dtype} array") from exc
    if x.ndim != 2:
        raise ValueError(f"argument {name!r} has shape {x.shape}; expected (batch_size, {x_dim})")
    if x.shape[1] != x_dim:
        raise ValueError(
            f"argument {name!r} has {x.shape[1]} columns; the model has x_dim={x_dim}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"argument {name!r} contains NaN or infinite values")
    if unit_interval and x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"argument {name!r} has values outside [0, 1] "
            f"(min {x.min():.4g}, max {x.max():.4g}); a Bernoulli decoder needs data in [0, 1]"
        )
    return x


def _as_eps(eps, n, z_dim, dtype, name="eps", need_3d=False):
    """Validate noise: shape (n, z_dim) or (n_samples, n, z_dim), finite."""
    try:
        eps = np.asarray(eps, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"argument {name!r} cannot be converted to a {dtype} array") from exc
    ok = eps.ndim in (2, 3) and eps.shape[-2:] == (n, z_dim)
    if need_3d:
        ok = ok and eps.ndim == 3
    if not ok:
        want = f"(k, {n}, {z_dim})" if need_3d else f"({n}, {z_dim}) or (n_samples, {n}, {z_dim})"
        raise ValueError(f"argument {name!r} has shape {eps.shape}; expected {want}")
    if not np.all(np.isfinite(eps)):
        raise ValueError(f"argument {name!r} contains NaN or infinite values")
    return eps


LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli", "categorical")


def _check_likelihood(likelihood, n_levels):
    if likelihood not in LIKELIHOODS:
        raise ValueError(
            f"argument 'likelihood' is {likelihood!r}; expected one of "
            + ", ".join(repr(s) for s in LIKELIHOODS)
        )
    if not _is_int(n_levels) or n_levels < 2:
        raise ValueError(f"argument 'n_levels' is {n_levels!r}; expected an int >= 2")
    return likelihood, int(n_levels)


def _check_on_grid(x, n_levels, name="x"):
    """Categorical data: every value a multiple of 1/(n_levels-1) (to 1e-4 of a step)."""
    t = np.asarray(x, dtype=np.float64) * (n_levels - 1)
    if t.size and np.max(np.abs(t - np.rint(t))) > 1e-4:
        raise ValueError(
            f"argument {name!r} is not on the grid of {n_levels} levels 0, 1/{n_levels - 1}, "
            "..., 1 that a categorical decoder models (e.g. the 8x8 digits: 17 levels)"
        )


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"argument 'rng' is {type(rng).__name__}; expected numpy.random.Generator "
            "(e.g. numpy.random.default_rng(0))"
        )
    return rng


def _check_param_dict(params, reference, dtype):
    """Check keys, shapes and values; return ``{key: array cast to dtype}``.

    Refuses complex and non-numeric values (a cast would silently drop the imaginary part) and
    checks finiteness *after* the cast, so a float64 1e40 bound for float32 is refused."""
    if not isinstance(params, dict):
        raise ValueError(f"argument 'params' is {type(params).__name__}; expected a dict")
    missing = sorted(set(reference) - set(params))
    extra = sorted(set(params) - set(reference))
    if missing or extra:
        raise ValueError(f"argument 'params' keys differ: missing {missing}, unexpected {extra}")
    out = {}
    for k, v in params.items():
        shape = tuple(np.shape(v))
        if shape != tuple(reference[k].shape):
            raise ValueError(
                f"argument 'params'[{k!r}] has shape {shape}; expected {tuple(reference[k].shape)}"
            )
        v = np.asarray(v)
        if v.dtype.kind not in "fiub":
            raise ValueError(
                f"argument 'params'[{k!r}] has dtype {v.dtype}; expected real numbers"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            cast = v.astype(dtype)
        if not np.all(np.isfinite(cast)):
            raise ValueError(
                f"argument 'params'[{k!r}] contains NaN or infinite values in {np.dtype(dtype)}"
            )
        out[k] = cast
    return out



def _check_lr(lr):
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"argument 'lr' is {lr!r}; expected a finite float > 0")
    return float(lr)


def _check_momentum(momentum):
    if not (0 <= momentum < 1):
        raise ValueError(f"argument 'momentum' is {momentum!r}; expected 0 <= momentum < 1")
    return float(momentum)


def _check_adam(betas, eps):
    """Adam's ``betas`` and ``eps``, checked; shared by both backends' Adam."""
    b1, b2 = (float(b) for b in betas)
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise ValueError(f"argument 'betas' is {betas!r}; expected two floats in [0, 1)")
    if not eps > 0:
        raise ValueError(f"argument 'eps' is {eps!r}; expected a float > 0")
    return (b1, b2), float(eps)


def _check_levels(x_levels, n_levels):
    x = np.asarray(x_levels)
    if x.dtype.kind == "f":
        k = np.rint(x)
        if np.any(np.abs(x - k) > 1e-6 * max(1, n_levels)) or not np.all(np.isfinite(x)):
            raise ValueError("argument 'x_levels' must hold integer levels 0..K-1")
        x = k
    elif x.dtype.kind not in "iu":
        raise ValueError(f"argument 'x_levels' has dtype {x.dtype}; expected integer levels")
    x = x.astype(np.intp)
    if x.size and (x.min() < 0 or x.max() >= n_levels):
        raise ValueError(
            f"argument 'x_levels' must lie in 0..{n_levels - 1} (the last axis of 'logits')"
        )
    return x


def _check_vq_config(x_dim, hidden_dims, z_dim, n_codes, commitment, seed, dtype):
    """Validate a VQVAE's constructor arguments; return ``hidden_dims`` as a tuple."""
    for name, v in (("x_dim", x_dim), ("z_dim", z_dim), ("n_codes", n_codes)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"argument '{name}' must be a positive int, got {v!r}")
    hidden_dims = tuple(hidden_dims)
    if any(isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1
           for h in hidden_dims):
        raise ValueError(f"argument 'hidden_dims' must hold positive ints, got {hidden_dims}")
    if not np.isfinite(commitment) or commitment < 0:
        raise ValueError(f"argument 'commitment' must be >= 0, got {commitment!r}")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"argument 'dtype' is {dtype!r}; expected 'float64' or 'float32'")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"argument 'seed' is {seed!r}; expected an int >= 0")
    return hidden_dims


def _check_vq_data(x, x_dim, dtype, name="x"):
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 2 or x.shape[1] != x_dim:
        raise ValueError(f"argument '{name}' must have shape (n, {x_dim}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"argument '{name}' contains NaN or infinite values")
    if np.any(x < 0) or np.any(x > 1):
        raise ValueError(f"argument '{name}' must lie in [0, 1] (Bernoulli decoder)")
    return x


# --- the autoregressive (MADE) decoder, lesson 07 ----------------------------------------------


def _pos_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"argument {name!r} is {value!r}; expected a positive int")
    return int(value)


def _check_context(context):
    if context is None:
        return None
    return _pos_int(context, "context")


def _check_nonneg(value, name):
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"argument {name!r} is {value!r}; expected a finite float >= 0")
    if not (math.isfinite(float(value)) and float(value) >= 0):
        raise ValueError(f"argument {name!r} is {value!r}; expected a finite float >= 0")
    return float(value)


def _check_binary(x, name):
    """Data for a Bernoulli decoder: exactly 0 or 1 (binarised images)."""
    if x.size and not np.all((x == 0) | (x == 1)):
        raise ValueError(
            f"argument {name!r} has values other than 0 and 1; the autoregressive decoder "
            "models binary pixels (binarise first, e.g. x > 0.5)"
        )
    return x


def _init_autoregressive_vae(model, x_dim, hidden_dims, z_dim, made_hidden, context, beta,
                             free_bits, activation, seed, dtype):
    """Check ``AutoregressiveVAE``'s arguments and set its attributes and ``config`` (both
    backends); return the checked seed."""
    x_dim, hidden_dims, z_dim = _check_sizes(x_dim, hidden_dims, z_dim)
    model.beta = beta
    model.config = {
        "model": "AutoregressiveVAE", "x_dim": x_dim, "hidden_dims": list(hidden_dims),
        "z_dim": z_dim, "made_hidden": _pos_int(made_hidden, "made_hidden"),
        "context": _check_context(context), "beta": model.beta,
        "free_bits": _check_nonneg(free_bits, "free_bits"),
        "activation": _check_activation(activation), "seed": _check_seed(seed),
        "dtype": _check_dtype(dtype),
    }
    for key in ("x_dim", "z_dim", "made_hidden", "context", "activation", "free_bits", "dtype"):
        setattr(model, key, model.config[key])
    model.hidden_dims = hidden_dims
    return model.config["seed"]


# --- the NumPy closed-form modules of the lesson families (vaelearn.elbo, .likelihoods) -------


def _finite(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"argument {name!r} contains NaN or infinite values")
    return arr


def _positive(name: str, value) -> np.ndarray:
    arr = _finite(name, value)
    if np.any(arr <= 0):
        raise ValueError(f"argument {name!r} must be positive (a variance), got {value!r}")
    return arr


def _as_result(value: np.ndarray):
    """Return a Python float for 0-d results, an array otherwise."""
    value = np.asarray(value, dtype=np.float64)
    return float(value) if value.ndim == 0 else value


def _check_mask(in_dim, out_dim, mask):
    """``MaskedLinear``'s sizes and 0/1 mask of shape ``(in_dim, out_dim)`` (both backends)."""
    in_dim, out_dim = _pos_int(in_dim, "in_dim"), _pos_int(out_dim, "out_dim")
    mask = np.asarray(mask, dtype=np.float64)
    if mask.shape != (in_dim, out_dim):
        raise ValueError(
            f"argument 'mask' has shape {mask.shape}; expected ({in_dim}, {out_dim})"
        )
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("argument 'mask' must contain only 0 and 1")
    return in_dim, out_dim, mask


def _init_made(model, x_dim, hidden_dim, z_dim, context, activation, seed, dtype):
    """Check ``MADE``'s arguments and set its sizes, context and activation (both backends);
    return the checked dtype and the Generator its weights are drawn from."""
    model.x_dim = _pos_int(x_dim, "x_dim")
    model.hidden_dim = _pos_int(hidden_dim, "hidden_dim")
    if isinstance(z_dim, bool) or not isinstance(z_dim, int | np.integer) or z_dim < 0:
        raise ValueError(f"argument 'z_dim' is {z_dim!r}; expected an int >= 0")
    model.z_dim = int(z_dim)
    model.context = _check_context(context)
    model.activation = _check_activation(activation)
    dtype = _check_dtype(dtype)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(
        _check_seed(seed))
    return dtype, rng
