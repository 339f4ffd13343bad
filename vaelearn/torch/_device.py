"""Device handling for the torch backend: ``VAELEARN_DEVICE`` or cuda-if-available."""

import os

import torch

__all__ = ["get_device"]


def get_device(device=None) -> str:
    """Return the torch device name this backend computes on.

    Parameters
    ----------
    device : str, optional
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. ``None`` reads ``VAELEARN_DEVICE``; when that is
        unset, ``"cuda"`` if torch sees a GPU, else ``"cpu"``.

    Raises
    ------
    ValueError
        If the device is not understood, or cuda is asked for and not available.
    """
    source = "argument 'device'"
    if device is None:
        device = os.environ.get("VAELEARN_DEVICE", "").strip() or None
        source = "environment variable VAELEARN_DEVICE"
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    name = str(device)
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"{source} is {name!r}, not a torch device name") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{source} is {name!r} but torch sees no CUDA device")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{source} is {name!r}; vaelearn supports 'cpu' and 'cuda'")
    return name
