"""Codebook perplexity, the one VQ-VAE statistic both backends compute from NumPy counts."""

from __future__ import annotations

import numpy as np


def codebook_perplexity(counts):
    """``exp(H(p))`` of the code frequencies ``p = counts / sum(counts)``: the effective number
    of codebook vectors in use (1 if one code takes everything, ``n_codes`` if all are equally
    used). Lesson 08.

    Parameters
    ----------
    counts : array_like, shape (n_codes,)
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or np.any(c < 0) or c.sum() <= 0:
        raise ValueError("argument 'counts' must be a 1-D array of nonnegative counts, not all 0")
    p = c[c > 0] / c.sum()
    return float(np.exp(-(p * np.log(p)).sum()))
