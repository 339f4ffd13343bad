r"""Score-function and pathwise gradient estimators and their variance. Lesson 06.

Both estimate the gradient of an expectation over a diagonal Gaussian,

.. math::
    \nabla_{\mu,\sigma}\, \mathbb E_{x \sim \mathcal N(\mu, \operatorname{diag}\sigma^2)}[f(x)],

from draws :math:`x = \mu + \sigma \odot \varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`.
Each row of ``eps`` (shape ``(n_draws, D)``) gives one *single-sample* estimate, so the functions
return ``n_draws`` independent estimates whose spread is the estimator's variance
(Mohamed et al. 2020).

- score function (REINFORCE, Williams 1992):
  :math:`(f(x) - b)\,\nabla \log \mathcal N(x; \mu, \sigma^2)`, with
  :math:`\partial_\mu \log\mathcal N = \varepsilon / \sigma` and
  :math:`\partial_\sigma \log\mathcal N = (\varepsilon^2 - 1) / \sigma`;
- pathwise (reparameterization, Kingma & Welling 2013; Rezende et al. 2014):
  :math:`\partial_\mu f(\mu + \sigma\varepsilon) = f'(x)`,
  :math:`\partial_\sigma f(\mu + \sigma\varepsilon) = f'(x)\,\varepsilon`.

The NumPy backend has no autograd, so :func:`pathwise_grad` needs ``df``, the gradient of ``f``;
the torch backend's twin differentiates ``f`` itself when ``df`` is None.
"""

from __future__ import annotations

import numpy as np

__all__ = ["score_function_grad", "pathwise_grad", "estimator_mean_var"]

BASELINES = ("leave-one-out",)
"""Named baselines :func:`score_function_grad` accepts besides a number or an array."""


def _as_float(name, a, ndim=None):
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"argument '{name}' must be a real array, got dtype {a.dtype}")
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"argument '{name}' must have {ndim} dimension(s), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"argument '{name}' contains NaN or infinite values")
    return a


def _check_inputs(f, mean, std, eps):
    """Validate and return ``mean (D,), std (D,), eps (n_draws, D)`` as float arrays."""
    if not callable(f):
        raise ValueError(f"argument 'f' must be callable, got {type(f).__name__}")
    mean = _as_float("mean", mean, ndim=1)
    std = _as_float("std", std, ndim=1)
    eps = _as_float("eps", eps, ndim=2)
    if std.shape != mean.shape:
        raise ValueError(
            f"arguments 'mean' and 'std' must have the same shape, got {mean.shape}, {std.shape}"
        )
    if np.any(std <= 0):
        raise ValueError("argument 'std' must be positive (it is a standard deviation)")
    if eps.shape[1] != mean.shape[0] or eps.shape[0] < 1:
        raise ValueError(
            f"argument 'eps' must have shape (n_draws, {mean.shape[0]}), got {eps.shape}"
        )
    return mean, std, eps


def _values(f, x):
    """``f(x)`` for x of shape (n_draws, D), checked to be (n_draws,) and finite."""
    fx = np.asarray(f(x))
    if fx.shape != (x.shape[0],):
        raise ValueError(
            f"argument 'f' must map x of shape {x.shape} to shape ({x.shape[0]},), "
            f"got {fx.shape}"
        )
    if not np.all(np.isfinite(fx)):
        raise ValueError("argument 'f' returned NaN or infinite values")
    return fx


def _baseline(baseline, fx):
    """The baseline per draw, shape (n_draws,)."""
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
        # the mean of f over the other draws: independent of draw i, so the estimate stays unbiased
        return (fx.sum() - fx) / (n - 1)
    b = _as_float("baseline", baseline)
    if b.ndim > 1 or (b.ndim == 1 and b.shape[0] != n):
        raise ValueError(
            f"argument 'baseline' must be a number or have shape ({n},), got {b.shape}"
        )
    return b


