"""Device handling: the NumPy reference always computes on the CPU."""

__all__ = ["get_device"]


def get_device(device=None) -> str:
    """Return the device this backend computes on: always ``"cpu"`` for NumPy.

    Accepts the same argument as :func:`vaelearn.torch.get_device` so code is backend-agnostic;
    anything other than ``None`` or ``"cpu"`` raises ``ValueError``.
    """
    if device is None or str(device) == "cpu":
        return "cpu"
    raise ValueError(f"argument 'device' is {device!r}; the numpy backend only computes on 'cpu'")
