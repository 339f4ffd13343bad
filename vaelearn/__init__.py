"""vaelearn: learn Variational Autoencoders by deriving the maths step by step.

Every model exists twice behind one API: :mod:`vaelearn.numpy`, the reference with hand-written
backward passes that a student reads, and :mod:`vaelearn.torch`, the same names on top of torch
autograd (GPU when there is one). Pick one with :func:`get_backend`.

``import vaelearn`` imports neither torch nor matplotlib.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__version__ = "0.1.0"

BACKENDS = ("numpy", "torch")
"""Names accepted by :func:`get_backend`."""

BACKEND_ENV = "VAELEARN_BACKEND"
DEVICE_ENV = "VAELEARN_DEVICE"

__all__ = ["BACKENDS", "BACKEND_ENV", "DEVICE_ENV", "__version__", "get_backend"]


def get_backend(name: str | None = None) -> ModuleType:
    """Return the backend module ``vaelearn.numpy`` or ``vaelearn.torch``.

    Parameters
    ----------
    name : {"numpy", "torch"}, optional
        Which backend. ``None`` reads the environment variable ``VAELEARN_BACKEND``
        (default ``"numpy"``), so one notebook runs on either backend unchanged.

    Returns
    -------
    module
        A module exposing the same public names (``__all__``) in both backends.

    Raises
    ------
    ValueError
        If ``name`` (or ``VAELEARN_BACKEND``) is not one of :data:`BACKENDS`.
    ImportError
        If ``"torch"`` is asked for and torch is not installed.

    Notes
    -----
    Also sets the thread count of NumPy's/SciPy's BLAS and torch to ``VAELEARN_NUM_THREADS``
    (default 1), see :mod:`vaelearn.threads`.
    """
    source = "argument 'name'"
    if name is None:
        name = os.environ.get(BACKEND_ENV, "").strip() or "numpy"
        source = f"environment variable {BACKEND_ENV}"
    key = str(name).strip().lower()
    if key not in BACKENDS:
        raise ValueError(f"{source} is {name!r}; expected one of {', '.join(BACKENDS)}")
    if key == "torch":
        try:
            import torch  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the torch backend needs torch: pip install 'vaelearn[torch]'"
            ) from exc
    backend = importlib.import_module(f"vaelearn.{key}")
    # vaelearn's small models run fastest on one thread (see vaelearn.threads, which also says
    # how to override it with VAELEARN_NUM_THREADS); every lesson starts here.
    from .threads import apply_num_threads

    apply_num_threads()
    return backend


_SUBMODULES = {
    # one module per lesson family, named as in vaelearn.derivations and vaelearn.plotting
    "info", "autoencoders", "holes", "elbo", "likelihoods", "collapse",
    "disentanglement",
    # shared by several lessons
    "data", "derive", "derivations", "latent", "plotting", "notebooks", "threads", "classroom",
    # the two backends (vaelearn.torch imports torch only when it is reached)
    "numpy", "torch",
}


def __getattr__(attr: str) -> ModuleType:
    # Lazy submodules, so `vaelearn.info` works after a bare `import vaelearn`
    # without importing torch or matplotlib up front.
    if attr in _SUBMODULES:
        return importlib.import_module(f"vaelearn.{attr}")
    raise AttributeError(f"module 'vaelearn' has no attribute {attr!r}")
