"""The torch backend: the same public names as :mod:`vaelearn.numpy`, on torch autograd.

Functions take NumPy arrays (and return NumPy arrays) or torch tensors (and return tensors, keeping
the autograd graph). The device comes from ``VAELEARN_DEVICE`` (default ``cuda`` when available,
else ``cpu``); see :func:`get_device`. ``torch`` is imported only inside this package.
"""

from . import _device, distributions, estimators, info, layers, models, optim, train, vq
from . import autoregressive as _autoregressive
from ._device import *  # noqa: F401,F403
from .autoregressive import *  # noqa: F401,F403
from .distributions import *  # noqa: F401,F403
from .estimators import *  # noqa: F401,F403
from .info import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
from .train import *  # noqa: F401,F403
from .vq import *  # noqa: F401,F403

NAME = "torch"

__all__ = [
    *_device.__all__,
    *info.__all__,
    *layers.__all__,
    *distributions.__all__,
    *models.__all__,
    *optim.__all__,
    *train.__all__,
    *estimators.__all__,
    *vq.__all__,
    *_autoregressive.__all__,
]
