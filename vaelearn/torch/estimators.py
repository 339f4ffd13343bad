r"""Score-function and pathwise gradient estimators and their variance. Lesson 06.

The same functions as :mod:`vaelearn.numpy.estimators` (see there for the formulas), on torch.
``f`` (and ``df``) receive tensors; NumPy inputs give NumPy outputs, tensor inputs give tensors
that keep the autograd graph. :func:`pathwise_grad` differentiates ``f`` with autograd when ``df``
is None, which assumes ``f`` acts on each row of ``x`` separately.
"""

from __future__ import annotations

import numpy as np
import torch

from .distributions import _out, _to_tensors

__all__ = ["score_function_grad", "pathwise_grad", "estimator_mean_var"]

BASELINES = ("leave-one-out",)


def _check_finite(name, t):
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"argument '{name}' contains NaN or infinite values")


def _check_inputs(f, mean, std, eps):
    if not callable(f):
        raise ValueError(f"argument 'f' must be callable, got {type(f).__name__}")
    for name, a in (("mean", mean), ("std", std), ("eps", eps)):
        if not isinstance(a, torch.Tensor) and np.asarray(a).dtype.kind not in "fiu":
            raise ValueError(f"argument '{name}' must be a real array, got {np.asarray(a).dtype}")
    (mean, std, eps), tin = _to_tensors(mean, std, eps)
    for name, t, nd in (("mean", mean, 1), ("std", std, 1), ("eps", eps, 2)):
        if t.dim() != nd:
            raise ValueError(
                f"argument '{name}' must have {nd} dimension(s), got shape {tuple(t.shape)}"
            )
        _check_finite(name, t)
    if std.shape != mean.shape:
        raise ValueError(
            f"arguments 'mean' and 'std' must have the same shape, got {tuple(mean.shape)}, "
            f"{tuple(std.shape)}"
        )
    if bool((std <= 0).any()):
        raise ValueError("argument 'std' must be positive (it is a standard deviation)")
    if eps.shape[1] != mean.shape[0] or eps.shape[0] < 1:
        raise ValueError(
            f"argument 'eps' must have shape (n_draws, {mean.shape[0]}), got {tuple(eps.shape)}"
        )
    return mean, std, eps, tin


def _values(f, x):
    fx = f(x)
    if not isinstance(fx, torch.Tensor):
        raise ValueError(f"argument 'f' must return a tensor for tensor x, got {type(fx).__name__}")
    if tuple(fx.shape) != (x.shape[0],):
        raise ValueError(
            f"argument 'f' must map x of shape {tuple(x.shape)} to shape ({x.shape[0]},), "
            f"got {tuple(fx.shape)}"
        )
    _check_finite("f(x)", fx.detach())
    return fx


def _baseline(baseline, fx):
    n = fx.shape[0]
    if baseline is None:
        return 0.0
    if isinstance(baseline, str):
        if baseline != "leave-one-out":
            raise ValueError(
                f"argument 'baseline' is {baseline!r}; expected a number, an array of shape "
                f"({n},) or one of {BASELINES}"
            )
        if n < 2:
            raise ValueError("argument 'baseline'='leave-one-out' needs at least 2 draws")
        return (fx.sum() - fx) / (n - 1)
    if not isinstance(baseline, torch.Tensor) and np.asarray(baseline).dtype.kind not in "fiu":
        raise ValueError(
            f"argument 'baseline' must be a number or a real array, got {baseline!r}"
        )
    (b,), _ = _to_tensors(baseline, dtype=fx.dtype, device=fx.device)
    _check_finite("baseline", b)
    if b.dim() > 1 or (b.dim() == 1 and b.shape[0] != n):
        raise ValueError(
            f"argument 'baseline' must be a number or have shape ({n},), got {tuple(b.shape)}"
        )
    return b


