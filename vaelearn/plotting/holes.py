"""Pictures for lesson 03 (holes in the latent space): latent codes side by side, maps of where
decoded points are far from the data, and histograms of those distances.

Every function takes NumPy arrays (or :mod:`vaelearn.holes` results), draws one small figure (at
most 8 x 3 inches, 150 dpi) and returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._style import figure

__all__ = ["latent_panels", "hole_maps", "distance_histograms", "decoder_jump_maps"]


def _figure(nrows: int = 1, ncols: int = 1, width: float = 4.0, height: float = 3.0, **kw):
    return figure(nrows, ncols, width=width, height=height, **kw)


def _scatter_codes(ax, codes, labels):
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes must have shape (n, 2), got {codes.shape}")
    sc = ax.scatter(codes[:, 0], codes[:, 1], c=np.asarray(labels), cmap="tab10", vmin=-0.5,
                    vmax=9.5, s=3, linewidths=0)
    return sc


def latent_panels(panels: Sequence[tuple], *, width: float = 8.0):
    """2-D codes coloured by label, optionally with sampled points, one panel per model.

    Parameters
    ----------
    panels : sequence of (title, codes, labels) or (title, codes, labels, samples)
        ``codes`` of shape ``(n, 2)``, integer ``labels`` of shape ``(n,)``, ``samples`` of shape
        ``(m, 2)`` drawn as black crosses.
    """
    fig, axes = _figure(1, len(panels), width=width)
    sc = None
    for ax, panel in zip(axes[0], panels, strict=True):
        title, codes, labels, *rest = panel
        sc = _scatter_codes(ax, codes, labels)
        if rest and rest[0] is not None:
            s = np.asarray(rest[0], dtype=np.float64)
            ax.scatter(s[:, 0], s[:, 1], marker="x", s=6, color="k", linewidths=0.6)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
    cb = fig.colorbar(sc, ax=list(axes[0]), ticks=range(10), fraction=0.03)
    cb.set_label("digit", fontsize=8)
    return fig


def hole_maps(panels: Sequence[tuple], *, far_threshold: float = 2.0, vmax: float = 6.0,
              width: float = 8.0):
    """Hole maps side by side: distance to the nearest training code, with the codes on top.

    Dark background is far from every code (in code spacings, clipped at ``vmax``); the white
    contour is ``far_threshold``, the boundary of what :func:`vaelearn.holes.measure_holes`
    counts as a hole.

    Parameters
    ----------
    panels : sequence of (title, HoleMap, codes, labels)
        ``HoleMap`` from :func:`vaelearn.holes.hole_map`.
    """
    fig, axes = _figure(1, len(panels), width=width)
    im = None
    for ax, (title, hm, codes, labels) in zip(axes[0], panels, strict=True):
        im = ax.imshow(np.clip(hm.distance, 0, vmax), origin="lower", extent=hm.extent,
                       aspect="auto", cmap="Greys", vmin=0, vmax=vmax)
        ax.contour(hm.z1, hm.z2, hm.distance, levels=[far_threshold], colors="w",
                   linewidths=0.8)
        _scatter_codes(ax, codes, labels)
        ax.set_xlim(hm.z1[0], hm.z1[-1])
        ax.set_ylim(hm.z2[0], hm.z2[-1])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
    cb = fig.colorbar(im, ax=list(axes[0]), fraction=0.03)
    cb.set_label("distance / code spacing", fontsize=8)
    return fig


def distance_histograms(reports: Mapping[str, object], *, far_threshold: float = 2.0,
                        width: float = 5.0):
    """Histograms of the distance from samples to the nearest training code, one per sampler.

    Parameters
    ----------
    reports : mapping from label to :class:`vaelearn.holes.HoleReport`
    """
    fig, axes = _figure(width=width)
    ax = axes[0, 0]
    top = max(float(np.quantile(r.distance, 0.99)) for r in reports.values())
    bins = np.linspace(0, max(top, far_threshold * 1.5), 40)
    for label, rep in reports.items():
        ax.hist(rep.distance, bins=bins, histtype="step", density=True, label=label)
    ax.axvline(far_threshold, color="0.4", ls=":", lw=1)
    ax.set_xlabel("distance to nearest training code / code spacing")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def decoder_jump_maps(panels: Sequence[tuple], *, far_threshold: float = 2.0,
                      width: float = 8.0):
    """Where the decoder jumps, beside where the codes are: one panel per model.

    The background is the decoder's jump over one step, :func:`vaelearn.holes.decoder_jump`,
    divided by the codes' Tukey fence and shown on a log scale (bright: the decoder changes
    abruptly); the red contour is the fence (jump = fence: inside it a sample is flagged by
    :func:`vaelearn.holes.decoder_holes`); the white contour is ``far_threshold`` code spacings
    from the nearest code, the boundary of the distance measure's holes.

    Parameters
    ----------
    panels : sequence of (title, HoleMap, jump, fence, codes, labels)
        ``HoleMap`` from :func:`vaelearn.holes.hole_map` gives the grid and the distances;
        ``jump`` has the map's shape ``(n, n)``; ``fence`` in nats, ``> 0``.
    """
    fig, axes = _figure(1, len(panels), width=width)
    im = None
    for ax, (title, hm, jump, fence, codes, labels) in zip(axes[0], panels, strict=True):
        jump = np.asarray(jump, dtype=np.float64)
        if jump.shape != hm.distance.shape:
            raise ValueError(
                f"jump must have the map's shape {hm.distance.shape}, got {jump.shape}"
            )
        if not fence > 0:
            raise ValueError(f"fence must be positive, got {fence!r}")
        ratio = np.log10(np.clip(jump / fence, 1e-3, 1e2))
        im = ax.imshow(ratio, origin="lower", extent=hm.extent, aspect="auto", cmap="magma",
                       vmin=-3, vmax=2)
        ax.contour(hm.z1, hm.z2, ratio, levels=[0.0], colors="r", linewidths=0.8)
        ax.contour(hm.z1, hm.z2, hm.distance, levels=[far_threshold], colors="w",
                   linewidths=0.8)
        ax.scatter(np.asarray(codes)[:, 0], np.asarray(codes)[:, 1], c=np.asarray(labels),
                   cmap="tab10", vmin=-0.5, vmax=9.5, s=1, linewidths=0, alpha=0.5)
        ax.set_xlim(hm.z1[0], hm.z1[-1])
        ax.set_ylim(hm.z2[0], hm.z2[-1])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
    cb = fig.colorbar(im, ax=list(axes[0]), fraction=0.03)
    cb.set_label("log$_{10}$(jump / fence)", fontsize=8)
    return fig
