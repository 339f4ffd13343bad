"""vaelearn.plotting.models and _style: every helper returns a small Figure with the expected
axes and images, and rejects bad input. The tiled image is compared with a grid built by hand."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vaelearn import plotting  # noqa: E402
from vaelearn.plotting import _style  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _small(fig):
    w, h = fig.get_size_inches()
    assert isinstance(fig, Figure)
    assert w <= 8 and h <= 3 and fig.dpi == 150


def _images(fig):
    return [im for ax in fig.axes for im in ax.images]


RNG = np.random.default_rng(0)
X = RNG.random((12, 64))


def test_figure_limits():
    fig, axes = _style.figure(2, 3, width=8, height=3)
    assert axes.shape == (2, 3)
    _small(fig)
    with pytest.raises(ValueError, match="limit"):
        _style.figure(width=9)
    with pytest.raises(ValueError, match="limit"):
        _style.figure(height=0)


def test_tile_images_by_hand():
    imgs = np.arange(3 * 4).reshape(3, 4).astype(float)  # three 2x2 images: 0-3, 4-7, 8-11
    out = _style.tile_images(imgs, (2, 2), ncols=2, fill=-1)
    expected = np.array(
        [
            [0, 1, -1, 4, 5],
            [2, 3, -1, 6, 7],
            [-1, -1, -1, -1, -1],
            [8, 9, -1, -1, -1],
            [10, 11, -1, -1, -1],
        ],
        dtype=float,
    )
    assert np.array_equal(out, expected)
    with pytest.raises(ValueError, match="images"):
        _style.tile_images(imgs, (3, 3), ncols=2)


def test_image_shape_for():
    assert _style.image_shape_for(64) == (8, 8) and _style.image_shape_for(784) == (28, 28)
    with pytest.raises(ValueError, match="not square"):
        _style.image_shape_for(10)


def test_reconstruction_grid():
    fig = plotting.reconstruction_grid(X, 1 - X, n=5)
    _small(fig)
    assert len(fig.axes) == 2
    ims = _images(fig)
    assert len(ims) == 2
    top = ims[0].get_array()
    assert top.shape == (8, 5 * 9 - 1)
    assert np.array_equal(top[:, :8], X[0].reshape(8, 8))  # first original, top-left
    assert np.array_equal(ims[1].get_array()[:, 9:17], (1 - X[1]).reshape(8, 8))
    with pytest.raises(ValueError, match="x_rec"):
        plotting.reconstruction_grid(X, X[:3])
    with pytest.raises(ValueError, match="NaN"):
        plotting.reconstruction_grid(X, np.full_like(X, np.nan))


def test_sample_grid():
    fig = plotting.sample_grid(X[:10], ncols=4, title="samples")
    _small(fig)
    assert len(fig.axes) == 1 and len(_images(fig)) == 1
    assert _images(fig)[0].get_array().shape == (3 * 9 - 1, 4 * 9 - 1)
    fig = plotting.sample_grid(RNG.random((6, 784)), ncols=3)
    assert _images(fig)[0].get_array().shape == (2 * 29 - 1, 3 * 29 - 1)
    with pytest.raises(ValueError, match="image_shape"):
        plotting.sample_grid(X, image_shape=(4, 4))


def test_manifold_grid():
    grid = RNG.random((5, 5, 64))
    fig = plotting.manifold_grid(grid)
    _small(fig)
    assert len(fig.axes) == 1 and len(_images(fig)) == 1
    tiled = _images(fig)[0].get_array()
    assert tiled.shape == (5 * 9 - 1, 5 * 9 - 1)
    assert np.array_equal(tiled[9:17, 18:26], grid[1, 2].reshape(8, 8))  # row 1, column 2
    from vaelearn.latent import latent_grid

    fig = plotting.manifold_grid(grid, z_grid=latent_grid(5))
    assert fig.axes[0].get_xlabel() == "$z_1$"
    with pytest.raises(ValueError, match="z_grid"):
        plotting.manifold_grid(grid, z_grid=latent_grid(4))


def test_latent_scatter():
    z = RNG.standard_normal((40, 3))
    labels = np.arange(40) % 10
    fig = plotting.latent_scatter(z, labels, dims=(0, 2))
    _small(fig)
    assert len(fig.axes) == 2  # scatter and colour bar
    offsets = fig.axes[0].collections[0].get_offsets()
    assert np.allclose(offsets, z[:, [0, 2]])
    assert np.array_equal(fig.axes[0].collections[0].get_array(), labels)
    assert len(plotting.latent_scatter(z).axes) == 1
    with pytest.raises(ValueError, match="labels"):
        plotting.latent_scatter(z, labels[:5])
    with pytest.raises(ValueError, match="dims"):
        plotting.latent_scatter(z, dims=(0, 3))


def test_loss_curves():
    h = {"epoch": [1, 2, 3], "train_loss": [5.0, 4.0, 3.5], "test_loss": [5.5, 4.5, 4.0]}
    fig = plotting.loss_curves(h)
    _small(fig)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
    assert np.array_equal(fig.axes[0].lines[1].get_ydata(), h["test_loss"])
    assert "nats" in fig.axes[0].get_ylabel()
    h.update(train_rec=[4.0, 3.0, 2.5], train_kl=[1.0, 1.0, 1.0])
    fig = plotting.loss_curves(h)
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 2
    assert len(plotting.loss_curves(h, terms=False).axes) == 1
    with pytest.raises(ValueError, match="train_loss"):
        plotting.loss_curves({"test_loss": [1.0]})
    with pytest.raises(ValueError, match="test_loss"):
        plotting.loss_curves({"train_loss": [1.0, 2.0], "test_loss": [1.0]})


def test_exported_from_package():
    for name in ("reconstruction_grid", "sample_grid", "manifold_grid", "latent_scatter",
                 "loss_curves"):
        assert name in plotting.__all__ and callable(getattr(plotting, name))


def test_elbo_gap_bars_read_the_elbo_and_the_gap():
    # Lesson 04's chart: with negative ELBOs a bar from 0 would hide the ELBO under the gap, so
    # every guide looked the same. Each blue bar must end at its own ELBO, start at one common
    # floor below all of them, and the orange gap must span exactly [ELBO, log p(x)].
    elbos, log_px = np.array([-1.9189385, -1.5155121, -3.2]), -1.5155121
    fig = plotting.elbo_gap_bars(["a", "b", "c"], elbos, log_px)
    ax = fig.axes[0]
    blue, orange = ax.containers[0], ax.containers[1]
    bottoms = [r.get_y() for r in blue]
    tops = [r.get_y() + r.get_height() for r in blue]
    assert np.allclose(tops, elbos, atol=1e-12)
    assert np.ptp(bottoms) == 0 and bottoms[0] < elbos.min()
    assert np.allclose([r.get_y() for r in orange], elbos, atol=1e-12)
    assert np.allclose([r.get_y() + r.get_height() for r in orange], log_px, atol=1e-12)
    lo, hi = ax.get_ylim()
    assert lo <= bottoms[0] and hi > log_px
    # the drawn heights differ as the ELBOs do (the regression: all blue bars looked alike)
    assert np.allclose(np.diff([r.get_height() for r in blue]), np.diff(elbos), atol=1e-12)
    with pytest.raises(ValueError, match="lower bound"):
        plotting.elbo_gap_bars(["a"], [0.5], 0.0)


def test_kl_per_dimension_bars_sorted_heights_and_threshold():
    # Lesson 07 reads active units off these bars against the dotted 0.1-nat line.
    kl = {"a": [0.02, 1.2, 0.3], "b": [0.0, 0.05, 0.9]}
    fig = plotting.kl_per_dimension_bars(kl, threshold=0.1)
    ax = fig.axes[0]
    for container, values in zip(ax.containers, kl.values(), strict=True):
        assert np.allclose([r.get_height() for r in container], sorted(values, reverse=True))
    (line,) = ax.get_lines()
    assert np.allclose(line.get_ydata(), 0.1)
    with pytest.raises(ValueError, match="threshold"):
        plotting.kl_per_dimension_bars(kl, threshold=-1.0)
