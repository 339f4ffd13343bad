"""Pictures for lesson 01: code lengths against information, coding costs, KL's asymmetry;
and the rate split into mutual information and marginal KL (lessons 05, 08).

Every function takes NumPy arrays (or lists / dicts of them), draws one small figure (at most
8 x 3 inches, 150 dpi; see :mod:`vaelearn.plotting._style`) and returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._style import check_series, figure

__all__ = ["code_lengths", "coding_costs", "binary_entropy_curve", "kl_fits", "rate_parts_bars"]



def code_lengths(
    panels: Mapping[str, tuple],
    *,
    width: float = 7.0,
    height: float = 2.6,
):
    """Codeword lengths (bars) against the ideal lengths ``-log2 p_i`` (dots), one panel each.

    Parameters
    ----------
    panels : dict of str -> (p, code, labels)
        Title -> a distribution ``p`` of shape (n,), its code (list of n codewords) and n symbol
        labels. Where bar and dot coincide the code is exactly optimal (dyadic ``p``).
    width, height : float

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError("argument 'panels' must be a non-empty dict of title -> (p, code, labels)")
    fig, axes = figure(1, len(panels), width=width, height=height)
    for ax, (title, (p, code, labels)) in zip(axes[0], panels.items(), strict=True):
        p = check_series("p", p)
        if len(code) != p.size or len(labels) != p.size:
            raise ValueError(f"panel {title!r}: p, code and labels must have one entry per symbol")
        pos = np.arange(p.size)
        ax.bar(pos, [len(w) for w in code], color="C0", alpha=0.6, label="codeword length")
        ax.plot(pos, -np.log2(p), "o", color="C3", label=r"$-\log_2 p_i$")
        for k, w in enumerate(code):
            ax.text(k, len(w) / 2, w, ha="center", va="center", fontsize=8)
        ax.set_xticks(pos, [f"{lab}\n{pi:g}" for lab, pi in zip(labels, p, strict=True)])
        ax.set_ylim(0, max(max(len(w) for w in code), float(-np.log2(p.min()))) + 0.8)
        ax.set_ylabel("bits")
        ax.set_title(title, fontsize=10)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def coding_costs(
    measured: Mapping[str, float],
    predicted: Mapping[str, float],
    *,
    width: float = 5.0,
    height: float = 2.6,
):
    """Measured bits per symbol (bars) next to the predicted values (black ticks).

    Parameters
    ----------
    measured, predicted : dict of str -> float
        Same keys, e.g. ``{"code for p": ..., "code for q": ...}`` and the entropy /
        cross-entropy they should approach.
    width, height : float

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(measured, Mapping) or not measured or set(measured) != set(predicted):
        raise ValueError("arguments 'measured' and 'predicted' must be dicts with the same keys")
    keys = list(measured)
    m = check_series("measured", [measured[k] for k in keys])
    e = check_series("predicted", [predicted[k] for k in keys])
    fig, axes = figure(1, 1, width=width, height=height)
    ax = axes[0, 0]
    pos = np.arange(len(keys))
    ax.barh(pos, m, color=[f"C{k}" for k in range(len(keys))], alpha=0.6, label="measured")
    ax.plot(e, pos, "|", color="k", markersize=22, markeredgewidth=2, label="predicted")
    for k, v in enumerate(m):
        ax.text(v + 0.03, k, f"{v:.3f}", va="center", fontsize=8)
    ax.set_yticks(pos, keys)
    ax.set_xlim(0, max(m.max(), e.max()) * 1.2)
    ax.set_xlabel("bits per symbol")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def binary_entropy_curve(p, h_bits, *, width: float = 3.5, height: float = 2.5):
    """The entropy of a coin, in bits, against its probability of heads.

    Parameters
    ----------
    p, h_bits : array_like, shape (n,)

    Returns
    -------
    matplotlib.figure.Figure
    """
    p = check_series("p", p)
    h = check_series("h_bits", h_bits, p.size)
    fig, axes = figure(1, 1, width=width, height=height)
    ax = axes[0, 0]
    ax.plot(p, h, color="C0")
    ax.axvline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("p (probability of heads)")
    ax.set_ylabel("H(p) in bits")
    fig.tight_layout()
    return fig


def kl_fits(
    x,
    p_density,
    fits: Mapping[str, Sequence[float]],
    *,
    width: float = 7.0,
    height: float = 2.6,
):
    """A density p and Gaussian fits to it, one panel per fit (forward vs reverse KL).

    Parameters
    ----------
    x, p_density : array_like, shape (n_grid,)
    fits : dict of str -> (mean, var)
        Panel title -> the fitted Gaussian.
    width, height : float

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..info import normal_pdf

    x = check_series("x", x)
    dens = check_series("p_density", p_density, x.size)
    if not isinstance(fits, Mapping) or not fits:
        raise ValueError("argument 'fits' must be a non-empty dict of title -> (mean, var)")
    fig, axes = figure(1, len(fits), width=width, height=height, sharey=True)
    for ax, (title, (mean, var)) in zip(axes[0], fits.items(), strict=True):
        ax.fill_between(x, dens, color="grey", alpha=0.35, label="p")
        ax.plot(x, normal_pdf(x, mean, var), color="C3", label="fitted q")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("x")
    axes[0, 0].set_ylabel("density")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def rate_parts_bars(labels, mutual_information, marginal_kl, *, log_n=None, width: float = 5.0):
    r"""The rate as stacked bars: :math:`I_q(x; z)` below, :math:`\mathrm{KL}(q(z)\|p(z))` on top.

    One bar per model; its height is the rate (nats per example), split as in
    :func:`vaelearn.numpy.info.rate_decomposition` (Hoffman & Johnson 2016). ``log_n`` draws
    the ceiling :math:`\log N` of the mutual information as a dashed line. Lesson 08.

    Parameters
    ----------
    labels : sequence of str, length m
    mutual_information, marginal_kl : array_like, shape (m,)
        Nats per example (Monte Carlo estimates; a marginal KL slightly below 0 is drawn as is).
    log_n : float, optional
        :math:`\log N` for the data set the parts were measured on.
    width : float

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the lengths differ, a value is NaN or inf, or ``log_n`` is not a positive number.
    """
    labels = [str(s) for s in labels]
    mi = check_series("mutual_information", mutual_information, len(labels))
    marginal = check_series("marginal_kl", marginal_kl, len(labels))
    if not labels:
        raise ValueError("argument 'labels' is empty")
    fig, axes = figure(width=width, height=2.6)
    ax = axes[0, 0]
    x = np.arange(len(labels))
    ax.bar(x, mi, color="C0", label=r"$I_q(x; z)$")
    ax.bar(x, marginal, bottom=mi, color="C1", label=r"$\mathrm{KL}(q(z)\,\|\,p(z))$")
    if log_n is not None:
        if isinstance(log_n, bool) or not (np.isfinite(log_n) and log_n > 0):
            raise ValueError(f"argument 'log_n' must be a positive number, got {log_n!r}")
        ax.axhline(log_n, color="k", lw=0.8, ls="--", label=rf"$\log N = {log_n:.2f}$")
    ax.set_xticks(x)
    ax.set_xticklabels(labels)
    ax.set_ylabel("rate (nats / example)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

