"""Notebook cells for tests that build tiny lessons (the classroom and lesson-check tests).

Moved here from ``vaelearn.notebooks``: no lesson, script or package code builds cells, only
these tests do. The nbgrader metadata is the one ``lessons/*.ipynb`` carry (schema version 3).
"""

from __future__ import annotations

import nbformat

__all__ = ["markdown_cell", "code_cell", "solution_cell", "test_cell"]


def markdown_cell(source: str, **metadata) -> nbformat.NotebookNode:
    """A markdown cell."""
    return nbformat.v4.new_markdown_cell(source.strip("\n"), metadata=metadata)


def code_cell(source: str, *, tags: tuple[str, ...] = (), **metadata) -> nbformat.NotebookNode:
    """A code cell, optionally with cell tags (e.g. ``"nbval-ignore-output"``, ``"hide-input"``)."""
    if tags:
        metadata["tags"] = list(tags)
    return nbformat.v4.new_code_cell(source.strip("\n"), metadata=metadata)


def solution_cell(source: str, grade_id: str) -> nbformat.NotebookNode:
    """An nbgrader solution cell: ``source`` holds ``### BEGIN SOLUTION`` / ``### END SOLUTION``.

    Raises
    ------
    ValueError
        If the solution markers are missing (nbgrader would silently release the solution).
    """
    if "### BEGIN SOLUTION" not in source or "### END SOLUTION" not in source:
        raise ValueError(f"solution cell {grade_id!r}: source lacks the BEGIN/END SOLUTION markers")
    return code_cell(
        source,
        nbgrader={
            "grade": False,
            "grade_id": grade_id,
            "locked": False,
            "schema_version": 3,
            "solution": True,
            "task": False,
        },
    )


def test_cell(source: str, grade_id: str, points: float) -> nbformat.NotebookNode:
    """An nbgrader autograded, locked test cell worth ``points`` (may hold hidden tests)."""
    if points <= 0:
        raise ValueError(
            f"test cell {grade_id!r}: argument 'points' must be positive, got {points}"
        )
    return code_cell(
        source,
        editable=False,
        deletable=False,
        nbgrader={
            "grade": True,
            "grade_id": grade_id,
            "locked": True,
            "points": points,
            "schema_version": 3,
            "solution": False,
            "task": False,
        },
    )


test_cell.__test__ = False  # not a pytest test
