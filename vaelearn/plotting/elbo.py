"""Pictures for lesson 04 (variational inference and the ELBO): posteriors and guides, the ELBO gap,
the cost of exact inference, a Metropolis chain, ELBO ascent, EM's bound climbing to the
log-evidence and SGLD samples over the exact posterior.

Every function takes NumPy arrays (or :mod:`vaelearn.elbo` objects), draws one small figure
(within the size policy of :mod:`vaelearn.plotting._style`) and returns it.
"""

from __future__ import annotations

import math

import numpy as np

from ._style import figure

__all__ = [
    "posterior_and_guide",
    "elbo_gap_bars",
    "quadrature_cost_plot",
    "mcmc_trace",
    "elbo_ascent",
    "em_bound_climb",
    "sgld_histograms",
]

def _figure(ncols: int = 1, width: float = 4.0, height: float = 3.0):
    fig, axes = figure(1, ncols, width=width, height=height)
    return fig, list(axes[0])


def _normal_pdf(z, mean, var):
    return np.exp(-0.5 * (z - mean) ** 2 / var) / math.sqrt(2 * math.pi * var)


def posterior_and_guide(model, x: float, guides=(), z=None, width: float = 5.0):
    """Prior ``p(z)``, likelihood ``p(x | z)`` (as a function of ``z``), posterior ``p(z | x)``
    and Gaussian guides ``q`` of a :class:`vaelearn.elbo.LinearGaussian`. Lesson 04.

    Parameters
    ----------
    model : vaelearn.elbo.LinearGaussian
    x : float
        The observation.
    guides : sequence of (q_mean, q_var) or (q_mean, q_var, label)
        Guides to draw dashed.
    z : ndarray, optional
        Grid of ``z`` values (default: 400 points over ``[-4, 4]`` around the data).
    width : float
        Figure width in inches (height 3).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if z is None:
        z = np.linspace(min(-4.0, x - 3.0), max(4.0, x + 3.0), 400)
    z = np.asarray(z, dtype=float)
    fig, (ax,) = _figure(1, width, 3.0)
    ax.plot(z, np.exp(model.log_prior(z)), label="prior $p(z)$", color="0.5")
    ax.plot(z, np.exp(model.log_likelihood(x, z)), label=f"likelihood $p(x={x:g}\\mid z)$",
            color="tab:green")
    ax.plot(z, np.exp(model.log_posterior(z, x)), label="posterior $p(z\\mid x)$", color="tab:blue",
            lw=2)
    for i, g in enumerate(guides):
        q_mean, q_var = g[0], g[1]
        label = g[2] if len(g) > 2 else f"$q = N({q_mean:g}, {q_var:g})$"
        ax.plot(z, _normal_pdf(z, q_mean, q_var), ls="--", label=label, color=f"C{3 + i}")
    ax.set_xlabel("$z$")
    ax.set_ylabel("density")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def elbo_gap_bars(labels, elbos, log_evidence: float, width: float = 5.0):
    """Stacked bars: each guide's ELBO plus its gap ``KL(q || p(z|x))`` reach ``log p(x)``.

    Parameters
    ----------
    labels : sequence of str
        One label per guide.
    elbos : array_like, shape (n_guides,)
        ELBO of each guide (nats).
    log_evidence : float
        ``log p(x)`` (nats), drawn as a horizontal line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    elbos = np.asarray(elbos, dtype=float)
    if len(labels) != elbos.size:
        raise ValueError(f"arguments 'labels' ({len(labels)}) and 'elbos' ({elbos.size}) differ")
    log_evidence = float(log_evidence)
    if not np.all(np.isfinite(elbos)) or not np.isfinite(log_evidence):
        raise ValueError("arguments 'elbos' and 'log_evidence' must be finite")
    if np.any(elbos > log_evidence + 1e-9 * max(1.0, abs(log_evidence))):
        raise ValueError("argument 'elbos': an ELBO above 'log_evidence' is not a lower bound")
    gaps = log_evidence - elbos
    # ELBOs are usually negative: a bar from 0 down to the ELBO would hide its value behind the
    # gap drawn on top of it. Every blue bar starts at one common floor below the lowest ELBO and
    # ends at its ELBO; the orange gap continues from there up to log p(x), so bar heights differ
    # exactly as the ELBOs do and the axis reads the ELBO at the blue bar's top.
    span = max(float(gaps.max()), 1e-12)
    floor = float(elbos.min()) - 0.25 * span
    fig, (ax,) = _figure(1, width, 3.0)
    pos = np.arange(elbos.size)
    ax.bar(pos, elbos - floor, bottom=floor, color="tab:blue", label="ELBO")
    ax.bar(pos, gaps, bottom=elbos, color="tab:orange", label="gap = KL$(q\\|p(z|x))$")
    ax.axhline(log_evidence, color="k", lw=1, ls=":", label="$\\log p(x)$")
    ax.set_ylim(floor, log_evidence + 0.1 * span)
    ax.set_xticks(pos, labels, fontsize=7)
    ax.set_ylabel("nats")
    # beside the axes, not on them: inside, the legend covered a bar
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0.0)
    fig.tight_layout()
    return fig


