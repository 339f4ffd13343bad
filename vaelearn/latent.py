"""Latent-space tools that work with either backend: encode a data set, decode a grid, interpolate,
sample from the prior, traverse one coordinate at a time. Lessons 05-08.

Each function takes any model with ``encode(x)`` and ``decode(z)`` (a VAE, whose ``encode``
returns ``(z_mean, z_logvar)``, or an Autoencoder, whose ``encode`` returns ``z``), takes and
returns NumPy arrays, and uses no randomness except a seeded ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "encode_dataset",
    "latent_grid",
    "decode_grid",
    "interpolate",
    "sample_prior",
    "traverse",
]


def _z_dim(model) -> int:
    z_dim = getattr(model, "z_dim", None)
    if z_dim is None:
        raise ValueError(f"argument 'model' ({type(model).__name__}) has no attribute z_dim")
    return int(z_dim)


def _check_model(model, methods=("encode", "decode")) -> None:
    for name in methods:
        if not callable(getattr(model, name, None)):
            raise ValueError(f"argument 'model' ({type(model).__name__}) has no method {name}()")


def _numpy(a) -> np.ndarray:
    """NumPy copy of an array-like (a torch tensor is detached and moved to the CPU)."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _encode_mean(model, x):
    out = model.encode(x)
    if isinstance(out, tuple):
        return _numpy(out[0]), _numpy(out[1])
    return _numpy(out), None


def _check_x(x, name, model) -> np.ndarray:
    x = np.asarray(x)
    x_dim = getattr(model, "x_dim", None)
    if x.ndim != 2 or (x_dim is not None and x.shape[1] != x_dim):
        want = f"(n, {x_dim})" if x_dim is not None else "(n, x_dim)"
        raise ValueError(f"argument {name!r} must have shape {want}, got {x.shape}")
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError(f"argument {name!r} contains NaN or infinite values")
    return x


def _check_positive_int(value, name) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"argument {name!r} must be a positive int, got {value!r}")
    return int(value)


def encode_dataset(model, x, batch_size: int = 1024, *, return_logvar: bool = False):
    """Encode a whole data set in minibatches: the posterior means ``mu(x)`` of ``q(z | x)``.

    For a VAE the code of an image is the mean of its Gaussian posterior approximation
    ``q(z | x) = N(mu(x), diag(exp(logvar(x))))``; for an Autoencoder it is the deterministic
    code ``z = f(x)``.

    Parameters
    ----------
    model : VAE or Autoencoder (either backend)
    x : ndarray, shape (n, x_dim)
    batch_size : int, default 1024
        Rows encoded at once (bounds memory, not the result).
    return_logvar : bool, default False
        Also return ``z_logvar`` (VAE only).

    Returns
    -------
    z_mean : ndarray, shape (n, z_dim)
    z_logvar : ndarray, shape (n, z_dim)
        Only with ``return_logvar=True``.
    """
    _check_model(model)
    x = _check_x(x, "x", model)
    batch_size = _check_positive_int(batch_size, "batch_size")
    means, logvars = [], []
    for start in range(0, x.shape[0], batch_size):
        mean, logvar = _encode_mean(model, x[start : start + batch_size])
        means.append(mean)
        logvars.append(logvar)
    z_dim = _z_dim(model)
    z_mean = np.concatenate(means) if means else np.zeros((0, z_dim))
    if not return_logvar:
        return z_mean
    if any(lv is None for lv in logvars):
        raise ValueError("return_logvar=True needs a model whose encode() returns (mean, logvar)")
    return z_mean, (np.concatenate(logvars) if logvars else np.zeros((0, z_dim)))


