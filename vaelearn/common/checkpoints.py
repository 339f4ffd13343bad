"""The checkpoint format, shared by both backends: one ``.npz`` with an array per ``params`` key
and the model's config as JSON under ``__config__``. A file saved by either backend loads into
either."""

from __future__ import annotations

import json
import os

import numpy as np

_CONFIG_KEY = "__config__"


def save_checkpoint(model, path):
    """Save ``model`` to ``path`` (``.npz``): one array per ``params`` key plus its config as JSON.

    ``model`` is a ``VAE``, ``Autoencoder`` or ``VQVAE``. A checkpoint saved by either backend
    loads into either backend (:func:`load_checkpoint`).
    """
    if getattr(model, "kind", None) not in ("vae", "autoencoder", "vqvae") or not hasattr(
        model, "config"
    ):
        raise ValueError(
            f"argument 'model' is {type(model).__name__}; expected a vaelearn model "
            "(VAE, Autoencoder or VQVAE)"
        )
    path = os.fspath(path)
    arrays = {k: np.asarray(v) for k, v in model.get_params().items()}
    arrays[_CONFIG_KEY] = np.array(json.dumps(model.config))
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


_CONFIG_MAX_BYTES = 1 << 20
"""A checkpoint's JSON config is a few hundred bytes; a bigger entry is refused unread."""

_NPY_HEADER_SLACK = 1 << 16
"""Room for an ``.npy`` header (at most 64 KiB in format 2) on top of the array's data."""


def _load_checkpoint_into(path, classes):
    """Read a checkpoint into a fresh model of ``classes[name]``; shared by both backends.

    The zip directory's declared uncompressed sizes are checked against the shapes the config
    implies before any array is read, so a zip bomb is refused without inflating it.
    """
    path = os.fspath(path)
    try:
        f = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, OSError, ValueError, EOFError, ...
        raise ValueError(f"checkpoint {path!r} is corrupt or not an .npz file: {exc}") from exc
    if not hasattr(f, "zip"):  # np.load of a plain .npy gives an array
        raise ValueError(f"checkpoint {path!r} is not an .npz file")
    with f:
        sizes = {
            info.filename[:-4] if info.filename.endswith(".npy") else info.filename: info.file_size
            for info in f.zip.infolist()
        }
        if _CONFIG_KEY not in f.files:
            raise ValueError(
                f"checkpoint {path!r} has no {_CONFIG_KEY!r} entry; not a vaelearn file"
            )
        if sizes.get(_CONFIG_KEY, 0) > _CONFIG_MAX_BYTES:
            raise ValueError(
                f"checkpoint {path!r} declares a {sizes[_CONFIG_KEY]}-byte config; refused"
            )
        try:
            config = json.loads(str(f[_CONFIG_KEY]))
            name = config.pop("model")
        except Exception as exc:
            raise ValueError(f"checkpoint {path!r} has an unreadable config: {exc}") from exc
        if name not in classes:
            raise ValueError(f"checkpoint {path!r} holds an unknown model {name!r}")
        try:
            model = classes[name](**config)
        except MemoryError as exc:
            raise ValueError(
                f"checkpoint {path!r} describes a model too large for memory: {config}"
            ) from exc
        except (TypeError, ValueError) as exc:
            raise ValueError(f"checkpoint {path!r} has an invalid config: {exc}") from exc
        expected = {k: int(np.prod(tuple(v.shape))) for k, v in model.params.items()}
        for key in f.files:
            if key == _CONFIG_KEY:
                continue
            if key not in expected:
                raise ValueError(
                    f"checkpoint {path!r} does not match its config: unexpected array {key!r}"
                )
            # at most 8 bytes per element (float64) plus the header
            limit = 8 * expected[key] + _NPY_HEADER_SLACK
            if sizes.get(key, 0) > limit:
                raise ValueError(
                    f"checkpoint {path!r}: array {key!r} declares {sizes[key]} bytes "
                    f"uncompressed, more than its shape allows ({limit}); refused unread"
                )
        try:
            data = {k: f[k] for k in f.files if k != _CONFIG_KEY}
        except Exception as exc:
            raise ValueError(f"checkpoint {path!r} is corrupt or truncated: {exc}") from exc
    try:
        model.set_params(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint {path!r} does not match its config: {exc}") from exc
    return model
