"""Pictures for lesson 02 (autoencoders): PCA vs autoencoders and denoising; image_rows is used by
later lessons too.

Every function takes NumPy arrays draws one small figure (at
most 8 x 3 inches, 150 dpi) and returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._style import figure

__all__ = [
    "image_rows",
    "basis_images",
    "error_vs_latent_size",
    "shrinkage_plot",
]



def _figure(nrows: int = 1, ncols: int = 1, width: float = 4.0, height: float = 3.0, **kw):
    return figure(nrows, ncols, width=width, height=height, **kw)


def _images(name: str, value, image_shape) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != int(np.prod(image_shape)):
        raise ValueError(
            f"argument {name!r} must have shape (n, {int(np.prod(image_shape))}) for images of "
            f"shape {tuple(image_shape)}, got {arr.shape}"
        )
    return arr


def _tile(images: np.ndarray, image_shape, fill: float) -> np.ndarray:
    """Images side by side with a one-pixel gap: shape ``(h, n * (w + 1) - 1)``."""
    h, w = image_shape
    n = images.shape[0]
    out = np.full((h, n * (w + 1) - 1), fill)
    for i, img in enumerate(images):
        out[:, i * (w + 1) : i * (w + 1) + w] = img.reshape(h, w)
    return out


def image_rows(
    rows: Mapping[str, np.ndarray],
    image_shape=(8, 8),
    *,
    width: float = 8.0,
    vmin: float = 0.0,
    vmax: float = 1.0,
):
    """Rows of images with a label each: originals, reconstructions, noisy / denoised digits.

    Parameters
    ----------
    rows : mapping from label to ndarray of shape (n, h * w)
        Every row shows its ``n`` images (the same ``n`` for every row).
    image_shape : (int, int)
    width : float
        Figure width in inches; the height follows the number of rows (at most 3).
    vmin, vmax : float
        Grey-scale range (ink is dark); values outside are clipped for display.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not rows:
        raise ValueError("argument 'rows' is empty")
    data = {k: _images(f"rows[{k!r}]", v, image_shape) for k, v in rows.items()}
    counts = {v.shape[0] for v in data.values()}
    if len(counts) != 1:
        raise ValueError(f"argument 'rows': rows differ in their number of images: {counts}")
    n_rows = len(data)
    fig, axes = _figure(n_rows, 1, width=width, height=min(3.0, 0.2 + 0.55 * n_rows))
    for ax, (label, imgs) in zip(axes[:, 0], data.items(), strict=True):
        ax.imshow(_tile(np.clip(imgs, vmin, vmax), image_shape, vmin), cmap="gray_r",
                  vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(left=0.2, right=0.99, top=0.98, bottom=0.02, hspace=0.08)
    return fig


def basis_images(bases: Mapping[str, np.ndarray], image_shape=(8, 8), *, width: float = 8.0):
    """Basis vectors as images, one row per basis (PCA components, decoder rows, ...).

    Parameters
    ----------
    bases : mapping from label to ndarray of shape (h * w, k)
        Columns are the basis vectors; each is shown on its own symmetric colour scale
        (red positive, blue negative), so only its pattern matters, not its length.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not bases:
        raise ValueError("argument 'bases' is empty")
    data = {k: _images(f"bases[{k!r}]", np.asarray(v).T, image_shape) for k, v in bases.items()}
    scaled = {}
    for k, v in data.items():
        peak = np.max(np.abs(v), axis=1, keepdims=True)
        scaled[k] = v / np.where(peak > 0, peak, 1.0)
    n_rows = len(scaled)
    fig, axes = _figure(n_rows, 1, width=width, height=min(3.0, 0.2 + 0.6 * n_rows))
    for ax, (label, imgs) in zip(axes[:, 0], scaled.items(), strict=True):
        ax.imshow(_tile(imgs, image_shape, 0.0), cmap="RdBu_r", vmin=-1, vmax=1,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(left=0.25, right=0.99, top=0.98, bottom=0.02, hspace=0.1)
    return fig


def error_vs_latent_size(
    ks: Sequence[int],
    errors: Mapping[str, Sequence[float]],
    *,
    ylabel: str = "squared error per example",
    width: float = 5.0,
):
    """Reconstruction error against latent size, one line per method (PCA, autoencoders).

    Parameters
    ----------
    ks : sequence of int
        Latent sizes.
    errors : mapping from label to sequence of float, each ``len(ks)`` long
    """
    ks = np.asarray(ks)
    fig, axes = _figure(width=width)
    ax = axes[0, 0]
    for (label, values), marker in zip(errors.items(), "osd^v", strict=False):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != ks.shape:
            raise ValueError(
                f"argument 'errors'[{label!r}] has {values.size} values for {ks.size} sizes"
            )
        ax.plot(ks, values, marker=marker, label=label)
    ax.set_xlabel("latent size $k$")
    ax.set_ylabel(ylabel)
    ax.set_xticks(ks)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def shrinkage_plot(signal_var, learned, noise_var: float, *, width: float = 5.0):
    """The optimal linear denoiser's scale ``s^2 / (s^2 + sigma_n^2)`` and learned scales.

    Parameters
    ----------
    signal_var : array_like, shape (m,)
        Signal variances ``s_j^2`` of the coordinates.
    learned : array_like, shape (m,)
        The scale a trained linear denoising autoencoder applies to each coordinate.
    noise_var : float
        ``sigma_n^2``.
    """
    s2 = np.asarray(signal_var, dtype=np.float64)
    learned = np.asarray(learned, dtype=np.float64)
    if s2.shape != learned.shape or s2.ndim != 1:
        raise ValueError(
            f"arguments 'signal_var' and 'learned' must be 1-D of one length, got {s2.shape} "
            f"and {learned.shape}"
        )
    grid = np.geomspace(min(s2.min(), noise_var) / 4, max(s2.max(), noise_var) * 4, 200)
    fig, axes = _figure(width=width)
    ax = axes[0, 0]
    ax.semilogx(grid, grid / (grid + noise_var), color="0.3",
                label=r"$s^2/(s^2+\sigma_n^2)$")
    ax.semilogx(s2, learned, "o", color="C3", label="trained linear DAE")
    ax.axvline(noise_var, color="0.7", lw=0.8, ls=":")
    ax.set_xlabel(r"signal variance $s^2$")
    ax.set_ylabel("scale applied to $x + n$")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
