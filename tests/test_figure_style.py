"""Figures legible in the book: resolution, tick labels without round-off, legends off the data.

Oracles: matplotlib's own layout (bounding boxes after drawing) and the exact grid values.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vaelearn import latent, plotting  # noqa: E402
from vaelearn.plotting import _style  # noqa: E402


def test_tick_label_shows_round_off_as_zero():
    assert _style.tick_label(-1.3877787807814457e-16) == "0"
    assert _style.tick_label(1e-13, scale=[-1.6, 1.6]) == "0"
    assert _style.tick_label(-1.6448536269514722) == "-1.6"
    assert _style.tick_label(0.05) == "0.05"
    # a genuinely small value on a small scale is kept
    assert _style.tick_label(3e-7, scale=[3e-7]) == "3e-07"


def test_manifold_ticks_have_no_round_off():
    """The middle of the symmetric latent grid (computed as about -1e-16) is labelled 0."""
    n = 15
    z = latent.latent_grid(n)
    assert 0 < abs(z[n // 2, n // 2, 0]) < 1e-12  # round-off, not an exact zero
    fig = plotting.manifold_grid(np.zeros((n, n, 64)), (8, 8), z_grid=z)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert "0" in labels and not any("e-" in s for s in labels), labels


def test_figures_are_drawn_at_book_resolution():
    """A 4-inch figure is 600 px wide at 150 dpi: about three quarters of the book's column
    (measured in the desktop screenshot: about 690 px), not 40% as at 80 dpi."""
    fig, _ = _style.figure(width=4.0, height=3.0)
    assert fig.dpi == _style.DPI == 150
    w, h = fig.canvas.get_width_height()
    assert (w, h) == (600, 450)


def test_elbo_gap_legend_does_not_cover_a_bar():
    fig = plotting.elbo_gap_bars(["prior", "halfway", "posterior"],
                                 [-3.2, -2.5, -2.1], log_evidence=-2.1)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    bars = [p.get_window_extent() for p in ax.patches]
    assert bars
    overlapping = [b for b in bars if b.width > 0 and b.height > 0 and legend.overlaps(b)]
    assert not overlapping, "the legend sits on a bar"


@pytest.mark.parametrize("loc", ["lower right", "upper left"])
def test_overlap_check_can_fail(loc):
    """The bounding-box check above sees a legend drawn on the bars."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.bar([0, 1, 2], [-3.0, -3.0, -3.0], label="ELBO")
    ax.legend(loc=loc)
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert any(legend.overlaps(p.get_window_extent()) for p in ax.patches)
    plt.close(fig)
