"""Pictures for lesson 06: gradient variance against dimension, estimate histograms, learning
curves of two estimators side by side, and the shares of gradient variance.

Every function takes NumPy arrays (or lists / dicts of them), draws one small figure (at most
8 x 3 inches, 150 dpi; see :mod:`vaelearn.plotting._style`) and returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._style import check_series, figure

__all__ = [
    "variance_vs_dimension",
    "estimate_histograms",
    "learning_curves_compared",
    "variance_shares",
]



def _check_mapping(name, value):
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"argument '{name}' must be a non-empty dict of label -> values")


def variance_vs_dimension(
    dims: Sequence[int],
    variances: Mapping[str, Sequence[float]],
    exact: Mapping[str, Sequence[float]] | None = None,
    *,
    width: float = 4.5,
    height: float = 3.0,
):
    """Total variance of a gradient estimate against the dimension D, on log-log axes.

    Parameters
    ----------
    dims : sequence of int, shape (m,)
    variances : dict of str -> sequence of float, each shape (m,)
        Measured variance (e.g. the trace of the estimate's covariance) per label; must be > 0.
    exact : dict of str -> sequence of float, optional
        Closed forms, drawn as dashed lines in the same colours (labels matched by order).
    width, height : float

    Returns
    -------
    matplotlib.figure.Figure
    """
    d = check_series("dims", dims)
    if np.any(d < 1):
        raise ValueError("argument 'dims' must hold dimensions >= 1")
    _check_mapping("variances", variances)
    fig, axes = figure(width=width, height=height)
    ax = axes[0, 0]
    for i, (label, v) in enumerate(variances.items()):
        v = check_series(f"variances[{label!r}]", v, d.size)
        if np.any(v <= 0):
            raise ValueError(f"argument 'variances[{label!r}]' must be positive on a log axis")
        ax.loglog(d, v, "o", ms=4, color=f"C{i}", label=f"{label} (measured)")
    for i, (label, v) in enumerate((exact or {}).items()):
        ax.loglog(d, check_series(f"exact[{label!r}]", v, d.size), "--", color=f"C{i}", lw=1,
                  label=f"{label} (exact)")
    ax.set_xlabel("dimension D")
    ax.set_ylabel("total variance")
    ax.legend(fontsize=7)
    fig.tight_layout(pad=0.3)
    return fig


def estimate_histograms(
    samples: Mapping[str, Sequence[float]],
    *,
    truth: float | None = None,
    bins: int = 60,
    width: float = 6.0,
    height: float = 2.6,
):
    """Histograms of single-sample gradient estimates, one outline per estimator.

    Parameters
    ----------
    samples : dict of str -> sequence of float
        One array of single-sample estimates (shape (n_draws,)) per label.
    truth : float, optional
        The exact gradient, drawn as a vertical line.
    bins : int, default 60
    width, height : float

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_mapping("samples", samples)
    arrays = {k: check_series(f"samples[{k!r}]", v) for k, v in samples.items()}
    lo = min(np.percentile(v, 0.5) for v in arrays.values())
    hi = max(np.percentile(v, 99.5) for v in arrays.values())
    edges = np.linspace(lo, hi, int(bins) + 1)
    fig, axes = figure(width=width, height=height)
    ax = axes[0, 0]
    for i, (label, v) in enumerate(arrays.items()):
        ax.hist(v, bins=edges, density=True, histtype="step", color=f"C{i}",
                label=f"{label}: var {v.var(ddof=1):.1f}")
    if truth is not None:
        ax.axvline(float(truth), color="k", lw=1, ls=":", label="exact gradient")
    ax.set_xlabel("single-sample estimate")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    fig.tight_layout(pad=0.3)
    return fig


def learning_curves_compared(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    key: str = "test_loss",
    width: float = 8.0,
    height: float = 2.8,
    ylim: tuple[float, float] | None = None,
):
    """Learning curves of several ``fit`` histories side by side, one panel each, same axes.

    Parameters
    ----------
    histories : dict of str -> fit history
        E.g. ``{"pathwise": h1, "score function": h2}``; each has ``train_loss`` and ``key``.
    key : str, default "test_loss"
        Drawn next to ``train_loss`` (nats per example).
    width, height : float
    ylim : (float, float), optional
        Shared loss axis; default from the data.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_mapping("histories", histories)
    fig, axes = figure(1, len(histories), width=width, height=height, sharey=True)
    for j, (label, h) in enumerate(histories.items()):
        if "train_loss" not in h or key not in h:
            raise ValueError(f"history {label!r} needs 'train_loss' and {key!r}")
        train = check_series(f"histories[{label!r}]['train_loss']", h["train_loss"])
        other = check_series(f"histories[{label!r}][{key!r}]", h[key], train.size)
        epoch = np.arange(1, train.size + 1)
        ax = axes[0, j]
        ax.plot(epoch, train, label="train")
        ax.plot(epoch, other, label=key.replace("_", " "))
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch")
        if j == 0:
            ax.set_ylabel("-ELBO (nats per example)")
        ax.legend(fontsize=7)
    if ylim is not None:
        axes[0, 0].set_ylim(*ylim)
    fig.tight_layout(pad=0.3)
    return fig


def variance_shares(
    shares: Mapping[str, Mapping[str, float]],
    *,
    width: float = 5.0,
    height: float = 2.4,
):
    """Horizontal stacked bars: how much of a gradient's variance each noise source explains.

    Parameters
    ----------
    shares : dict of str -> dict of str -> float
        ``{"pathwise": {"minibatch": 0.9, "eps": 0.1}, ...}``; fractions in [0, 1] per bar.
    width, height : float

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_mapping("shares", shares)
    fig, axes = figure(width=width, height=height)
    ax = axes[0, 0]
    labels = list(shares)
    parts = list(next(iter(shares.values())))
    left = np.zeros(len(labels))
    for i, part in enumerate(parts):
        vals = np.array([float(shares[lab][part]) for lab in labels])
        if np.any(~np.isfinite(vals)) or np.any(vals < 0):
            raise ValueError(f"argument 'shares': {part!r} must be finite and >= 0")
        ax.barh(labels, vals, left=left, color=f"C{i}", label=part)
        left += vals
    ax.set_xlabel("share of the gradient's variance")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout(pad=0.3)
    return fig
