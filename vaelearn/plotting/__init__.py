"""matplotlib helpers for the lessons. They take NumPy arrays, never tensors.

One module per lesson topic; this package re-exports every public name, so lessons write
``from vaelearn import plotting`` and call ``plotting.latent_scatter(...)``.
"""

from . import (
    autoencoders,
    collapse,
    disentanglement,
    elbo,
    holes,
    info,
    likelihoods,
    models,
    reparam,
)
from .autoencoders import *  # noqa: F401,F403
from .collapse import *  # noqa: F401,F403
from .disentanglement import *  # noqa: F401,F403
from .elbo import *  # noqa: F401,F403
from .holes import *  # noqa: F401,F403
from .info import *  # noqa: F401,F403
from .likelihoods import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .reparam import *  # noqa: F401,F403

__all__ = [
    *info.__all__,
    *models.__all__,
    *autoencoders.__all__,
    *holes.__all__,
    *elbo.__all__,
    *likelihoods.__all__,
    *reparam.__all__,
    *collapse.__all__,
    *disentanglement.__all__,
]
