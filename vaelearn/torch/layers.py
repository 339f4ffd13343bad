"""MLP building blocks on torch: Linear, ReLU, Tanh, Sigmoid, Softplus, MLP. Lessons 02-06.

The same names, signatures and methods as :mod:`vaelearn.numpy.layers`:
``forward(x) -> (y, cache)`` and ``backward(dy, cache) -> (dx, grads)``. Here ``backward`` asks
autograd (``torch.autograd.grad``) instead of a hand-written formula, so a parity test can compare
the two. ``layer(x)`` is the plain forward used by the models. NumPy in gives NumPy out.

Initial weights come from ``numpy.random.default_rng(seed)`` exactly as in the NumPy backend
(``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``W`` then ``b``), so the same seed gives the same weights.
"""

from __future__ import annotations

import numpy as np
import torch

from ._device import get_device
from .distributions import _out, _softplus_t, _to_tensors, _torch_dtype

__all__ = [
    "Linear",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "Softplus",
    "Identity",
    "MLP",
    "ACTIVATIONS",
    "init_linear",
]


def init_linear(in_dim, out_dim, rng, dtype="float64"):
    """Draw ``(W, b)`` as NumPy arrays, exactly as :func:`vaelearn.numpy.init_linear`.

    Parameters
    ----------
    in_dim, out_dim : int
    rng : numpy.random.Generator
    dtype : str, default "float64"

    Returns
    -------
    W : ndarray, shape (in_dim, out_dim)
    b : ndarray, shape (out_dim,)
    """
    bound = 1.0 / np.sqrt(in_dim)
    W = rng.uniform(-bound, bound, size=(in_dim, out_dim)).astype(dtype)
    b = rng.uniform(-bound, bound, size=(out_dim,)).astype(dtype)
    return W, b


def _param(array, device):
    return torch.tensor(array, device=device).requires_grad_(True)


class _Layer:
    params: dict

    def __call__(self, x):
        """Forward without a cache: tensors in, tensors out; NumPy in, NumPy out."""
        if isinstance(x, torch.Tensor):
            return self._f(x)
        x, tin = self._prep(x)
        with torch.no_grad():
            return _out(self._f(x), tin)

    def _prep(self, x):
        ref = next(iter(self.params.values()), None)
        dtype = ref.dtype if ref is not None else None
        device = ref.device if ref is not None else None
        (x,), tin = _to_tensors(x, dtype=dtype, device=device)
        return x, tin

    def forward(self, x):
        """Return ``(y, cache)``; the cache holds the input (as a graph leaf) and the output."""
        x, tin = self._prep(x)
        x_leaf = x if x.requires_grad else x.detach().requires_grad_(True)
        with torch.enable_grad():
            y = self._f(x_leaf)
        return _out(y, tin), (x_leaf, y, tin)

    def backward(self, dy, cache, need_dx=True):
        """Return ``(dL/dx, {name: dL/dparam})`` for upstream gradient ``dy``, by autograd
        (``dL/dx`` is ``None`` with ``need_dx=False``)."""
        x, y, tin = cache
        (dy,), _ = _to_tensors(dy, dtype=y.dtype, device=y.device)
        names = list(self.params)
        inputs = [x] + [self.params[k] for k in names]
        grads = torch.autograd.grad(y, inputs, dy, retain_graph=True, allow_unused=True)
        dx = grads[0] if grads[0] is not None else torch.zeros_like(x)
        g = {k: _out(v.detach(), tin) for k, v in zip(names, grads[1:], strict=True)}
        return (_out(dx.detach(), tin) if need_dx else None), g


class Linear(_Layer):
    """Affine layer ``y = x @ W + b``; ``W`` has shape ``(in_dim, out_dim)``.

    Parameters
    ----------
    in_dim, out_dim : int
    seed : int or numpy.random.Generator, default 0
    dtype : str, default "float64"
    device : str, optional
        Torch device of the parameters (default :func:`get_device`, i.e. ``VAELEARN_DEVICE``).

    Attributes
    ----------
    params : dict
        ``{"W": tensor (in_dim, out_dim), "b": tensor (out_dim,)}`` on ``device``.
    """

    def __init__(self, in_dim, out_dim, *, seed=0, dtype="float64", device=None):
        device = get_device(device)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        W, b = init_linear(in_dim, out_dim, rng, dtype)
        self.params = {"W": _param(W, device), "b": _param(b, device)}

    def _f(self, x):
        if x.dim() == 2:
            return torch.addmm(self.params["b"], x, self.params["W"])
        return x @ self.params["W"] + self.params["b"]


class _Activation(_Layer):
    def __init__(self):
        self.params = {}


class Identity(_Activation):
    """``y = x``."""

    def _f(self, x):
        return x * 1


class ReLU(_Activation):
    """``y = max(x, 0)``."""

    def _f(self, x):
        return torch.relu(x)


class Tanh(_Activation):
    """``y = tanh(x)``."""

    def _f(self, x):
        return torch.tanh(x)


class Sigmoid(_Activation):
    """``y = 1 / (1 + exp(-x))``."""

    def _f(self, x):
        return torch.sigmoid(x)


class Softplus(_Activation):
    """``y = log(1 + exp(x))`` (exact, no threshold)."""

    def _f(self, x):
        return _softplus_t(x)


ACTIVATIONS = {
    "relu": ReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "softplus": Softplus,
    "identity": Identity,
}
"""Activation name -> layer class, the names accepted by ``activation=``."""


def _activation(name):
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise ValueError(
            f"argument 'activation' is {name!r}; expected one of {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[key]()


class MLP(_Layer):
    """A stack ``Linear -> activation -> ... -> Linear [-> out_activation]``.

    Parameters
    ----------
    dims : sequence of int
        ``(in_dim, hidden_1, ..., out_dim)``; one entry gives an empty stack (the identity).
    activation : str, default "relu"
    out_activation : str, optional
    seed : int or numpy.random.Generator, default 0
    dtype : str, default "float64"
    out_name : str, optional
        Key of the last layer in ``params`` (default: its index).
    device : str, optional
        Torch device of the parameters (default :func:`get_device`).

    Attributes
    ----------
    params : dict
        ``{"0.W", "0.b", "1.W", ...}``, the tensors the layers hold.
    layers : list
    """

    def __init__(self, dims, activation="relu", out_activation=None, *, seed=0, dtype="float64",
                 out_name=None, device=None):
        device = get_device(device)
        dims = [int(d) for d in dims]
        if len(dims) < 1 or min(dims) < 1:
            raise ValueError(f"argument 'dims' is {dims}; need >= 1 positive widths")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.layers = []
        self.linears = []
        self.names = []
        self.params = {}
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            lin = Linear(a, b, seed=rng, dtype=dtype, device=device)
            last = i == len(dims) - 2
            name = out_name if last and out_name is not None else str(i)
            self.params[f"{name}.W"] = lin.params["W"]
            self.params[f"{name}.b"] = lin.params["b"]
            self.layers.append(lin)
            self.linears.append(lin)
            self.names.append(name)
            if not last:
                self.layers.append(_activation(activation))
            elif out_activation is not None:
                self.layers.append(_activation(out_activation))

    def _f(self, x):
        for layer in self.layers:
            x = layer._f(x)
        return x

    def _rebind(self, params):
        """Point the layers at ``params`` (``{"0.W": tensor, ...}``, e.g. after a dtype cast)."""
        self.params = dict(params)
        for name, lin in zip(self.names, self.linears, strict=True):
            lin.params = {"W": params[f"{name}.W"], "b": params[f"{name}.b"]}


_ = _torch_dtype  # re-exported helper used by models
