"""Classroom tools: release lessons to students and autograde their submissions.

The lessons are the instructor's source notebooks in nbgrader's format. :func:`release` writes
the student versions (what ``nbgrader generate_assignment`` produces); :func:`grade` autogrades a
folder of submissions, each in its own operating-system sandbox with tests judged outside it,
into a CSV and feedback files.
From the shell: ``vaelearn classroom release ...`` and ``vaelearn classroom grade ...``.
"""

from .grade import CSV_COLUMNS, ItemResult, Limits, assemble, clean_text, grade, grade_notebook
from .release import (
    Exercise,
    exercises,
    hidden_test_lines,
    manual_items,
    release,
    release_notebook,
    solution_lines,
)

__all__ = [
    "CSV_COLUMNS", "Exercise", "ItemResult", "Limits", "assemble", "clean_text", "exercises",
    "grade", "grade_notebook", "hidden_test_lines", "manual_items", "release",
    "release_notebook", "solution_lines",
]
