"""Pictures for lesson 08's disentanglement section: latent traversals and the mutual information
gap against beta.

Every function takes NumPy arrays, draws one small figure (at most 8 x 3 inches, 150 dpi) with
:func:`vaelearn.plotting._style.figure` and returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._style import IMAGE_CMAP, check_series, figure, image_shape_for, tile_images

__all__ = ["traversal_grid", "mig_vs_beta"]


def traversal_grid(
    panels: Mapping[str, np.ndarray],
    image_shape=None,
    *,
    row_labels: Sequence[str] | None = None,
    width: float = 8.0,
    vmin: float = 0.0,
    vmax: float = 1.0,
):
    """Latent traversals side by side: one panel per model, one row per latent coordinate.

    Row ``r`` of a panel shows the decoded images as latent ``r`` alone sweeps its values
    (:func:`vaelearn.latent.traverse`), from left to right.

    Parameters
    ----------
    panels : mapping from title to ndarray of shape (n_rows, n_values, x_dim)
        All panels of the same shape.
    image_shape : (h, w), optional
        Default: square images.
    row_labels : sequence of str, optional
        One label per row (e.g. ``"z1"``), written left of the first panel.
    width : float, default 8.0
        Figure width in inches (the height follows, at most 3).
    vmin, vmax : float, default 0, 1
        Grey-level range (ink dark on white paper).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per panel.

    Raises
    ------
    ValueError
        If ``panels`` is empty, a panel is not a finite 3-D array, or the shapes differ.
    """
    if not panels:
        raise ValueError("argument 'panels' is empty")
    arrays = {}
    for title, value in panels.items():
        a = np.asarray(value, dtype=np.float64)
        if a.ndim != 3 or not np.all(np.isfinite(a)):
            raise ValueError(
                f"argument 'panels[{title!r}]' must be a finite array of shape "
                f"(n_rows, n_values, x_dim), got shape {a.shape}"
            )
        arrays[title] = a
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        raise ValueError(f"argument 'panels': the panels differ in shape: {sorted(shapes)}")
    ((rows, cols, x_dim),) = shapes
    if image_shape is None:
        h, w = image_shape_for(x_dim)
    else:
        h, w = (int(s) for s in image_shape)
        if h * w != x_dim:
            raise ValueError(f"image_shape {image_shape} does not hold {x_dim} pixels")
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"argument 'row_labels' must have {rows} labels, got {len(row_labels)}")
    gap = vmin + 0.25 * (vmax - vmin)
    n = len(arrays)
    aspect = (rows * (h + 1)) / (n * cols * (w + 1))
    fig, axes = figure(1, n, width=width, height=min(3.0, max(1.0, 1.15 * width * aspect)))
    for i, (title, a) in enumerate(arrays.items()):
        ax = axes[0, i]
        ax.imshow(tile_images(a.reshape(rows * cols, x_dim), (h, w), cols, fill=gap),
                  cmap=IMAGE_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_xticks([])
        ax.set_title(title, fontsize=8)
        if i == 0 and row_labels is not None:
            ax.set_yticks([r * (h + 1) + (h - 1) / 2 for r in range(rows)])
            ax.set_yticklabels(list(row_labels), fontsize=7)
        else:
            ax.set_yticks([])
    fig.tight_layout(pad=0.3)
    return fig


def mig_vs_beta(betas, migs, *, labels: Sequence[str] | None = None, width: float = 4.0):
    """The mutual information gap of trained models against beta, one line per seed.

    Parameters
    ----------
    betas : array_like, shape (m,)
        Positive (a log axis is used).
    migs : array_like, shape (m,) or (n_runs, m)
        MIG per beta (:func:`vaelearn.disentanglement.mig`), one row per training seed.
    labels : sequence of str, optional
        One legend entry per row of ``migs``.
    width : float, default 4.0

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the shapes disagree, a value is not finite, a beta is not positive or a MIG lies
        outside ``[0, 1]``.
    """
    b = check_series("betas", betas)
    if np.any(b <= 0):
        raise ValueError("argument 'betas' must be positive (a log axis is used)")
    m = np.atleast_2d(np.asarray(migs, dtype=np.float64))
    if m.ndim != 2 or m.shape[1] != b.size:
        raise ValueError(
            f"argument 'migs' must have shape ({b.size},) or (n_runs, {b.size}), "
            f"got {np.shape(migs)}"
        )
    if not np.all(np.isfinite(m)) or np.any(m < 0) or np.any(m > 1):
        raise ValueError("argument 'migs' must hold finite values in [0, 1]")
    if labels is not None and len(labels) != m.shape[0]:
        raise ValueError(f"argument 'labels' must have {m.shape[0]} entries, got {len(labels)}")
    fig, axes = figure(width=width, height=2.6)
    ax = axes[0, 0]
    for r, row in enumerate(m):
        ax.plot(b, row, "o-", label=None if labels is None else labels[r])
    ax.set_xscale("log")
    ax.set_xticks(b)
    ax.set_xticklabels([f"{v:g}" for v in b])
    ax.minorticks_off()
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel("MIG")
    if labels is not None:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
