"""Machine-checked derivations, one module per lesson.

Each function returns a :class:`vaelearn.derive.Derivation` whose steps ``verify()`` checks
(tests/test_derivations.py, the derivation catalogue, verifies every one). Import the lesson's
module, e.g. ``from vaelearn import derivations`` and then ``derivations.info``.
"""

import importlib
from types import ModuleType

LESSON_MODULES = (
    "info", "autoencoders", "elbo", "likelihoods", "reparam", "collapse", "disentanglement",
)
"""The derivation modules, named as the lesson families in :mod:`vaelearn` and
:mod:`vaelearn.plotting`."""


def __getattr__(attr: str) -> ModuleType:
    # Lazy, so `from vaelearn import derivations; derivations.elbo` works without importing
    # sympy for every lesson family up front.
    if attr in LESSON_MODULES:
        return importlib.import_module(f"{__name__}.{attr}")
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