def score_function_grad(f, mean, std, eps, baseline=None):
    r"""Single-draw score-function (REINFORCE) estimates of :math:`\nabla_{\mu,\sigma} \mathbb E f`

    .. math::
        \hat g_\mu = (f(x) - b)\,\frac{\varepsilon}{\sigma}, \qquad
        \hat g_\sigma = (f(x) - b)\,\frac{\varepsilon^2 - 1}{\sigma}, \qquad
        x = \mu + \sigma \odot \varepsilon,

    one estimate per row of ``eps``. The score has mean zero, so a baseline ``b`` that does not
    depend on the draw's own noise leaves the estimate unbiased and can shrink its variance (a
    control variate; Williams 1992; Mohamed et al. 2020, sec. 7). Lesson 06.

    Parameters
    ----------
    f : callable
        ``f(x)`` maps x of shape ``(n_draws, D)`` to values of shape ``(n_draws,)``.
    mean, std : ndarray, shape (D,)
        :math:`\mu` and :math:`\sigma > 0`.
    eps : ndarray, shape (n_draws, D)
        Standard normal draws.
    baseline : None, float, ndarray of shape (n_draws,) or "leave-one-out", optional
        Subtracted from ``f(x)``. ``"leave-one-out"`` uses, for draw i, the mean of ``f`` over the
        other draws (independent of draw i, so still unbiased).

    Returns
    -------
    grad_mean, grad_std : ndarray, shape (n_draws, D)
        One single-sample estimate per row.

    Raises
    ------
    ValueError
        On shapes that do not fit, non-positive ``std``, NaN, a bad ``baseline`` or ``f`` output.
    """
    mean, std, eps = _check_inputs(f, mean, std, eps)
    x = mean + std * eps
    fx = _values(f, x)
    signal = (fx - _baseline(baseline, fx))[:, None]
    return signal * eps / std, signal * (eps * eps - 1) / std


def pathwise_grad(f, mean, std, eps, df=None):
    r"""Single-draw pathwise (reparameterized) estimates of :math:`\nabla_{\mu,\sigma} \mathbb E f`

    .. math::
        \hat g_\mu = \nabla f(x), \qquad \hat g_\sigma = \nabla f(x) \odot \varepsilon, \qquad
        x = \mu + \sigma \odot \varepsilon,

    the derivative of :math:`f(\mu + \sigma\varepsilon)` with the noise held fixed
    (Kingma & Welling 2013; Rezende et al. 2014). Lesson 06.

    Parameters
    ----------
    f : callable
        ``f(x)`` maps x of shape ``(n_draws, D)`` to shape ``(n_draws,)`` (its values are checked;
        the torch backend differentiates it when ``df`` is None).
    mean, std : ndarray, shape (D,)
    eps : ndarray, shape (n_draws, D)
    df : callable
        ``df(x)`` returns :math:`\nabla f(x)`, shape ``(n_draws, D)``. Required here: the NumPy
        backend has no autograd.

    Returns
    -------
    grad_mean, grad_std : ndarray, shape (n_draws, D)

    Raises
    ------
    ValueError
        If ``df`` is missing or not callable, or as :func:`score_function_grad`.
    """
    mean, std, eps = _check_inputs(f, mean, std, eps)
    if df is None:
        raise ValueError(
            "argument 'df' (the gradient of f) is required by the NumPy backend, which has no "
            "autograd"
        )
    if not callable(df):
        raise ValueError(f"argument 'df' must be callable, got {type(df).__name__}")
    x = mean + std * eps
    _values(f, x)
    g = np.asarray(df(x))
    if g.shape != x.shape:
        raise ValueError(f"argument 'df' must return shape {x.shape}, got {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("argument 'df' returned NaN or infinite values")
    return g, g * eps


def estimator_mean_var(samples):
    r"""Empirical mean and variance of single-sample estimates, over the draws (axis 0).

    .. math::
        \bar g = \frac1n \sum_i \hat g_i, \qquad
        s^2 = \frac{1}{n-1} \sum_i (\hat g_i - \bar g)^2

    Lesson 06.

    Parameters
    ----------
    samples : ndarray, shape (n_draws, ...)
        E.g. ``grad_mean`` from :func:`score_function_grad`; at least 2 draws.

    Returns
    -------
    mean, var : ndarray, shape ``samples.shape[1:]``
        The mean estimates the gradient; ``var`` the variance of one single-sample estimate
        (divide by ``n_draws`` for the variance of ``mean``).
    """
    s = _as_float("samples", samples)
    if s.ndim < 1 or s.shape[0] < 2:
        raise ValueError(f"argument 'samples' needs at least 2 draws along axis 0, got {s.shape}")
    return s.mean(axis=0), s.var(axis=0, ddof=1)
