"""Classroom tools: release in nbgrader's format, and safe autograding.

Two kinds of tests. A tiny fixture lesson (built here) carries the adversarial submissions, so
they run in seconds. Every real lesson under lessons/ is then released and graded twice: the
instructor's copy must score full points, the untouched student copy zero. Attacks on the grader:
tests/test_classroom_attacks.py; the sandbox itself: tests/test_classroom_sandbox.py.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from notebook_cells import code_cell, markdown_cell, solution_cell, test_cell

from vaelearn.classroom import (
    CSV_COLUMNS,
    Limits,
    exercises,
    grade,
    hidden_test_lines,
    manual_items,
    release,
    release_notebook,
    solution_lines,
)
from vaelearn.classroom.sandbox import bwrap_problem

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
VENV_BIN = str(Path(sys.executable).parent)
# Generous for a 2-core machine shared with other work; the fixture's cells take milliseconds.
needs_sandbox = pytest.mark.skipif(bwrap_problem() is not None,
                                   reason=f"no bubblewrap sandbox here: {bwrap_problem()}")
FAST = Limits(cell_seconds=5, notebook_seconds=60, memory_mb=3072)


def tiny_lesson() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        markdown_cell("# A tiny lesson"),
        code_cell("import numpy as np"),
        solution_cell("### BEGIN SOLUTION\n"
                      "fair_coin_bits = float(-np.sum(np.full(2, .5) * np.log2(.5)))\n"
                      "### END SOLUTION", "ex1-solution"),
        test_cell("assert abs(fair_coin_bits - 1.0) < 1e-12", "ex1-test", 1),
        solution_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                      "    ### END SOLUTION", "ex2-solution"),
        test_cell("assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n"
                  "### END HIDDEN TESTS", "ex2-test", 2),
        solution_cell("### BEGIN SOLUTION\nthree = 3\n### END SOLUTION", "ex3-solution"),
        test_cell("assert three == 3", "ex3-test", 1),
    ]
    return nb


@pytest.fixture()
def course(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    nbformat.write(tiny_lesson(), lessons / "tiny.ipynb")
    return tmp_path


def write_answer(path: Path, source_nb, grade_id: str, source: str):
    nb = nbformat.from_dict(json.loads(json.dumps(source_nb)))
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def read_grades(path: Path) -> dict[tuple[str, str], float]:
    """(student, exercise) -> points, from the CSV (its TOTAL rows checked against the sum)."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == CSV_COLUMNS
    got = {(r["student"], r["exercise"]): float(r["points"]) for r in rows
           if r["exercise"] != "TOTAL"}
    for r in rows:
        if r["exercise"] == "TOTAL":
            assert float(r["points"]) == sum(p for (s, _), p in got.items() if s == r["student"])
    return got


# --- release ------------------------------------------------------------------------------------