def latent_grid(n: int = 15, lim: float | None = None) -> np.ndarray:
    """A square grid of 2-D latent points, laid out as a picture (``z_2`` grows upwards).

    With ``lim=None`` the coordinates are quantiles of the prior ``N(0, 1)`` at probabilities
    ``linspace(0.05, 0.95, n)`` (as in Kingma & Welling 2013, fig. 4), so every cell covers the
    same prior mass; with a number they are ``linspace(-lim, lim, n)``.

    Parameters
    ----------
    n : int, default 15
        Points per side.
    lim : float, optional
        Half-width of an evenly spaced grid.

    Returns
    -------
    ndarray, shape (n, n, 2)
        ``grid[i, j] = (u[j], u[n - 1 - i])``: row ``i`` is drawn ``i``-th from the top, so the
        picture has the orientation of a scatter plot of ``z``.
    """
    n = _check_positive_int(n, "n")
    if lim is None:
        from scipy.stats import norm

        u = norm.ppf(np.linspace(0.05, 0.95, n))
    else:
        if not np.isfinite(lim) or lim <= 0:
            raise ValueError(f"argument 'lim' must be a finite number > 0, got {lim!r}")
        u = np.linspace(-float(lim), float(lim), n)
    z1, z2 = np.meshgrid(u, u[::-1])
    return np.stack([z1, z2], axis=-1)


def decode_grid(
    model, n: int = 15, lim: float | None = None, *, dims=(0, 1), z_base=None
) -> np.ndarray:
    """Decode a grid over two latent coordinates: the "learned manifold" picture.

    ``x[i, j] = decode(z)`` with ``z = z_base`` except ``z[dims] = latent_grid(n, lim)[i, j]``.

    Parameters
    ----------
    model : VAE or Autoencoder (either backend), or any object with ``z_dim`` and ``decode``
    n : int, default 15
    lim : float, optional
        See :func:`latent_grid` (``None``: prior quantiles).
    dims : pair of int, default (0, 1)
        Which latent coordinates vary (for ``z_dim > 2``).
    z_base : ndarray, shape (z_dim,), optional
        Values of the other coordinates (default zeros, the prior mean).

    Returns
    -------
    ndarray, shape (n, n, x_dim)
        Decoded means (Bernoulli: probabilities).
    """
    _check_model(model, ("decode",))
    z_dim = _z_dim(model)
    if z_dim < 2:
        raise ValueError(f"decode_grid needs z_dim >= 2, the model has z_dim={z_dim}")
    d0, d1 = (int(d) for d in dims)
    if d0 == d1 or not (0 <= d0 < z_dim and 0 <= d1 < z_dim):
        raise ValueError(f"argument 'dims' must be two distinct indices below {z_dim}, got {dims}")
    base = np.zeros(z_dim) if z_base is None else np.asarray(z_base, dtype=np.float64)
    if base.shape != (z_dim,) or not np.all(np.isfinite(base)):
        raise ValueError(f"argument 'z_base' must be a finite array of shape ({z_dim},)")
    grid = latent_grid(n, lim).reshape(-1, 2)
    z = np.tile(base, (grid.shape[0], 1))
    z[:, d0], z[:, d1] = grid[:, 0], grid[:, 1]
    x = _numpy(model.decode(z))
    return x.reshape(n, n, -1)