def quadrature_cost_plot(rows, extrapolate_to: int = 20, width: float = 5.0):
    """Evaluations needed by grid quadrature versus latent dimension ``d`` (log scale).

    Parameters
    ----------
    rows : list of dict
        Output of :func:`vaelearn.elbo.quadrature_cost` (keys ``d`` and ``n_evals``).
    extrapolate_to : int
        Continue the line ``n ** d`` (dotted) up to this dimension.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not rows:
        raise ValueError("argument 'rows' is empty")
    d = np.array([r["d"] for r in rows])
    evals = np.array([r["n_evals"] for r in rows], dtype=float)
    n = round(evals[0] ** (1.0 / d[0]))
    fig, (ax,) = _figure(1, width, 3.0)
    d_all = np.arange(1, extrapolate_to + 1)
    ax.semilogy(d_all, float(n) ** d_all, ls=":", color="0.5", label=f"${n}^d$")
    ax.semilogy(d, evals, "o", color="tab:blue", label="measured")
    ax.set_xlabel("latent dimension $d$")
    ax.set_ylabel("likelihood evaluations")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def mcmc_trace(chain, rho, target_mean: float | None = None, width: float = 7.0):
    """A Metropolis chain (left) and its autocorrelation ``rho_k`` (right). Lesson 04.

    Parameters
    ----------
    chain : array_like, shape (n_steps,)
    rho : array_like, shape (max_lag + 1,)
        Output of :func:`vaelearn.elbo.autocorrelation`.
    target_mean : float, optional
        Exact posterior mean, drawn as a line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    chain, rho = np.asarray(chain, dtype=float), np.asarray(rho, dtype=float)
    fig, (ax1, ax2) = _figure(2, width, 2.6)
    ax1.plot(chain, lw=0.6, color="tab:blue")
    if target_mean is not None:
        ax1.axhline(target_mean, color="k", ls=":", lw=1)
    ax1.set_xlabel("step")
    ax1.set_ylabel("$z$")
    ax2.bar(np.arange(rho.size), rho, color="tab:orange", width=0.8)
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_xlabel("lag $k$")
    ax2.set_ylabel("autocorrelation $\\rho_k$")
    fig.tight_layout()
    return fig