def test_release_is_what_nbgrader_generate_assignment_writes(course):
    """Our release equals nbgrader's own `generate_assignment`, cell by cell."""
    ours = release_notebook(tiny_lesson(), "tiny")
    cdir = course / "nbgrader"
    (cdir / "source" / "tiny").mkdir(parents=True)
    shutil.copy(course / "lessons" / "tiny.ipynb", cdir / "source" / "tiny" / "tiny.ipynb")
    (cdir / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.db_assignments = [dict(name='tiny')]\n")
    env = {**os.environ, "PATH": VENV_BIN + os.pathsep + os.environ["PATH"]}
    subprocess.run([f"{VENV_BIN}/nbgrader", "generate_assignment", "tiny", "--force"], cwd=cdir,
                   env=env, check=True, capture_output=True)
    theirs = nbformat.read(cdir / "release" / "tiny" / "tiny.ipynb", as_version=4)
    assert len(ours.cells) == len(theirs.cells)
    for a, b in zip(ours.cells, theirs.cells, strict=True):
        assert a.source == b.source
        assert a.metadata == b.metadata
        assert a.get("outputs") == b.get("outputs")


def test_release_refuses_a_solution_cell_without_markers():
    nb = tiny_lesson()
    nb.cells[2].source = "fair_coin_bits = 1.0"
    with pytest.raises(ValueError, match="BEGIN/END SOLUTION"):
        release_notebook(nb, "tiny")


def test_release_refuses_a_lesson_without_exercises():
    nb = nbformat.v4.new_notebook()
    nb.cells = [code_cell("x = 1")]
    with pytest.raises(ValueError, match="no autograded exercise"):
        release_notebook(nb, "empty")


# --- grading: broken submissions (the hostile ones: tests/test_classroom_attacks.py) -------------


@needs_sandbox
def test_grading_is_robust_to_broken_submissions(course, tmp_path):
    lesson = nbformat.read(course / "lessons" / "tiny.ipynb", as_version=4)
    released = release([course / "lessons" / "tiny.ipynb"], tmp_path / "release")[0]
    subs = tmp_path / "submissions"
    shutil.copytree(course / "lessons", subs / "full")  # the instructor's copy: full points
    (subs / "untouched").mkdir(parents=True)
    shutil.copy(released, subs / "untouched" / "tiny.ipynb")
    write_answer(subs / "loop" / "tiny.ipynb", lesson, "ex1-solution", "while True:\n    pass")
    write_answer(subs / "membomb" / "tiny.ipynb", lesson, "ex2-solution",
                 "blob = bytearray(10**11)\ndef double(x):\n    return 2 * x")
    write_answer(subs / "syntax" / "tiny.ipynb", lesson, "ex1-solution", "fair_coin_bits = = 1")
    write_answer(subs / "snoop" / "tiny.ipynb", lesson, "ex3-solution",
                 f"three = len(open({str(course / 'lessons' / 'tiny.ipynb')!r}).read()) and 3")
    # A student who edits the test cell to `pass` and gives a wrong answer gains nothing.
    edited = nbformat.read(released, as_version=4)
    for cell in edited.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "ex3-solution":
            cell.source = "three = 4"
        if gid == "ex3-test":
            cell.source = "pass"
    (subs / "edits_test").mkdir()
    nbformat.write(edited, subs / "edits_test" / "tiny.ipynb")
    (subs / "garbage").mkdir()
    (subs / "garbage" / "tiny.ipynb").write_text("{ this is not a notebook")
    (subs / "absent").mkdir()  # submitted nothing

    out = grade(subs, tmp_path / "out" / "grades.csv", lessons_dir=course / "lessons",
                limits=FAST, jobs=2, progress=False)
    got = read_grades(out)
    full = {"ex1-test": 1.0, "ex2-test": 2.0, "ex3-test": 1.0}
    expected = {
        "full": full,
        "untouched": dict.fromkeys(full, 0.0),
        "loop": {**full, "ex1-test": 0.0},
        "membomb": {**full, "ex2-test": 0.0},
        "syntax": {**full, "ex1-test": 0.0},
        "snoop": {**full, "ex3-test": 0.0},
        "edits_test": {"ex1-test": 0.0, "ex2-test": 0.0, "ex3-test": 0.0},
        "garbage": dict.fromkeys(full, 0.0),
        "absent": dict.fromkeys(full, 0.0),
    }
    assert got == {(s, e): p for s, items in expected.items() for e, p in items.items()}
    feedback = tmp_path / "out" / "grades_feedback"
    assert "time limit" in (feedback / "loop.md").read_text()
    assert "MemoryError" in (feedback / "membomb.md").read_text()
    assert "SyntaxError" in (feedback / "syntax.md").read_text()
    assert "No such file" in (feedback / "snoop.md").read_text()
    assert "cannot read the notebook" in (feedback / "garbage.md").read_text()
    assert "no submitted notebook" in (feedback / "absent.md").read_text()
    assert "NotImplementedError" in (feedback / "untouched.md").read_text()


@needs_sandbox
def test_manually_graded_answers_are_left_for_manual_grading(course, tmp_path):
    nb = tiny_lesson()
    manual = code_cell("### BEGIN SOLUTION\nexplain = 'because'\n### END SOLUTION",
                       nbgrader={"grade": True, "solution": True, "locked": False,
                                 "grade_id": "ex4-manual", "points": 5, "schema_version": 3})
    essay = markdown_cell("Your answer here.", nbgrader={
        "grade": True, "solution": True, "locked": False, "grade_id": "ex5-essay", "points": 3,
        "schema_version": 3})
    nb.cells += [manual, essay]
    assert [e.grade_id for e in exercises(nb)] == ["ex1-test", "ex2-test", "ex3-test"]
    assert [e.grade_id for e in manual_items(nb)] == ["ex4-manual", "ex5-essay"]
    lessons = tmp_path / "manual_lessons"
    lessons.mkdir()
    nbformat.write(nb, lessons / "tiny.ipynb")
    subs = tmp_path / "subs"
    write_answer(subs / "lazy" / "tiny.ipynb", nb, "ex4-manual", "pass")
    out = grade(subs, tmp_path / "g.csv", lessons_dir=lessons, limits=FAST, jobs=1,
                progress=False)
    with open(out) as f:
        rows = {r["exercise"]: r for r in csv.DictReader(f)}
    assert rows["ex4-manual"]["points"] == "" and rows["ex4-manual"]["status"] == "manual"
    assert rows["ex5-essay"]["points"] == "" and rows["ex5-essay"]["status"] == "manual"
    assert rows["TOTAL"]["points"] == "4" and rows["TOTAL"]["max_points"] == "4"
    assert rows["TOTAL"]["status"] == "total (2 manual pending)"


@needs_sandbox
def test_an_interrupted_grader_keeps_what_it_wrote_and_resumes(course, tmp_path):
    lesson = nbformat.read(course / "lessons" / "tiny.ipynb", as_version=4)
    subs = tmp_path / "submissions"
    shutil.copytree(course / "lessons", subs / "fast")
    write_answer(subs / "slow" / "tiny.ipynb", lesson, "ex3-solution",
                 "import time\ntime.sleep(120)\nthree = 3")
    out = tmp_path / "grades.csv"
    script = (f"from vaelearn.classroom import grade, Limits\n"
              f"grade({str(subs)!r}, {str(out)!r}, lessons_dir={str(course / 'lessons')!r}, "
              f"limits=Limits(cell_seconds=200, notebook_seconds=300), jobs=2, progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = Path(str(out) + ".parts")
    deadline = time.monotonic() + 90
    while not list(parts.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    part = next(iter(parts.glob("*.json")), parts / "none.json")
    os.killpg(proc.pid, signal.SIGKILL)  # as abrupt as a power cut
    proc.wait()
    assert part.exists(), "the fast submission was never graded"
    assert read_grades(out) == {("fast", "ex1-test"): 1.0, ("fast", "ex2-test"): 2.0,
                                ("fast", "ex3-test"): 1.0}
    # Resuming grades only what is missing; the slow student now gets a short time limit.
    before = part.stat().st_mtime_ns
    grade(subs, out, lessons_dir=course / "lessons", limits=Limits(cell_seconds=2,
          notebook_seconds=30), jobs=1, resume=True, progress=False)
    assert part.stat().st_mtime_ns == before
    got = read_grades(out)
    assert got[("slow", "ex3-test")] == 0.0 and got[("slow", "ex1-test")] == 1.0


def test_grade_rejects_bad_arguments_before_any_work(course, tmp_path):
    subs = tmp_path / "subs"
    shutil.copytree(course / "lessons", subs / "ada")
    lessons = course / "lessons"
    with pytest.raises(ValueError, match="submissions_dir"):
        grade(tmp_path / "nope", tmp_path / "g.csv", lessons_dir=tmp_path)
    for kwargs, match in [({"cell_seconds": 0}, "cell_seconds"),
                          ({"cell_seconds": float("inf")}, "cell_seconds"),
                          ({"notebook_seconds": float("nan")}, "notebook_seconds"),
                          ({"notebook_seconds": -1}, "notebook_seconds"),
                          ({"memory_mb": 64}, "memory_mb"), ({"memory_mb": 2.5}, "memory_mb"),
                          ({"work_mb": 0}, "work_mb")]:
        with pytest.raises(ValueError, match=match):
            Limits(**kwargs)
    for jobs in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="jobs"):
            grade(subs, tmp_path / "g.csv", lessons_dir=lessons, jobs=jobs)
    with pytest.raises(ValueError, match="inside the submissions"):
        grade(subs, subs / "g.csv", lessons_dir=lessons)
    with pytest.raises(ValueError, match="inside the submissions"):
        grade(subs, tmp_path / "g.csv", lessons_dir=lessons, feedback_dir=subs / "ada" / "fb")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(ValueError, match="existing folder"):
        grade(subs, tmp_path / "folder.csv", lessons_dir=lessons)
    assert not (tmp_path / "g.csv").exists() and not (tmp_path / "g_feedback").exists()
    assert sorted(p.name for p in subs.rglob("*")) == ["ada", "tiny.ipynb"]


def test_cli_refuses_an_infinite_timeout(course, tmp_path, capsys):
    from vaelearn.cli import main

    subs = tmp_path / "subs"
    shutil.copytree(course / "lessons", subs / "ada")
    status = main(["classroom", "grade", str(subs), "--out", str(tmp_path / "g.csv"),
                   "--lessons-dir", str(course / "lessons"), "--cell-timeout", "inf"])
    assert status == 1 and "cell_seconds" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


# --- every real lesson -------------------------------------------------------------------------


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_released_lesson_has_no_solutions_or_hidden_tests(lesson, tmp_path):
    instructor = nbformat.read(lesson, as_version=4)
    items = exercises(instructor)
    assert len(items) >= 3, "every lesson ends with at least three autograded exercises"
    student = nbformat.read(release([lesson], tmp_path)[0], as_version=4)
    released_lines = {line.strip() for c in student.cells for line in c.source.splitlines()}
    # Lines that also appear outside the solution regions (e.g. `import numpy as np`) may stay.
    outside = {line.strip() for c in release_notebook(instructor, lesson.stem).cells
               if not c.metadata.get("nbgrader", {}).get("solution")
               for line in c.source.splitlines()}
    leaked = (solution_lines(instructor) - outside) & released_lines
    assert not leaked, f"solution lines in the student version: {sorted(leaked)[:5]}"
    assert not hidden_test_lines(instructor) & released_lines - outside
    assert "BEGIN HIDDEN TESTS" not in json.dumps(student)
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    gids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in student.cells}
    assert {e.grade_id for e in items} <= gids


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_instructor_copy_scores_full_and_untouched_release_scores_zero(lesson, tmp_path):
    subs = tmp_path / "submissions"
    (subs / "instructor").mkdir(parents=True)
    shutil.copy(lesson, subs / "instructor" / lesson.name)
    release([lesson], subs / "untouched")
    out = grade(subs, tmp_path / "grades.csv", lessons_dir=lesson.parent,
                limits=Limits(cell_seconds=300, notebook_seconds=900), jobs=2, progress=False)
    got = read_grades(out)
    items = exercises(nbformat.read(lesson, as_version=4))
    feedback = (tmp_path / "grades_feedback" / "instructor.md").read_text()
    for e in items:
        assert got[("instructor", e.grade_id)] == e.points, feedback
        assert got[("untouched", e.grade_id)] == 0.0, (
            f"{e.grade_id} passes without an answer: its test must check the student's variable")


@pytest.mark.skipif(not LESSONS, reason="no lesson yet")
def test_nbgrader_autograde_scores_a_real_lesson(tmp_path):
    """nbgrader's own commands accept our lessons: generate_assignment, then autograde."""
    lesson = LESSONS[0]
    name = lesson.stem
    cdir = tmp_path / "course"
    (cdir / "source" / name).mkdir(parents=True)
    shutil.copy(lesson, cdir / "source" / name / lesson.name)
    (cdir / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.db_assignments = [dict(name={name!r})]\n"
        "c.ExecutePreprocessor.timeout = 600\n")
    env = {**os.environ, "PATH": VENV_BIN + os.pathsep + os.environ["PATH"],
           "VAELEARN_BACKEND": "numpy", "MPLBACKEND": "Agg"}

    def nbgrader(*args):
        subprocess.run([f"{VENV_BIN}/nbgrader", *args], cwd=cdir, env=env, check=True,
                       capture_output=True, timeout=900)

    nbgrader("generate_assignment", name, "--force")
    sub = cdir / "submitted" / "ada" / name
    sub.mkdir(parents=True)
    shutil.copy(lesson, sub / lesson.name)
    nbgrader("autograde", name, "--force")  # nbgrader 0.9 adds the student to its database
    nbgrader("export", "--to", "grades.csv")
    with open(cdir / "grades.csv") as f:
        (row,) = list(csv.DictReader(f))
    total = sum(e.points for e in exercises(nbformat.read(lesson, as_version=4)))
    assert float(row["score"]) == float(row["max_score"]) == total


def test_without_a_sandbox_the_grader_refuses_unless_told_it_is_unsafe(course, tmp_path,
                                                                       monkeypatch):
    from vaelearn.classroom import sandbox

    subs = tmp_path / "subs"
    shutil.copytree(course / "lessons", subs / "ada")
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)  # no bwrap, no setpriv
    sandbox.bwrap_problem.cache_clear()
    try:
        with pytest.raises(ValueError, match="unsafe-no-sandbox"):
            grade(subs, tmp_path / "g.csv", lessons_dir=course / "lessons", progress=False)
        assert not (tmp_path / "g.csv").exists()
        out = grade(subs, tmp_path / "g.csv", lessons_dir=course / "lessons", limits=FAST,
                    jobs=1, progress=False, unsafe_no_sandbox=True)
        assert read_grades(out) == {("ada", "ex1-test"): 1.0, ("ada", "ex2-test"): 2.0,
                                    ("ada", "ex3-test"): 1.0}
    finally:
        monkeypatch.undo()
        sandbox.bwrap_problem.cache_clear()
