"""How many threads vaelearn computes with: one by default, ``VAELEARN_NUM_THREADS`` for more.

vaelearn's models are small (64 or 784 pixels in, minibatches of 128): one BLAS call on such
matrices takes microseconds, and splitting it over threads costs more in hand-offs than it saves.
On a busy machine it is much worse, because a pool's threads wait for each other: on a loaded
2-core machine a 20-epoch ``vaelearn train --data digits`` took 0.2-0.3 s of training with one
thread and 2-16 s with the libraries' default thread pools, and nbval of all lessons 52 s against
370 s (issue 12). So vaelearn sets the thread count itself, for every process that uses it (a
lesson in plain ``jupyter lab``, ``vaelearn train``, a script calling ``fit``), unless told not to:

- NumPy's and SciPy's BLAS and any OpenMP runtime already loaded, through threadpoolctl
  (:func:`threadpoolctl.threadpool_limits`);
- torch's intra-op pool, through ``torch.set_num_threads``, when torch is imported.

It applies the count when a backend is chosen (:func:`vaelearn.get_backend`, the first line of
every lesson), at the start of every ``fit`` of both backends, and in the command line. The
count is process-wide (it is not restored afterwards), so the rest of a lesson's computations
use it too.

Override
--------
``VAELEARN_NUM_THREADS=N`` (a positive integer) uses N threads; ``VAELEARN_NUM_THREADS=auto``
leaves every library's own choice alone (then ``OMP_NUM_THREADS`` etc. decide, as without
vaelearn). :func:`set_num_threads` does the same from Python and wins over the variable.
"""

from __future__ import annotations

import os
import sys

__all__ = ["NUM_THREADS_ENV", "DEFAULT_NUM_THREADS", "num_threads", "set_num_threads",
           "apply_num_threads"]

NUM_THREADS_ENV = "VAELEARN_NUM_THREADS"
"""Environment variable: a positive int, or ``auto`` to leave the libraries' thread pools alone."""

DEFAULT_NUM_THREADS = 1
"""Threads used when neither :data:`NUM_THREADS_ENV` nor :func:`set_num_threads` says otherwise."""

_AUTO = "auto"
_chosen: int | str | None = None  # set_num_threads(); None: the environment variable decides


def _parse(value, source: str) -> int | None:
    """A thread count from ``value`` (int, digits or "auto"); None means "auto"."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == _AUTO:
            return None
        if text.isdigit() and int(text) >= 1:
            return int(text)
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(f"{source} is {value!r}; expected a positive int or 'auto'")


def num_threads() -> int | None:
    """The thread count vaelearn applies, or ``None`` when it leaves the libraries alone.

    :func:`set_num_threads` if it was called, else ``VAELEARN_NUM_THREADS``, else
    :data:`DEFAULT_NUM_THREADS` (1).

    Raises
    ------
    ValueError
        If ``VAELEARN_NUM_THREADS`` is neither a positive integer nor ``auto``.
    """
    if _chosen is not None:
        return _parse(_chosen, "argument 'n'")
    raw = os.environ.get(NUM_THREADS_ENV, "").strip()
    if not raw:
        return DEFAULT_NUM_THREADS
    return _parse(raw, f"environment variable {NUM_THREADS_ENV}")


def set_num_threads(n: int | str | None) -> None:
    """Choose how many threads vaelearn (and so NumPy, SciPy and torch) computes with.

    Parameters
    ----------
    n : int, "auto" or None
        A positive int: that many threads, applied now and at every later ``fit``. ``"auto"``:
        leave the libraries' pools alone from now on (the current sizes stay as they are).
        ``None``: back to ``VAELEARN_NUM_THREADS`` or the default of 1.

    Raises
    ------
    ValueError
        If ``n`` is not a positive int, ``"auto"`` or None.
    """
    global _chosen
    if n is not None:
        _parse(n, "argument 'n'")
    _chosen = n
    apply_num_threads()


def apply_num_threads() -> int | None:
    """Limit the BLAS/OpenMP pools loaded so far and torch's pool to :func:`num_threads`.

    Called by vaelearn itself (see the module doc); cheap enough to call before every training
    run (a few milliseconds). Returns the count applied, or ``None`` for "auto".
    """
    n = num_threads()
    if n is None:
        return None
    from threadpoolctl import threadpool_limits

    # Without a `with`, the limits stay in place: process-wide, like torch.set_num_threads.
    threadpool_limits(limits=n)
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads") and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def blas_info() -> list[dict]:
    """The thread pools loaded in this process (after importing NumPy and SciPy's BLAS).

    One dict per library, from :func:`threadpoolctl.threadpool_info`: ``internal_api``
    (openblas, mkl, openmp, ...), ``num_threads``, ``filepath`` and, for OpenBLAS, the CPU kernel
    it runs (``architecture``, which ``OPENBLAS_CORETYPE`` can change).
    """
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    return threadpool_info()


def main(argv: list[str] | None = None) -> int:
    """``python -m vaelearn.threads``: print the thread pools; optionally check the BLAS kernel."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m vaelearn.threads",
        description="Print the BLAS/OpenMP thread pools of this Python, after vaelearn has set "
        f"its thread count ({NUM_THREADS_ENV}, default {DEFAULT_NUM_THREADS}).",
    )
    parser.add_argument(
        "--expect-openblas",
        metavar="KERNEL",
        help="exit 1 unless every OpenBLAS loaded runs this kernel (e.g. Haswell), as "
        "`make nbval-kernels` does before trusting OPENBLAS_CORETYPE",
    )
    args = parser.parse_args(argv)
    blas_info()  # load NumPy's and SciPy's BLAS first, so that the limit reaches them
    applied = apply_num_threads()
    info = blas_info()
    print(f"vaelearn threads: {applied if applied is not None else 'auto (not set)'}")
    for lib in info:
        arch = f", kernel {lib['architecture']}" if lib.get("architecture") else ""
        print(f"{lib['internal_api']}: {lib['num_threads']} threads{arch} ({lib['filepath']})")
    if args.expect_openblas:
        kernels = {str(lib.get("architecture")) for lib in info
                   if lib["internal_api"] == "openblas"}
        if not kernels or {k.lower() for k in kernels} != {args.expect_openblas.lower()}:
            print(
                f"error: expected OpenBLAS kernel {args.expect_openblas}, found "
                f"{sorted(kernels) or 'no OpenBLAS'}",
                file=sys.stderr,
            )
            return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
