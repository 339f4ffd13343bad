"""Lesson notebooks as files: execute them top to bottom, keep their metadata clean.

The lessons under ``lessons/`` store the outputs of one clean top-to-bottom run with the NumPy
backend (nbval re-runs them on both backends and compares). This module is the one place that
knows what "clean" means, so ``make lessons``, the tests and the classroom tools agree.

Command line::

    python -m vaelearn.notebooks execute lessons/01_entropy_cross_entropy_kl.ipynb [...]
    python -m vaelearn.notebooks check lessons/*.ipynb
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import time
from pathlib import Path

import nbformat

__all__ = [
    "KERNELSPEC",
    "clean_notebook",
    "execute_notebook",
    "problems",
]

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
"""The kernelspec every lesson declares (no machine-specific names)."""

# Cell metadata we keep: tags (nbval / book), nbgrader's, and the two editability flags nbgrader
# uses for locked cells. Everything else (execution timings, collapsed, scrolled, ...) is noise.
_KEEP_CELL_METADATA = ("tags", "nbgrader", "editable", "deletable")
# Widget views only render with widget state, which we never store; their text/plain fallback stays.
_DROP_MIME = ("application/vnd.jupyter.widget-view+json",)
MACHINE_PATH = re.compile(r"(/root/|/home/|/tmp/|/work/|/Users/|[A-Za-z]:\\\\Users)")
"""Paths that must never appear in a stored output: outputs are the same on every machine."""


def _terminal_text(text: str) -> str:
    """What a terminal shows of ``text``: each line after its last carriage return.

    A text progress bar redraws itself with ``\\r``; the stored output keeps its final state.
    """
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def clean_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy of ``nb`` with diff-friendly, machine-independent metadata.

    Keeps only the kernelspec and the language name at notebook level, only tags / nbgrader /
    editable / deletable on cells, drops widget views from outputs and output metadata that
    records timings. Sources and outputs are otherwise unchanged.
    """
    nb = copy.deepcopy(nb)
    nb.metadata = nbformat.from_dict(
        {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    )
    for i, cell in enumerate(nb.cells):
        cell.metadata = nbformat.from_dict(
            {k: cell.metadata[k] for k in _KEEP_CELL_METADATA if k in cell.metadata}
        )
        if "id" in cell and not cell["id"]:
            cell["id"] = f"cell-{i:03d}"
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        outputs = []
        for out in cell.get("outputs", []):
            if "data" in out:
                for mime in _DROP_MIME:
                    out["data"].pop(mime, None)
                if not out["data"]:
                    continue
            if out.get("output_type") == "stream":
                # One output per stream, as a frontend shows it (the kernel sends each flush
                # separately: a progress bar is hundreds of them).
                prev = outputs[-1] if outputs else None
                if prev and prev.get("output_type") == "stream" and prev.name == out.name:
                    prev["text"] = _terminal_text(prev["text"] + out.get("text", ""))
                    continue
                out["text"] = _terminal_text(out.get("text", ""))
            if "metadata" in out:
                out["metadata"] = nbformat.from_dict(
                    {k: v for k, v in out["metadata"].items() if k not in ("execution",)}
                )
            outputs.append(out)
        cell.outputs = outputs
    return nb


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """List what makes a stored lesson unclean; an empty list means it is clean.

    Checks: notebook metadata is exactly what :func:`clean_notebook` writes; no cell carries
    metadata beyond tags/nbgrader/editable/deletable; code cells were run once, top to bottom, in
    one fresh kernel (execution counts 1, 2, 3, ...); no stored output shows a machine path; no
    output is an error.
    """
    found = []
    if dict(nb.metadata) != {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}:
        found.append(f"notebook metadata is not clean: {sorted(nb.metadata)}")
    counts = []
    for i, cell in enumerate(nb.cells):
        extra = set(cell.metadata) - set(_KEEP_CELL_METADATA)
        if extra:
            found.append(f"cell {i}: extra metadata {sorted(extra)}")
        if cell.cell_type != "code":
            continue
        counts.append(cell.get("execution_count"))
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: stored output is an error ({out.get('ename')})")
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            if MACHINE_PATH.search(text):
                found.append(f"cell {i}: stored output shows a machine path")
    if counts != list(range(1, len(counts) + 1)):
        found.append(
            f"code cells were not run once top to bottom in a fresh kernel: counts {counts[:8]}..."
        )
    return found


def execute_notebook(
    path: str | os.PathLike, *, timeout: int = 600, backend: str = "numpy"
) -> float:
    """Execute a lesson in a fresh kernel from its own folder, clean it, write it back.

    Parameters
    ----------
    path : path-like
        The ``.ipynb`` file; it is overwritten with the new outputs.
    timeout : int
        Seconds allowed per cell.
    backend : str
        Value of ``VAELEARN_BACKEND`` in the kernel; stored lesson outputs come from ``"numpy"``.

    Returns
    -------
    float
        Wall-clock seconds the execution took.
    """
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    env = {
        **os.environ,  # the kernel's environment; this process's own is left alone
        "VAELEARN_BACKEND": backend,
        "VAELEARN_PROGRESS": "final",  # one line per training run: the bar's final state
        # Figures must be stored with the lesson: the kernel gets the inline backend even when
        # the caller's environment says Agg (as `make` does for the tests).
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    start = time.perf_counter()
    client.execute(env=env)
    seconds = time.perf_counter() - start
    nbformat.write(clean_notebook(nb), path)
    return seconds


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelearn.notebooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="re-execute lessons (NumPy backend), store clean outputs")
    ex.add_argument("paths", nargs="+")
    ex.add_argument("--timeout", type=int, default=600)
    ck = sub.add_parser("check", help="report lessons whose stored metadata/outputs are not clean")
    ck.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    status = 0
    for p in args.paths:
        if args.command == "execute":
            seconds = execute_notebook(p, timeout=args.timeout)
            print(f"{p}: executed in {seconds:.1f} s")
        else:
            found = problems(nbformat.read(p, as_version=4))
            for f in found:
                print(f"{p}: {f}")
            status |= bool(found)
    return status


if __name__ == "__main__":
    try:
        sys.exit(_main())
    except ImportError as exc:  # nbclient/ipykernel missing: one line naming the extra
        from vaelearn._extras import missing_extra

        if (message := missing_extra(exc)) is None:
            raise
        sys.exit(f"python -m vaelearn.notebooks: error: {message}")
