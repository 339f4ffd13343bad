"""Shared figure style: figures at most 8 x 3 inches, drawn at 150 dpi.

Every plotting module makes its figures with :func:`figure`, so the size limit and the
resolution live in one place. matplotlib is imported only when a figure is made.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []  # private helpers; nothing re-exported by vaelearn.plotting


def tick_label(value: float, scale=None) -> str:
    """A short tick label (two significant digits) for ``value``, with round-off shown as 0.

    ``scale`` (a number or array) sets what counts as round-off: ``|value|`` below 1e-9 times
    its largest magnitude (default 1). So the middle of a symmetric grid, computed as
    -1.4e-16, is labelled "0", not "-1.4e-16".
    """
    ref = 1.0 if scale is None else max(1.0, float(np.max(np.abs(np.asarray(scale)))))
    value = float(value)
    if abs(value) < 1e-9 * ref:
        return "0"
    return f"{value:.2g}"

DPI = 150
"""Resolution of every lesson figure (dots per inch). At 150 dpi a 4-inch figure is 600 pixels
wide, about three quarters of the book's text column, and its 8-point labels are 17 pixels high;
an 8-inch figure is scaled down to the column (and on a phone to the screen) with its text still
readable. (At 80 dpi the same figure was 320 pixels, 40% of the column.)"""

MAX_WIDTH = 8.0
MAX_HEIGHT = 3.0
"""The largest figure size a lesson may use, in inches."""

IMAGE_CMAP = "gray_r"
"""Colour map for digit images: ink dark on white paper."""

LABEL_CMAP = "tab10"
"""Colour map for ten digit classes."""


def figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width: float = 4.0,
    height: float = 3.0,
    squeeze: bool = False,
    **subplots_kw,
):
    """A new figure with a grid of axes, within the lessons' size limit.

    Parameters
    ----------
    nrows, ncols : int, default 1
    width, height : float, default 4.0, 3.0
        Inches; at most :data:`MAX_WIDTH` by :data:`MAX_HEIGHT`.
    squeeze : bool, default False
        Passed to :func:`matplotlib.pyplot.subplots`; False gives a 2-D array of axes always.
    **subplots_kw
        Passed to :func:`matplotlib.pyplot.subplots` (e.g. ``gridspec_kw``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : ndarray of Axes, shape (nrows, ncols) (or as squeezed)

    Raises
    ------
    ValueError
        If the size exceeds the limit or is not positive.
    """
    import matplotlib.pyplot as plt

    if not (0 < width <= MAX_WIDTH and 0 < height <= MAX_HEIGHT):
        raise ValueError(
            f"figure size ({width}, {height}) must be positive and within the lessons' "
            f"({MAX_WIDTH:g}, {MAX_HEIGHT:g}) inch limit"
        )
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, height), dpi=DPI, squeeze=squeeze, **subplots_kw
    )
    return fig, axes


def check_series(name: str, value, n: int | None = None) -> np.ndarray:
    """``value`` as a finite 1-D float64 array (of length ``n`` if given) for a plot.

    Raises
    ------
    ValueError
        Naming ``name``, if the shape is wrong or a value is NaN or infinite.
    """
    v = np.asarray(value, dtype=np.float64)
    if v.ndim != 1 or v.size < 1 or (n is not None and v.size != n):
        want = f"({n},)" if n is not None else "(n,) with n >= 1"
        raise ValueError(f"argument '{name}' must have shape {want}, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"argument '{name}' contains NaN or infinite values")
    return v


def tile_images(images: np.ndarray, image_shape, ncols: int, fill: float = 1.0) -> np.ndarray:
    """Arrange flat images in a grid with one-pixel gaps, as one 2-D array for ``imshow``.

    Parameters
    ----------
    images : ndarray, shape (n, h * w)
    image_shape : (h, w)
    ncols : int
        Images per row; the last row is padded with ``fill``.
    fill : float, default 1.0
        Value of the gaps and padding.

    Returns
    -------
    ndarray, shape (nrows * (h + 1) - 1, ncols * (w + 1) - 1)
    """
    h, w = (int(s) for s in image_shape)
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 2 or images.shape[1] != h * w:
        raise ValueError(
            f"argument 'images' must have shape (n, {h * w}) for images of shape ({h}, {w}), "
            f"got {images.shape}"
        )
    if ncols < 1:
        raise ValueError(f"argument 'ncols' must be >= 1, got {ncols}")
    n = images.shape[0]
    nrows = max(1, -(-n // ncols))
    out = np.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1), float(fill))
    for k, img in enumerate(images):
        i, j = divmod(k, ncols)
        out[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = img.reshape(h, w)
    return out


def image_shape_for(x_dim: int) -> tuple[int, int]:
    """The square image shape of a flat image of ``x_dim`` pixels (64 -> (8, 8), 784 -> (28, 28)).

    Raises
    ------
    ValueError
        If ``x_dim`` is not a perfect square (then pass ``image_shape`` explicitly).
    """
    side = int(round(np.sqrt(x_dim)))
    if side * side != x_dim:
        raise ValueError(
            f"images of {x_dim} pixels are not square; pass image_shape=(height, width)"
        )
    return side, side
