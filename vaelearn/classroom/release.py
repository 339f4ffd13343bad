"""Student versions of the lessons, in nbgrader's format.

A lesson under ``lessons/`` is the instructor's source notebook: its exercises are nbgrader
solution cells (``### BEGIN SOLUTION`` ... ``### END SOLUTION``) followed by locked, autograded
test cells (possibly with ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``).
:func:`release_notebook` runs nbgrader's own ``generate_assignment`` preprocessors on it (all but
the one that writes nbgrader's database), so the result is exactly what ``nbgrader
generate_assignment`` would release: solutions replaced by ``raise NotImplementedError()``,
hidden tests removed, outputs cleared, locked cells checksummed.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nbformat

__all__ = ["Exercise", "exercises", "manual_items", "release_notebook", "release", "solution_lines",
           "hidden_test_lines"]

_SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION.*?^[ \t]*### END SOLUTION[^\n]*", re.M | re.S)
_HIDDEN = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*", re.M | re.S
)


@dataclass(frozen=True)
class Exercise:
    """One autograded item: a locked test cell of a lesson, worth ``points``."""

    grade_id: str
    points: float
    cell_index: int


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _autograded(cell) -> bool:
    meta = _nbgrader(cell)
    return (cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")
            and not meta.get("task"))


def _graded_cells(nb, autograded: bool) -> list[Exercise]:
    found, seen = [], set()
    for i, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        if not meta.get("grade") or _autograded(cell) != autograded:
            continue
        gid = meta.get("grade_id")
        if not gid or gid in seen:
            raise ValueError(f"notebook cell {i}: grade_id {gid!r} is missing or not unique")
        points = float(meta.get("points", 0))
        if points <= 0:
            raise ValueError(f"notebook cell {i} ({gid}): graded cell needs positive 'points'")
        seen.add(gid)
        found.append(Exercise(gid, points, i))
    return found


def exercises(nb: nbformat.NotebookNode) -> list[Exercise]:
    """The autograded test cells of an instructor notebook, in order.

    These are nbgrader's "autograder tests": code cells with ``grade`` and without ``solution``.
    Cells with both ``grade`` and ``solution`` (a manually graded answer, code or markdown) and
    ``task`` cells are not autograded: see :func:`manual_items`.

    Raises
    ------
    ValueError
        If two cells share a ``grade_id`` or a graded cell has no positive ``points``.
    """
    manual_items(nb)  # grade_ids must be unique across both kinds
    return _graded_cells(nb, True)


def manual_items(nb: nbformat.NotebookNode) -> list[Exercise]:
    """The graded cells left for manual grading (answers with ``grade`` and ``solution``, tasks)."""
    both = _graded_cells(nb, True) + _graded_cells(nb, False)
    ids = [e.grade_id for e in both]
    if len(ids) != len(set(ids)):
        raise ValueError(f"a grade_id is not unique: {sorted(i for i in ids if ids.count(i) > 1)}")
    return _graded_cells(nb, False)


def _region_lines(nb, pattern) -> set[str]:
    lines = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for block in pattern.findall(cell.source):
            for line in block.splitlines()[1:-1]:
                if line.strip() and not line.strip().startswith("#"):
                    lines.add(line.strip())
    return lines


def solution_lines(nb: nbformat.NotebookNode) -> set[str]:
    """Non-trivial lines inside the solution regions of an instructor notebook."""
    return _region_lines(nb, _SOLUTION)


def hidden_test_lines(nb: nbformat.NotebookNode) -> set[str]:
    """Non-trivial lines inside the hidden-test regions of an instructor notebook."""
    return _region_lines(nb, _HIDDEN)


def release_notebook(nb: nbformat.NotebookNode, name: str = "lesson") -> nbformat.NotebookNode:
    """Return the student version of an instructor notebook (nbgrader's release format).

    Parameters
    ----------
    nb : NotebookNode
        The instructor's notebook (with solutions and hidden tests).
    name : str
        The notebook's name, as nbgrader records it.

    Raises
    ------
    ValueError
        If the notebook has no autograded exercise, or a solution cell lacks its markers (it would
        otherwise be released with the solution in it).
    """
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        IncludeHeaderFooter,
        InstantiateTests,
        LockCells,
    )

    if not exercises(nb):
        raise ValueError(f"{name}: no autograded exercise (nbgrader 'grade' cell) to release")
    for i, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        if meta.get("solution") and cell.cell_type == "code" and not _SOLUTION.search(cell.source):
            raise ValueError(f"{name}: solution cell {i} has no ### BEGIN/END SOLUTION markers")
    nb = copy.deepcopy(nb)
    resources = {"nbgrader": {"notebook": name, "assignment": name}, "metadata": {"path": "."}}
    # nbgrader's GenerateAssignment order, without SaveCells (its database). ClearHiddenTests must
    # come after the first ComputeChecksums; checksums are computed again afterwards.
    chain = [IncludeHeaderFooter, InstantiateTests, LockCells, ClearSolutions, ClearOutput,
             CheckCellMetadata, ComputeChecksums, ClearHiddenTests, ClearMarkScheme,
             ComputeChecksums, CheckCellMetadata]
    for pp in chain:
        nb, resources = pp().preprocess(nb, resources)
    return nb


def release(lessons: list[str | os.PathLike], out: str | os.PathLike) -> list[Path]:
    """Write the student version of each lesson into ``out`` (same file names).

    Returns the paths written. Each file is written atomically (temp file, then rename).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for lesson in lessons:
        lesson = Path(lesson)
        try:
            nb = _nbformat().read(lesson, as_version=4)
        except Exception as exc:  # noqa: BLE001 - any parse error is reported the same way
            raise ValueError(f"{lesson}: cannot read notebook ({exc})") from exc
        student = release_notebook(nb, lesson.stem)
        target = out / lesson.name
        tmp = target.with_suffix(".ipynb.tmp")
        _nbformat().write(student, tmp)
        os.replace(tmp, target)
        written.append(target)
    return written


def _nbformat():
    """nbformat, imported on first use (it takes seconds; the student's sandbox never needs it)."""
    import nbformat

    return nbformat