def elbo_ascent(history, log_evidence: float, posterior=None, width: float = 7.0):
    """Gradient ascent of the ELBO: the ELBO per step (left), the guide's path (right).

    Parameters
    ----------
    history : dict
        Output of :func:`vaelearn.elbo.fit_gaussian_q` (``q_mean``, ``q_logvar``, ``elbo``).
    log_evidence : float
        ``log p(x)``, the ceiling the ELBO climbs to.
    posterior : (mean, var), optional
        The exact posterior, marked with a star on the right.

    Returns
    -------
    matplotlib.figure.Figure
    """
    elbo = np.asarray(history["elbo"], dtype=float)
    fig, (ax1, ax2) = _figure(2, width, 2.8)
    ax1.plot(elbo, color="tab:blue", label="ELBO$(q_t)$")
    ax1.axhline(log_evidence, color="k", ls=":", lw=1, label="$\\log p(x)$")
    ax1.set_xlabel("gradient step $t$")
    ax1.set_ylabel("nats")
    ax1.legend(fontsize=7, frameon=False, loc="lower right")
    m, lv = np.asarray(history["q_mean"]), np.asarray(history["q_logvar"])
    ax2.plot(m, lv, ".-", ms=3, lw=0.8, color="tab:blue")
    ax2.plot(m[0], lv[0], "o", color="tab:green", label="start")
    if posterior is not None:
        ax2.plot(posterior[0], math.log(posterior[1]), "*", ms=12, color="tab:red",
                 label="exact posterior")
    ax2.set_xlabel("mean of $q$")
    ax2.set_ylabel("log-variance of $q$")
    ax2.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def em_bound_climb(history, log_evidence_max: float, rate: float | None = None,
                   width: float = 7.0):
    """EM as coordinate ascent: the ELBO after each E- and M-step (left), the distance to the
    maximum log-evidence on a log scale (right). Lesson 04.

    Parameters
    ----------
    history : dict
        Output of :func:`vaelearn.elbo.em_prior_var`.
    log_evidence_max : float
        ``max_a log p(x; a)`` (nats), the ceiling.
    rate : float, optional
        Predicted factor per iteration of the distance (drawn dotted on the right).

    Returns
    -------
    matplotlib.figure.Figure
    """
    log_ev = np.asarray(history["log_evidence"], dtype=float)
    after_m = np.asarray(history["elbo_before_e"], dtype=float)
    if after_m.size != log_ev.size - 1:
        raise ValueError("argument 'history': 'elbo_before_e' must be one shorter than "
                         "'log_evidence'")
    fig, (ax1, ax2) = _figure(2, width, 2.8)
    # the path of the ELBO: E-step at t (gap closed, on log p(x; a_t)), M-step to t + 1/2,
    # E-step up to log p(x; a_{t+1}) at t + 1
    n_show = min(log_ev.size - 1, 30)
    xs, ys = [0.0], [log_ev[0]]
    for t in range(n_show):
        xs += [t + 0.5, t + 1.0]
        ys += [after_m[t], log_ev[t + 1]]
    ax1.plot(xs, ys, color="tab:blue", lw=1, label="ELBO")
    ax1.plot(np.arange(n_show + 1), log_ev[: n_show + 1], "o", ms=2, color="tab:blue",
             label="after E-step $= \\log p(x; a_t)$")
    ax1.plot(np.arange(n_show) + 0.5, after_m[:n_show], "s", ms=2, color="tab:orange",
             label="after M-step")
    ax1.axhline(log_evidence_max, color="k", ls=":", lw=1, label="$\\max_a \\log p(x; a)$")
    ax1.set_xlabel("EM iteration $t$")
    ax1.set_ylabel("nats")
    ax1.legend(fontsize=7, frameon=False, loc="lower right")
    dist = log_evidence_max - log_ev
    # below ~1e-11 nats the difference of two sums of ~100s of nats is round-off: not drawn
    resolved = dist > 1e-11 * max(1.0, abs(log_evidence_max))
    t_all = np.arange(log_ev.size)[resolved]
    dist = dist[resolved]
    ax2.semilogy(t_all, dist, color="tab:blue", label="measured")
    if rate is not None and t_all.size:
        # anchored at the last resolved iteration: the rate holds near the maximum
        ref = dist[-1] * float(rate) ** (2 * (t_all - t_all[-1]))
        keep = ref < 10 * dist.max()
        ax2.semilogy(t_all[keep], ref[keep], ls=":", color="0.4",
                     label=f"$\\propto {float(rate):.3f}^{{2t}}$")
    ax2.set_xlabel("EM iteration $t$")
    ax2.set_ylabel("distance to the maximum (nats)")
    ax2.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def sgld_histograms(chains, labels, post_mean: float, post_var: float, bins: int = 40,
                    width: float = 7.0):
    """Histograms of sampler chains over the exact posterior density (one panel per chain).

    Parameters
    ----------
    chains : sequence of array_like, each shape (n,)
    labels : sequence of str
        Panel titles.
    post_mean, post_var : float
        The exact posterior ``N(post_mean, post_var)``, drawn as a curve.
    bins : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    if len(chains) != len(labels) or not chains:
        raise ValueError("arguments 'chains' and 'labels' must be non-empty and of equal length")
    fig, axes = _figure(len(chains), width, 2.6)
    sd = math.sqrt(float(post_var))
    grid = np.linspace(post_mean - 4.5 * sd, post_mean + 4.5 * sd, 300)
    for ax, chain, label in zip(axes, chains, labels, strict=True):
        c = np.asarray(chain, dtype=float).ravel()
        ax.hist(c, bins=bins, range=(grid[0], grid[-1]), density=True, color="tab:blue",
                alpha=0.5, label="samples")
        ax.plot(grid, _normal_pdf(grid, post_mean, post_var), color="k", lw=1.2,
                label="exact posterior")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("$z$")
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
