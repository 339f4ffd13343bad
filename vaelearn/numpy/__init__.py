"""The NumPy reference backend: float64 by default, every backward pass written by hand.

Every public name here has a twin with the same signature in :mod:`vaelearn.torch`
(``tests/test_parity.py`` checks that). Functions take NumPy arrays and return NumPy arrays.
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

NAME = "numpy"

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