def score_function_grad(f, mean, std, eps, baseline=None):
    r"""Single-draw score-function (REINFORCE) estimates of :math:`\nabla_{\mu,\sigma} \mathbb E f`

    :math:`\hat g_\mu = (f(x) - b)\,\varepsilon/\sigma`,
    :math:`\hat g_\sigma = (f(x) - b)(\varepsilon^2 - 1)/\sigma`,
    :math:`x = \mu + \sigma\varepsilon`.
    See :func:`vaelearn.numpy.score_function_grad`. Lesson 06.

    Parameters
    ----------
    f : callable
        Tensor ``(n_draws, D)`` -> tensor ``(n_draws,)``.
    mean, std : array, shape (D,)
    eps : array, shape (n_draws, D)
    baseline : None, float, array of shape (n_draws,) or "leave-one-out", optional

    Returns
    -------
    grad_mean, grad_std : array, shape (n_draws, D)
    """
    mean, std, eps, tin = _check_inputs(f, mean, std, eps)
    x = mean + std * eps
    fx = _values(f, x)
    signal = (fx - _baseline(baseline, fx))[:, None]
    return _out(signal * eps / std, tin), _out(signal * (eps * eps - 1) / std, tin)


def pathwise_grad(f, mean, std, eps, df=None):
    r"""Single-draw pathwise (reparameterized) estimates of :math:`\nabla_{\mu,\sigma} \mathbb E f`

    :math:`\hat g_\mu = \nabla f(x)`, :math:`\hat g_\sigma = \nabla f(x) \odot \varepsilon`,
    :math:`x = \mu + \sigma\varepsilon`. See :func:`vaelearn.numpy.pathwise_grad`. Lesson 06.

    Parameters
    ----------
    f : callable
        Tensor ``(n_draws, D)`` -> tensor ``(n_draws,)``, acting on each row separately.
    mean, std : array, shape (D,)
    eps : array, shape (n_draws, D)
    df : callable, optional
        ``df(x)`` -> :math:`\nabla f(x)`, shape ``(n_draws, D)``. When None, autograd
        differentiates ``f``.

    Returns
    -------
    grad_mean, grad_std : array, shape (n_draws, D)
    """
    mean, std, eps, tin = _check_inputs(f, mean, std, eps)
    if df is not None and not callable(df):
        raise ValueError(f"argument 'df' must be callable, got {type(df).__name__}")
    x = mean + std * eps
    if df is None:
        keep_graph = x.requires_grad
        xg = x if keep_graph else x.detach().requires_grad_(True)
        with torch.enable_grad():
            fx = _values(f, xg)
            # rows are independent, so the gradient of the sum holds each row's own gradient
            (g,) = torch.autograd.grad(fx.sum(), xg, create_graph=keep_graph)
    else:
        _values(f, x)
        g = df(x)
        if not isinstance(g, torch.Tensor) or tuple(g.shape) != tuple(x.shape):
            shape = tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__
            raise ValueError(
                f"argument 'df' must return a tensor of shape {tuple(x.shape)}, got {shape}"
            )
    _check_finite("df(x)", g.detach())
    return _out(g, tin), _out(g * eps, tin)


def estimator_mean_var(samples):
    r"""Empirical mean and (ddof = 1) variance of single-sample estimates over axis 0.

    See :func:`vaelearn.numpy.estimator_mean_var`. Lesson 06.

    Parameters
    ----------
    samples : array, shape (n_draws, ...)

    Returns
    -------
    mean, var : array, shape ``samples.shape[1:]``
    """
    if not isinstance(samples, torch.Tensor) and np.asarray(samples).dtype.kind not in "fiu":
        raise ValueError(f"argument 'samples' must be a real array, got {samples!r}")
    (s,), tin = _to_tensors(samples)
    if s.dim() < 1 or s.shape[0] < 2:
        raise ValueError(
            f"argument 'samples' needs at least 2 draws along axis 0, got {tuple(s.shape)}"
        )
    _check_finite("samples", s.detach())
    return _out(s.mean(dim=0), tin), _out(s.var(dim=0, correction=1), tin)
