"""MLP building blocks: Linear, ReLU, Tanh, Sigmoid, Softplus, MLP. Lessons 02-06.

Every layer has the same two methods:

- ``forward(x) -> (y, cache)``: compute the output and keep what the backward pass needs;
- ``backward(dy, cache) -> (dx, grads)``: given ``dL/dy``, return ``dL/dx`` and a dict of
  ``dL/dparameter`` (empty for activations).

Calling a layer, ``layer(x)``, is ``forward`` without the cache (for evaluation).

Weight initialisation (the same in both backends, so one seed gives identical weights): for a
layer with ``fan_in`` inputs, ``W`` and then ``b`` are drawn from
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``rng.uniform`` in float64 and cast to the model
dtype -- the default of ``torch.nn.Linear``.
"""

from __future__ import annotations

import numpy as np

from ._device import get_device
from .distributions import sigmoid, softplus

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
    """Draw ``(W, b)`` for a linear layer: ``U(-1/sqrt(in_dim), 1/sqrt(in_dim))``, W first.

    Parameters
    ----------
    in_dim, out_dim : int
    rng : numpy.random.Generator
        Both backends draw from it in the same order, so the same seed gives identical weights.
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


class Linear:
    """Affine layer ``y = x @ W + b``; ``W`` has shape ``(in_dim, out_dim)``.

    Parameters
    ----------
    in_dim, out_dim : int
    seed : int or numpy.random.Generator, default 0
        Where the initial weights come from (see :func:`init_linear`).
    dtype : str, default "float64"
    device : {None, "cpu"}, default None
        Accepted for the same signature as the torch twin; anything else is a ``ValueError``.

    Attributes
    ----------
    params : dict
        ``{"W": (in_dim, out_dim), "b": (out_dim,)}``.
    """

    def __init__(self, in_dim, out_dim, *, seed=0, dtype="float64", device=None):
        get_device(device)  # the NumPy backend computes on "cpu" only
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        W, b = init_linear(in_dim, out_dim, rng, dtype)
        self.params = {"W": W, "b": b}

    def __call__(self, x):
        return x @ self.params["W"] + self.params["b"]

    def forward(self, x):
        """Return ``(x @ W + b, cache)``; the cache is the input ``x``."""
        return self(x), x

    def backward(self, dy, cache, need_dx=True):
        """``dL/dx = dy @ W.T``, ``dL/dW = x.T @ dy``, ``dL/db = sum of dy over the batch``.

        ``need_dx=False`` skips ``dL/dx`` (returned as ``None``): the first layer of a network
        needs no gradient for the data."""
        x = cache
        grads = {"W": x.T @ dy, "b": dy.sum(axis=0)}
        dx = dy @ self.params["W"].T if need_dx else None
        return dx, grads


class _Activation:
    params: dict = {}

    def __init__(self):
        self.params = {}

    def forward(self, x):
        y = self(x)
        return y, (x, y)


class Identity(_Activation):
    """``y = x`` (a linear autoencoder uses it in place of a nonlinearity)."""

    def __call__(self, x):
        return x

    def backward(self, dy, cache, need_dx=True):
        """``dL/dx = dy``."""
        return dy, {}


class ReLU(_Activation):
    """``y = max(x, 0)``."""

    def __call__(self, x):
        return np.maximum(x, 0)

    def backward(self, dy, cache, need_dx=True):
        """``dL/dx = dy`` where ``x > 0``, else 0."""
        x, _ = cache
        return dy * (x > 0), {}


class Tanh(_Activation):
    """``y = tanh(x)``."""

    def __call__(self, x):
        return np.tanh(x)

    def backward(self, dy, cache, need_dx=True):
        """``dL/dx = dy * (1 - y^2)``."""
        _, y = cache
        return dy * (1 - y * y), {}


class Sigmoid(_Activation):
    """``y = 1 / (1 + exp(-x))``."""

    def __call__(self, x):
        return sigmoid(x)

    def backward(self, dy, cache, need_dx=True):
        """``dL/dx = dy * y * (1 - y)``."""
        _, y = cache
        return dy * y * (1 - y), {}


class Softplus(_Activation):
    """``y = log(1 + exp(x))``."""

    def __call__(self, x):
        return softplus(x)

    def backward(self, dy, cache, need_dx=True):
        """``dL/dx = dy * sigmoid(x)``."""
        x, _ = cache
        return dy * sigmoid(x), {}


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


class MLP:
    """A stack ``Linear -> activation -> ... -> Linear [-> out_activation]``.

    The one multilayer perceptron of the NumPy backend: the VAE, the autoencoder and the VQ-VAE
    are built from it (a model registers its layers' arrays under its own key prefix, e.g.
    ``encoder.0.W``), and its :meth:`backward` is the only place a stack of layers is
    differentiated.

    Parameters
    ----------
    dims : sequence of int
        Layer widths ``(in_dim, hidden_1, ..., out_dim)``; one entry gives an empty stack (the
        identity), as a model with no hidden layers needs.
    activation : str, default "relu"
        Nonlinearity after every hidden layer (see :data:`ACTIVATIONS`).
    out_activation : str, optional
        Nonlinearity after the last layer (``None``: none).
    seed : int or numpy.random.Generator, default 0
        Weights are drawn layer by layer, ``W`` then ``b``.
    dtype : str, default "float64"
    out_name : str, optional
        Key of the last layer in ``params`` (``"out"`` gives ``out.W``, ``out.b``); by default its
        index like the others.
    device : {None, "cpu"}, default None
        As for :class:`Linear`.

    Attributes
    ----------
    params : dict
        ``{"0.W", "0.b", "1.W", ...}``, the same arrays the layers hold.
    layers : list
    linears : list of Linear
        The affine layers, in order.
    """

    def __init__(self, dims, activation="relu", out_activation=None, *, seed=0, dtype="float64",
                 out_name=None, device=None):
        get_device(device)  # the NumPy backend computes on "cpu" only
        dims = [int(d) for d in dims]
        if len(dims) < 1 or min(dims) < 1:
            raise ValueError(f"argument 'dims' is {dims}; need >= 1 positive widths")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.layers = []
        self.linears = []
        self.names = []
        self.params = {}
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            lin = Linear(a, b, seed=rng, dtype=dtype)
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

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def forward(self, x):
        """Return ``(y, cache)``; the cache is the list of the layers' caches."""
        caches = []
        for layer in self.layers:
            x, c = layer.forward(x)
            caches.append(c)
        return x, caches

    def backward(self, dy, cache, need_dx=True):
        """Run the layers' backward passes in reverse; return ``(dx, grads)`` keyed like params.

        ``need_dx=False`` skips the first layer's ``dL/dx`` (``dx`` is then ``None``)."""
        grads = {}
        i = len(self.linears)
        for j in reversed(range(len(self.layers))):
            layer = self.layers[j]
            if isinstance(layer, Linear):
                i -= 1
                dy, g = layer.backward(dy, cache[j], need_dx=need_dx or j > 0)
                grads[f"{self.names[i]}.W"] = g["W"]
                grads[f"{self.names[i]}.b"] = g["b"]
            else:
                dy, _ = layer.backward(dy, cache[j])
        return dy, grads

    def _astype(self, dtype):
        """Cast every layer's arrays to ``dtype`` in place of the old ones (``params`` follows)."""
        for name, lin in zip(self.names, self.linears, strict=True):
            lin.params = {k: v.astype(dtype) for k, v in lin.params.items()}
            self.params[f"{name}.W"] = lin.params["W"]
            self.params[f"{name}.b"] = lin.params["b"]
        return self
