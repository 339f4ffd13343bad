"""Plain data across the sandbox boundary: the only thing the grader accepts from student code.

The student's process answers the grader's questions ("what is ``my_kl``?", "call
``my_entropy_bits`` on this array") with values encoded here. Whatever that process sends, the
grader's side decodes only plain data: ``None``, ``bool``, ``int``, ``float``, ``complex``,
``str``, ``list``, ``tuple``, ``dict``, base-class :class:`numpy.ndarray` of a numeric or boolean
dtype, and :class:`numpy.random.Generator` (by its bit generator's state). So an answer that is
an object with a lying ``__sub__`` or ``__abs__`` can never reach a test: it is refused when it is
encoded, and nothing but the types above can come out of :func:`decode` on the grader's side.

Frames on the pipes are an 8-byte big-endian length followed by that many bytes of JSON.
"""

from __future__ import annotations

import base64
import json
import math
import os
import struct

import numpy as np

__all__ = ["encode", "decode", "NotPlainData", "write_frame", "read_frame", "MAX_FRAME",
           "MAX_VALUES", "too_many_values"]

# Limits on one message from the student's process, checked before it is parsed: the largest
# answer the lessons' tests fetch is far below both (the all-lessons classroom test runs them).
MAX_FRAME = 16 * 1024 * 1024  # bytes
MAX_VALUES = 100_000  # encoded values (each is one JSON object): ~30 MB of Python objects at most
_MAX_DEPTH = 32
_KINDS = "biufc"  # bool, int, unsigned, float, complex: no object, string or void arrays


class NotPlainData(TypeError):
    """A value that is not plain data (number, string, array, list, tuple, dict, None)."""


def encode(obj, _depth: int = 0):
    """A JSON-able form of ``obj``; :class:`NotPlainData` if it is not plain data."""
    if _depth > _MAX_DEPTH:
        raise NotPlainData("value nested too deeply")
    if obj is None:
        return {"n": 0}
    if isinstance(obj, (bool, np.bool_)):
        return {"b": bool(obj)}
    if isinstance(obj, (int, np.integer)) and type(obj) in (int, *np.sctypeDict.values()):
        return {"i": str(int(obj))}
    if type(obj) in (float, np.float64, np.float32, np.float16, np.longdouble):
        return {"f": repr(float(obj))}
    if type(obj) in (complex, np.complex128, np.complex64):
        return {"c": [repr(float(obj.real)), repr(float(obj.imag))]}
    if type(obj) is str:
        return {"s": obj}
    if type(obj) in (list, tuple):
        return {"l" if type(obj) is list else "t": [encode(x, _depth + 1) for x in obj]}
    if type(obj) is dict:
        return {"d": [[encode(k, _depth + 1), encode(v, _depth + 1)] for k, v in obj.items()]}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _KINDS:
            raise NotPlainData(f"an array of dtype {obj.dtype} is not plain data")
        # (not np.ascontiguousarray: it makes a 0-d array 1-d, and float() of that fails)
        arr = np.asarray(obj).view(np.ndarray).copy(order="C")
        return {"a": arr.dtype.str, "shape": list(arr.shape),
                "data": base64.b64encode(arr.tobytes()).decode()}
    if isinstance(obj, np.random.Generator):
        return {"g": json.dumps(obj.bit_generator.state)}
    raise NotPlainData(f"a value of type {type(obj).__name__} is not plain data (expected a "
                       "number, string, NumPy array, list, tuple, dict or None)")


def _num(text) -> float:
    if not isinstance(text, str) or len(text) > 40:
        raise NotPlainData("malformed number")
    value = float(text)
    if not (math.isfinite(value) or text in ("nan", "inf", "-inf")):
        raise NotPlainData("malformed number")
    return value


def decode(data, _depth: int = 0):
    """The plain value that ``data`` (from :func:`encode`) stands for; strict about its shape."""
    if _depth > _MAX_DEPTH or not isinstance(data, dict) or len(data) not in (1, 3):
        raise NotPlainData("malformed value")
    if len(data) == 1:
        ((tag, v),) = data.items()
        if tag == "n":
            return None
        if tag == "b" and type(v) is bool:
            return v
        if tag == "i" and isinstance(v, str) and len(v) <= 4300:
            return int(v)
        if tag == "f":
            return _num(v)
        if tag == "c" and isinstance(v, list) and len(v) == 2:
            return complex(_num(v[0]), _num(v[1]))
        if tag == "s" and type(v) is str:
            return v
        if tag in ("l", "t") and isinstance(v, list):
            items = [decode(x, _depth + 1) for x in v]
            return items if tag == "l" else tuple(items)
        if tag == "d" and isinstance(v, list):
            out = {}
            for pair in v:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise NotPlainData("malformed dict")
                key = decode(pair[0], _depth + 1)
                if isinstance(key, (list, dict, np.ndarray)):
                    raise NotPlainData("malformed dict key")
                out[key] = decode(pair[1], _depth + 1)
            return out
        if tag == "g" and isinstance(v, str):
            state = json.loads(v)
            name = state.get("bit_generator") if isinstance(state, dict) else None
            if name not in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
                raise NotPlainData("unknown bit generator")
            bitgen = getattr(np.random, name)()
            bitgen.state = state
            return np.random.Generator(bitgen)
        raise NotPlainData("malformed value")
    if set(data) != {"a", "shape", "data"}:
        raise NotPlainData("malformed array")
    dtype = np.dtype(data["a"]) if isinstance(data["a"], str) and len(data["a"]) < 8 else None
    shape = data["shape"]
    if (dtype is None or dtype.kind not in _KINDS or not isinstance(shape, list)
            or not all(type(n) is int and n >= 0 for n in shape) or len(shape) > 32):
        raise NotPlainData("malformed array")
    raw = base64.b64decode(data["data"], validate=True)
    if len(raw) != dtype.itemsize * math.prod(shape):
        raise NotPlainData("array data does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def too_many_values(body: bytes) -> bool:
    """Whether a frame may hold more than ``MAX_VALUES`` values (counted before parsing)."""
    return body.count(b"{") > MAX_VALUES + 16


def write_frame(fd: int, message: dict) -> None:
    """Write one message (a JSON object) to a file descriptor."""
    body = json.dumps(message, allow_nan=False).encode()
    if len(body) > MAX_FRAME or too_many_values(body):
        body = json.dumps({"ok": False, "error": "the answer is too large to send"}).encode()
    buf = struct.pack(">Q", len(body)) + body
    while buf:
        buf = buf[os.write(fd, buf):]


def read_frame(fd: int) -> dict:
    """Read one message written by :func:`write_frame` (blocking); ``EOFError`` at the end."""
    head = _read_exact(fd, 8)
    (size,) = struct.unpack(">Q", head)
    if size > MAX_FRAME:
        raise ValueError("message too large")
    msg = json.loads(_read_exact(fd, size))
    if not isinstance(msg, dict):
        raise ValueError("malformed message")
    return msg


def _read_exact(fd: int, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
