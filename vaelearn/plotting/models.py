"""Pictures of a trained model: reconstructions, sample grids, the decoded latent manifold, the
latent scatter coloured by label, and loss curves. Lessons 05-08 and ``vaelearn train``.

Every function takes NumPy arrays (e.g. from :mod:`vaelearn.latent`), draws one small figure
(at most 8 x 3 inches, 150 dpi; see :mod:`vaelearn.plotting._style`) and returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._style import IMAGE_CMAP, LABEL_CMAP, figure, image_shape_for, tick_label, tile_images

__all__ = [
    "reconstruction_grid",
    "sample_grid",
    "manifold_grid",
    "latent_scatter",
    "loss_curves",
]


def _flat_images(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"argument {name!r} must have shape (n, x_dim), got {arr.shape}")
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"argument {name!r} contains NaN or infinite values")
    return arr


def _shape(image_shape, x_dim: int) -> tuple[int, int]:
    if image_shape is None:
        return image_shape_for(x_dim)
    h, w = (int(s) for s in image_shape)
    if h * w != x_dim:
        raise ValueError(f"image_shape {image_shape} does not hold {x_dim} pixels")
    return h, w


def _gap(vmin: float, vmax: float) -> float:
    """Grey level of the one-pixel gaps between tiled images: light grey on white paper."""
    return vmin + 0.25 * (vmax - vmin)


def _show(ax, tiled: np.ndarray, vmin: float, vmax: float):
    ax.imshow(tiled, cmap=IMAGE_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def reconstruction_grid(
    x,
    x_rec,
    image_shape=None,
    *,
    n: int = 10,
    width: float = 8.0,
    vmin: float = 0.0,
    vmax: float = 1.0,
):
    """Originals (top row) above their reconstructions (bottom row).

    Parameters
    ----------
    x : ndarray, shape (n_images, x_dim)
        Inputs.
    x_rec : ndarray, shape (n_images, x_dim)
        Reconstructions, e.g. ``model.reconstruct(x)`` (the decoded mean of ``mu(x)``).
    image_shape : (h, w), optional
        Default: square (``x_dim`` = 64 gives 8x8, 784 gives 28x28).
    n : int, default 10
        Number of images shown (the first ``n``).
    width : float, default 8.0
        Figure width in inches.
    vmin, vmax : float, default 0, 1
        Grey-level range.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes, one image each.
    """
    x, x_rec = _flat_images("x", x), _flat_images("x_rec", x_rec)
    if x.shape != x_rec.shape:
        raise ValueError(f"x has shape {x.shape} but x_rec has shape {x_rec.shape}")
    shape = _shape(image_shape, x.shape[1])
    n = min(int(n), x.shape[0])
    if n < 1:
        raise ValueError("no images to show (n < 1 or x is empty)")
    height = min(3.0, 0.3 + 2 * width / n * shape[0] / shape[1])
    fig, axes = figure(2, 1, width=width, height=height)
    for ax, arr, label in ((axes[0, 0], x, "data"), (axes[1, 0], x_rec, "reconstruction")):
        _show(ax, tile_images(arr[:n], shape, n, fill=_gap(vmin, vmax)), vmin, vmax)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout(pad=0.2)
    return fig


def sample_grid(
    samples,
    image_shape=None,
    *,
    ncols: int = 10,
    width: float = 4.0,
    title: str | None = None,
    vmin: float = 0.0,
    vmax: float = 1.0,
):
    """Images in a grid, e.g. decoded prior samples from :func:`vaelearn.latent.sample_prior`.

    Parameters
    ----------
    samples : ndarray, shape (n, x_dim)
    image_shape : (h, w), optional
    ncols : int, default 10
        Images per row.
    width : float, default 4.0
        Figure width in inches (height follows, at most 3).
    title : str, optional
    vmin, vmax : float, default 0, 1

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one image.
    """
    samples = _flat_images("samples", samples)
    if samples.shape[0] < 1:
        raise ValueError("argument 'samples' holds no images")
    shape = _shape(image_shape, samples.shape[1])
    ncols = max(1, min(int(ncols), samples.shape[0]))
    tiled = tile_images(samples, shape, ncols, fill=_gap(vmin, vmax))
    height = min(3.0, 0.4 + width * tiled.shape[0] / tiled.shape[1])
    fig, axes = figure(width=width, height=height)
    ax = axes[0, 0]
    _show(ax, tiled, vmin, vmax)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout(pad=0.2)
    return fig


def manifold_grid(
    grid_images,
    image_shape=None,
    *,
    z_grid=None,
    width: float = 3.0,
    vmin: float = 0.0,
    vmax: float = 1.0,
):
    """The decoded latent grid from :func:`vaelearn.latent.decode_grid` as one picture.

    Parameters
    ----------
    grid_images : ndarray, shape (n, n, x_dim)
        ``grid_images[i, j]`` drawn in row ``i`` (from the top), column ``j``.
    image_shape : (h, w), optional
    z_grid : ndarray, shape (n, n, 2), optional
        The latent points (:func:`vaelearn.latent.latent_grid`); when given, the axes are
        labelled with ``z_1`` and ``z_2`` over their range.
    width : float, default 3.0
        Figure width (and height, at most 3) in inches.
    vmin, vmax : float, default 0, 1

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one image.
    """
    g = np.asarray(grid_images, dtype=np.float64)
    if g.ndim != 3:
        raise ValueError(f"argument 'grid_images' must have shape (n, m, x_dim), got {g.shape}")
    rows, cols, x_dim = g.shape
    shape = _shape(image_shape, x_dim)
    tiled = tile_images(g.reshape(rows * cols, x_dim), shape, cols, fill=_gap(vmin, vmax))
    if z_grid is not None:
        zg = np.asarray(z_grid, dtype=np.float64)
        if zg.shape != (rows, cols, 2):
            raise ValueError(
                f"argument 'z_grid' must have shape ({rows}, {cols}, 2), got {zg.shape}"
            )
    fig, axes = figure(width=width, height=min(3.0, width))
    ax = axes[0, 0]
    _show(ax, tiled, vmin, vmax)
    if z_grid is not None:
        # ticks at the centres of the first, middle and last cells, labelled with their z
        h, w = shape
        cols_at = sorted({0, cols // 2, cols - 1})
        rows_at = sorted({0, rows // 2, rows - 1})
        ax.set_xticks([j * (w + 1) + (w - 1) / 2 for j in cols_at])
        ax.set_xticklabels([tick_label(zg[0, j, 0], zg) for j in cols_at], fontsize=7)
        ax.set_yticks([i * (h + 1) + (h - 1) / 2 for i in rows_at])
        ax.set_yticklabels([tick_label(zg[i, 0, 1], zg) for i in rows_at], fontsize=7)
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
    fig.tight_layout(pad=0.2)
    return fig


def latent_scatter(
    z,
    labels=None,
    *,
    dims: Sequence[int] = (0, 1),
    width: float = 4.0,
    height: float = 3.0,
    s: float = 4.0,
    title: str | None = None,
):
    """Scatter of latent codes (e.g. :func:`vaelearn.latent.encode_dataset`), coloured by label.

    Parameters
    ----------
    z : ndarray, shape (n, z_dim)
        z_dim >= 2; coordinates ``dims`` are drawn.
    labels : ndarray of int, shape (n,), optional
        Class of each point (digits 0-9); adds a colour bar.
    dims : pair of int, default (0, 1)
    width, height : float, default 4.0, 3.0
    s : float, default 4.0
        Marker size.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes (two with ``labels``: the scatter and its colour bar).
    """
    z = _flat_images("z", z)
    d0, d1 = (int(d) for d in dims)
    if z.shape[1] < 2 or not (0 <= d0 < z.shape[1] and 0 <= d1 < z.shape[1]) or d0 == d1:
        raise ValueError(
            f"argument 'dims' {tuple(dims)} must be two distinct columns of z {z.shape}"
        )
    fig, axes = figure(width=width, height=height)
    ax = axes[0, 0]
    if labels is None:
        ax.scatter(z[:, d0], z[:, d1], s=s, color="C0", linewidths=0)
    else:
        labels = np.asarray(labels)
        if labels.shape != (z.shape[0],):
            raise ValueError(
                f"argument 'labels' must have shape ({z.shape[0]},), got {labels.shape}"
            )
        k = int(labels.max()) + 1 if labels.size else 1
        sc = ax.scatter(
            z[:, d0],
            z[:, d1],
            c=labels,
            s=s,
            cmap=LABEL_CMAP,
            vmin=-0.5,
            vmax=max(k, 10) - 0.5,
            linewidths=0,
        )
        cbar = fig.colorbar(sc, ax=ax, ticks=range(max(k, 10)), pad=0.02)
        cbar.ax.tick_params(labelsize=7)
    ax.set_xlabel(f"$z_{d0 + 1}$")
    ax.set_ylabel(f"$z_{d1 + 1}$")
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def loss_curves(
    history: Mapping[str, Sequence[float]],
    *,
    terms: bool | None = None,
    width: float = 6.0,
    height: float = 2.6,
    logy: bool = False,
):
    """Training and test loss per epoch from a ``fit`` history (nats per example).

    Parameters
    ----------
    history : dict of lists
        As returned by ``B.fit``: ``train_loss`` and optionally ``test_loss``, ``epoch``,
        ``train_rec``/``train_kl`` (and ``test_rec``/``test_kl``).
    terms : bool, optional
        Add a second panel with the two terms of the negative ELBO, -log p(x|z) and KL.
        Default: when the history has them.
    width, height : float, default 6.0, 2.6
    logy : bool, default False
        Logarithmic loss axis.

    Returns
    -------
    matplotlib.figure.Figure
        One axes, or two with ``terms``.
    """
    if "train_loss" not in history:
        raise ValueError("argument 'history' has no 'train_loss' (expected a fit() history)")
    train = np.asarray(history["train_loss"], dtype=np.float64)
    if train.ndim != 1 or train.size < 1:
        raise ValueError("history['train_loss'] must be a non-empty list of numbers")
    epoch = np.asarray(history.get("epoch", np.arange(1, train.size + 1)), dtype=np.float64)
    if epoch.shape != train.shape:
        raise ValueError(f"history['epoch'] has {epoch.size} entries, train_loss {train.size}")
    has_terms = "train_rec" in history and "train_kl" in history
    if terms is None:
        terms = has_terms
    if terms and not has_terms:
        raise ValueError("terms=True needs 'train_rec' and 'train_kl' in the history")

    def series(key):
        v = np.asarray(history[key], dtype=np.float64)
        if v.shape != train.shape:
            raise ValueError(f"history[{key!r}] has {v.size} entries, train_loss {train.size}")
        return v

    fig, axes = figure(1, 2 if terms else 1, width=width, height=height)
    ax = axes[0, 0]
    marker = "o" if train.size <= 20 else None
    ax.plot(epoch, train, marker=marker, ms=3, label="train")
    if "test_loss" in history:
        ax.plot(epoch, series("test_loss"), marker=marker, ms=3, label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (nats per example)")
    ax.legend(fontsize=8)
    if logy:
        ax.set_yscale("log")
    if terms:
        ax2 = axes[0, 1]
        ax2.plot(epoch, series("train_rec"), marker=marker, ms=3, label="-log p(x|z), train")
        ax2.plot(epoch, series("train_kl"), marker=marker, ms=3, label="KL, train")
        if "test_rec" in history and "test_kl" in history:
            ax2.plot(epoch, series("test_rec"), "--", color="C0", label="-log p(x|z), test")
            ax2.plot(epoch, series("test_kl"), "--", color="C1", label="KL, test")
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("nats per example")
        ax2.legend(fontsize=7)
    fig.tight_layout(pad=0.3)
    return fig