def interpolate(model, x_a, x_b, steps: int = 8, *, method: str = "linear") -> np.ndarray:
    """Decode a straight path between the codes of two inputs.

    ``z_t = (1 - t) mu(x_a) + t mu(x_b)`` for ``t = linspace(0, 1, steps)`` (``method="linear"``),
    or spherical interpolation ``z_t = sin((1-t) w)/sin w mu_a + sin(t w)/sin w mu_b`` with
    ``cos w = mu_a . mu_b / (|mu_a| |mu_b|)`` (``"slerp"``, which keeps the norm typical of
    prior samples in high dimension). Returns ``decode(z_t)``.

    Parameters
    ----------
    model : VAE or Autoencoder (either backend)
    x_a, x_b : ndarray, shape (x_dim,) or (1, x_dim)
        The two endpoints.
    steps : int, default 8
        Number of points, >= 2, endpoints included.
    method : {"linear", "slerp"}, default "linear"

    Returns
    -------
    ndarray, shape (steps, x_dim)
        The first row is ``decode(mu(x_a))``, the last ``decode(mu(x_b))``.
    """
    _check_model(model)
    steps = _check_positive_int(steps, "steps")
    if steps < 2:
        raise ValueError(f"argument 'steps' must be >= 2, got {steps}")
    if method not in ("linear", "slerp"):
        raise ValueError(f"argument 'method' must be 'linear' or 'slerp', got {method!r}")
    pair = []
    for name, x in (("x_a", x_a), ("x_b", x_b)):
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[0] != 1:
            raise ValueError(f"argument {name!r} must be one input, shape (x_dim,), got {x.shape}")
        pair.append(_check_x(x, name, model))
    z_a, z_b = _encode_mean(model, np.concatenate(pair))[0].astype(np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if method == "linear":
        z = (1.0 - t) * z_a + t * z_b
    else:
        norms = np.linalg.norm(z_a) * np.linalg.norm(z_b)
        cos = np.clip(z_a @ z_b / norms, -1.0, 1.0) if norms > 0 else 1.0
        omega = np.arccos(cos)
        if omega < 1e-8:  # (anti-)parallel codes too close to tell apart: straight line
            z = (1.0 - t) * z_a + t * z_b
        else:
            z = (np.sin((1.0 - t) * omega) * z_a + np.sin(t * omega) * z_b) / np.sin(omega)
        z[0], z[-1] = z_a, z_b  # exact endpoints
    return _numpy(model.decode(z))


def sample_prior(model, n: int, rng: np.random.Generator) -> np.ndarray:
    """Generate data: ``z ~ N(0, I)`` then ``decode(z)`` (the decoder's mean, not a pixel draw).

    Parameters
    ----------
    model : VAE (either backend), or any model with ``z_dim`` and ``decode``
    n : int
        Number of samples.
    rng : numpy.random.Generator
        Draws ``z``, an ``(n, z_dim)`` standard normal array, in float64.

    Returns
    -------
    ndarray, shape (n, x_dim)
    """
    _check_model(model, ("decode",))
    n = _check_positive_int(n, "n")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"argument 'rng' must be a numpy.random.Generator, got {type(rng)}")
    z = rng.standard_normal((n, _z_dim(model)))
    return _numpy(model.decode(z))


def traverse(model, z_base, values, *, dims=None) -> np.ndarray:
    """Latent traversals: decode ``z_base`` with one coordinate at a time swept over ``values``.

    ``x[r, c] = decode(z)`` with ``z = z_base`` except ``z[dims[r]] = values[c]``: row ``r`` shows
    what latent ``dims[r]`` alone changes in the picture (Higgins et al. 2017). In a disentangled
    code each row moves one generative factor (lesson 08).

    Parameters
    ----------
    model : VAE or Autoencoder (either backend), or any object with ``z_dim`` and ``decode``
    z_base : ndarray, shape (z_dim,)
        The code the sweep starts from (e.g. ``zeros``, the prior mean, or an image's ``mu(x)``).
    values : ndarray, shape (n_values,)
        The values each swept coordinate takes, finite.
    dims : sequence of int, optional
        The coordinates swept, one row each (default: all ``z_dim``).

    Returns
    -------
    ndarray, shape (len(dims), n_values, x_dim)
        Decoded means (Bernoulli: probabilities).

    Raises
    ------
    ValueError
        If ``z_base`` is not a finite array of shape ``(z_dim,)``, ``values`` is empty or not
        finite, or a dim is out of range.
    """
    _check_model(model, ("decode",))
    z_dim = _z_dim(model)
    base = np.asarray(z_base, dtype=np.float64)
    if base.shape != (z_dim,) or not np.all(np.isfinite(base)):
        raise ValueError(f"argument 'z_base' must be a finite array of shape ({z_dim},)")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("argument 'values' must be a non-empty finite 1-D array")
    dims = list(range(z_dim)) if dims is None else [int(d) for d in dims]
    if not dims or any(not 0 <= d < z_dim for d in dims):
        raise ValueError(f"argument 'dims' must be indices below {z_dim}, got {dims}")
    z = np.tile(base, (len(dims), values.size, 1))
    for r, d in enumerate(dims):
        z[r, :, d] = values
    x = _numpy(model.decode(z.reshape(-1, z_dim)))
    return x.reshape(len(dims), values.size, -1)
