"""Pictures for lesson 05 (the VAE objective and its likelihoods): the Gaussian decoder's sigma
and the training curves of several likelihoods.

Every function takes NumPy arrays, draws one small figure (within the size policy of
:mod:`vaelearn.plotting._style`) and returns it.
"""

from __future__ import annotations

import numpy as np

from ._style import figure

__all__ = ["sigma_nll_curve", "elbo_curves"]


def _figure(ncols: int = 1, width: float = 4.0, height: float = 3.0):
    fig, axes = figure(1, ncols, width=width, height=height)
    return fig, list(axes[0])


def sigma_nll_curve(sigma2, nll, best_sigma2: float | None = None, width: float = 4.5):
    """The Gaussian decoder's loss as a function of its variance ``sigma^2`` (log axis). Lesson 05.

    Parameters
    ----------
    sigma2 : array_like, shape (n,)
        Decoder variances tried.
    nll : array_like, shape (n,)
        Mean ``-log p(x | z)`` per example (nats) at each variance.
    best_sigma2 : float, optional
        The optimum (the MSE per dimension), marked with a vertical line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    sigma2, nll = np.asarray(sigma2, dtype=float), np.asarray(nll, dtype=float)
    fig, (ax,) = _figure(1, width, 3.0)
    ax.semilogx(sigma2, nll, color="tab:blue")
    if best_sigma2 is not None:
        ax.axvline(best_sigma2, color="tab:red", ls=":", label="$\\sigma^2$ = MSE per dim")
        ax.legend(fontsize=7, frameon=False)
    ax.set_xlabel("decoder variance $\\sigma^2$")
    ax.set_ylabel("$-\\log p(x\\mid z)$, nats")
    fig.tight_layout()
    return fig


def elbo_curves(histories, baseline: float | None = None, width: float = 7.0):
    """Train and test loss (``-ELBO``, nats per example) per epoch, one panel per model.

    Parameters
    ----------
    histories : dict of str -> dict
        Label -> a history returned by ``B.fit`` (keys ``train_loss`` and ``test_loss``).
    baseline : float, optional
        A reference loss drawn as a dotted line (e.g. the ``D ln 2`` Bernoulli baseline).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not histories:
        raise ValueError("argument 'histories' is empty")
    fig, axes = _figure(len(histories), width, 2.8)
    for ax, (label, hist) in zip(axes, histories.items(), strict=True):
        train = np.asarray(hist["train_loss"], dtype=float)
        epochs = np.arange(1, train.size + 1)
        ax.plot(epochs, train, label="train", color="tab:blue")
        test = hist.get("test_loss")
        if test is not None and len(test):
            ax.plot(epochs, np.asarray(test, dtype=float), label="test", color="tab:orange")
        if baseline is not None:
            ax.axhline(baseline, color="0.5", ls=":", lw=1, label="baseline")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("$-$ELBO, nats per example")
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
