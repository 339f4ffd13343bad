"""Pictures for lessons 07-08: posterior collapse, KL per latent dimension, rate-distortion,
codebook usage.

Every function takes NumPy arrays, draws one small figure (at most 8 x 3 inches, 150 dpi) with
:func:`vaelearn.plotting._style.figure` and returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._style import figure

__all__ = [
    "collapse_sweep",
    "kl_per_dimension_bars",
    "rate_distortion",
    "codebook_usage",
    "kl_per_epoch",
]


def _vector(name, value, size=None):
    v = np.asarray(value, dtype=np.float64)
    if v.ndim != 1 or (size is not None and v.size != size):
        want = f"length {size}" if size is not None else "1-D"
        raise ValueError(f"argument '{name}' must be a {want} array, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"argument '{name}' contains NaN or infinite values")
    return v


def collapse_sweep(sigma2s, observed, predicted, eigenvalues=None, *, width: float = 5.0):
    """Collapsed latent dimensions against the decoder variance: measured vs predicted.

    Lesson 07. ``predicted`` is ``#{j : lambda_j <= sigma^2}``; optional ``eigenvalues`` are drawn
    as vertical lines (where the count should step up).

    Parameters
    ----------
    sigma2s : array_like, shape (m,)
    observed, predicted : array_like, shape (m,)
    eigenvalues : array_like, optional
    """
    s = _vector("sigma2s", sigma2s)
    if np.any(s <= 0):
        raise ValueError("argument 'sigma2s' must be positive (a log axis is used)")
    obs = _vector("observed", observed, s.size)
    pred = _vector("predicted", predicted, s.size)
    fig, axes = figure(width=width, height=2.6)
    ax = axes[0, 0]
    if eigenvalues is not None:
        for j, lam in enumerate(_vector("eigenvalues", eigenvalues)):
            ax.axvline(lam, color="0.8", lw=1, zorder=0, label=r"eigenvalues $\lambda_j$" if j == 0
                       else None)
    ax.step(s, pred, where="post", color="C1", label=r"predicted $\#\{\lambda_j \leq \sigma^2\}$")
    ax.plot(s, obs, "o", color="C0", label="measured (KL < threshold)")
    ax.set_xscale("log")
    ax.set_xlabel(r"decoder variance $\sigma^2$")
    ax.set_ylabel("collapsed dimensions")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def kl_per_dimension_bars(
    panels: Mapping[str, Sequence[float]], *, threshold: float | None = None, width: float = 8.0
):
    """Grouped bars: the KL (nats per example) of each latent dimension, one group per setting.

    Lesson 07 (active units under beta, KL annealing, free bits). Dimensions are sorted by KL
    within each setting, largest first.

    Parameters
    ----------
    panels : mapping from label to array of shape (z_dim,)
    threshold : float, optional
        The KL above which a dimension counts as active, drawn as a dotted line.
    """
    if not panels:
        raise ValueError("argument 'panels' is empty")
    data = {k: np.sort(_vector(f"panels[{k!r}]", v))[::-1] for k, v in panels.items()}
    sizes = {v.size for v in data.values()}
    if len(sizes) != 1:
        raise ValueError(f"argument 'panels': settings differ in z_dim: {sizes}")
    (z_dim,) = sizes
    fig, axes = figure(width=width, height=2.6)
    ax = axes[0, 0]
    n = len(data)
    w = 0.8 / n
    for i, (label, kl) in enumerate(data.items()):
        ax.bar(np.arange(z_dim) + (i - (n - 1) / 2) * w, kl, width=w, label=label)
    if threshold is not None:
        if not (np.isfinite(threshold) and threshold > 0):
            raise ValueError(f"argument 'threshold' must be a positive number, got {threshold!r}")
        ax.axhline(threshold, color="k", lw=0.8, ls=":", label=f"active above {threshold:g} nats")
    ax.set_xlabel("latent dimension (sorted by KL)")
    ax.set_ylabel("KL (nats / example)")
    ax.set_xticks(np.arange(z_dim))
    ax.legend(fontsize=7, ncol=min(n, 3))
    fig.tight_layout()
    return fig


def rate_distortion(rates, distortions, betas, *, width: float = 5.0):
    """Rate (KL) against distortion (-log p(x|z)), one point per beta. Lesson 08.

    Parameters
    ----------
    rates, distortions, betas : array_like, shape (m,)
        Nats per example; the line ``rate + distortion = const`` through the beta = 1 point (when
        present) marks the models with the same ELBO (Alemi et al. 2018).
    """
    r = _vector("rates", rates)
    dist = _vector("distortions", distortions, r.size)
    b = _vector("betas", betas, r.size)
    fig, axes = figure(width=width, height=2.8)
    ax = axes[0, 0]
    ax.plot(r, dist, "o-", color="C0")
    for ri, di, bi in zip(r, dist, b, strict=True):
        ax.annotate(f"β={bi:g}", (ri, di), textcoords="offset points", xytext=(4, 3), fontsize=7)
    if np.any(b == 1.0):
        i = int(np.argmax(b == 1.0))
        total = r[i] + dist[i]
        grid = np.linspace(0, max(r.max(), total) * 1.05, 50)
        ax.plot(grid, total - grid, "--", color="0.6", lw=1, label="same ELBO as β = 1")
        ax.set_ylim(dist.min() * 0.95, dist.max() * 1.05)
        ax.legend(fontsize=7)
    ax.set_xlabel("rate: KL (nats / example)")
    ax.set_ylabel("distortion: $-\\log p(x|z)$")
    fig.tight_layout()
    return fig


def codebook_usage(counts: Mapping[str, Sequence[float]], *, width: float = 6.0):
    """How often each codebook vector is chosen, one bar series per model. Lesson 08.

    Parameters
    ----------
    counts : mapping from label to array of shape (n_codes,)
        Counts or frequencies; shown as frequencies.
    """
    if not counts:
        raise ValueError("argument 'counts' is empty")
    fig, axes = figure(width=width, height=2.4)
    ax = axes[0, 0]
    n = len(counts)
    w = 0.8 / n
    for i, (label, c) in enumerate(counts.items()):
        c = _vector(f"counts[{label!r}]", c)
        if np.any(c < 0) or c.sum() <= 0:
            raise ValueError(f"argument 'counts'[{label!r}] must be nonnegative, not all zero")
        ax.bar(np.arange(c.size) + (i - (n - 1) / 2) * w, c / c.sum(), width=w, label=label)
    ax.set_xlabel("codebook index")
    ax.set_ylabel("frequency")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def kl_per_epoch(curves: Mapping[str, Sequence[float]], *, width: float = 6.0):
    """The KL term (nats per example) after every training epoch, one line per model, log scale.

    Lesson 07 (an autoregressive decoder drives the KL towards zero; free bits or a decoder that
    sees only a few previous pixels keep it up).

    Parameters
    ----------
    curves : mapping from label to array of shape (epochs,)
        Positive KL values, e.g. ``history["test_kl"]`` from :func:`vaelearn.numpy.fit`.
    width : float, default 6.0
        Figure width in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not curves:
        raise ValueError("argument 'curves' is empty")
    data = {k: _vector(f"curves[{k!r}]", v) for k, v in curves.items()}
    for k, v in data.items():
        if v.size == 0 or np.any(v <= 0):
            raise ValueError(f"argument 'curves[{k!r}]' must be non-empty and positive (log axis)")
    fig, axes = figure(width=width, height=2.8)
    ax = axes[0, 0]
    for label, kl in data.items():
        ax.plot(np.arange(1, kl.size + 1), kl, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("KL (nats / example)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
