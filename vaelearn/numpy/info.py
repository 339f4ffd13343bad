"""Information theory on this backend's arrays: entropy, cross-entropy, KL, Gaussians. Lesson 01.

The NumPy backend re-exports the reference implementations in :mod:`vaelearn.info` (float64,
last axis is the distribution, nats by default, ``base=2`` for bits). :mod:`vaelearn.torch.info`
has the same names and signatures on torch tensors.
"""

from ..info import cross_entropy, entropy, gaussian_entropy, kl_divergence, kl_normal

__all__ = ["entropy", "cross_entropy", "kl_divergence", "gaussian_entropy", "kl_normal"]
