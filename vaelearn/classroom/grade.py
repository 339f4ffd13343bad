"""Autograde submitted lessons, each in its own limited, guarded kernel.

Layout: ``SUBMISSIONS_DIR/<student>/<lesson file name>.ipynb``. For each (student, lesson) the
grader builds the notebook to run from the *instructor's* copy of the lesson, taking from the
submission only the answers: the source of each nbgrader solution cell, matched by ``grade_id``.
Test cells (hidden tests included) and every other cell therefore come from the instructor, so
editing or deleting a test cell gains nothing. The notebook runs in a fresh kernel started by
:mod:`vaelearn.classroom.sandbox` (memory, CPU and file-size limits, a file/process/network guard)
in its own temporary directory, with a time limit per cell and per notebook. A test cell scores
its points when it runs without error.

Results are written as they come: one JSON file per (student, lesson) under ``<out>.parts/``
(temp file + rename), and the CSV and the feedback files are rewritten atomically after each one.
Stopping the grader loses nothing already graded, and ``resume=True`` skips it next time.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import csv
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from .release import _nbgrader, exercises, release_notebook

__all__ = ["Limits", "ItemResult", "assemble", "grade_notebook", "grade", "CSV_COLUMNS"]

CSV_COLUMNS = ["student", "lesson", "exercise", "points", "max_points"]


@dataclass(frozen=True)
class Limits:
    """Limits for one submission: seconds per cell and per notebook, memory in MiB."""

    cell_seconds: float = 120.0
    notebook_seconds: float = 900.0
    memory_mb: int = 3072

    def __post_init__(self):
        for name in ("cell_seconds", "notebook_seconds", "memory_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"argument {name!r} must be positive, got {getattr(self, name)}")


@dataclass
class ItemResult:
    """The grade of one exercise of one lesson for one student, with the reason."""

    student: str
    lesson: str
    exercise: str
    points: float
    max_points: float
    status: str  # "passed", "failed", "not run", "missing", "unreadable"
    message: str = ""


def assemble(instructor: nbformat.NotebookNode, submission: nbformat.NotebookNode | None,
             name: str = "lesson") -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to grade: the instructor's cells with the student's answers put in.

    Each nbgrader solution cell of the instructor's notebook is replaced by the submission's cell
    with the same ``grade_id`` (its source only), or by the released stub if the submission lacks
    it. Returns the notebook and a list of notes (e.g. answers that were missing).
    """
    released = release_notebook(instructor, name)
    stub = {(_nbgrader(c).get("grade_id")): c.source for c in released.cells
            if _nbgrader(c).get("solution")}
    answers = {}
    if submission is not None:
        for cell in submission.cells:
            meta = _nbgrader(cell)
            if meta.get("solution") and meta.get("grade_id"):
                answers.setdefault(meta["grade_id"], cell.get("source", ""))
    nb = copy.deepcopy(instructor)
    notes = []
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if not meta.get("solution"):
            continue
        gid = meta.get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
        else:
            cell.source = stub.get(gid, "raise NotImplementedError()")
            notes.append(f"answer cell {gid!r} missing from the submission")
    return nb, notes


def _matplotlib_cache_files() -> list[Path]:
    try:
        import matplotlib

        return sorted(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))
    except Exception:  # noqa: BLE001 - only an optimisation
        return []


def _kernel_env(workdir: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "SYSTEMROOT")
           if k in os.environ}
    mpl = workdir / ".matplotlib"
    mpl.mkdir(exist_ok=True)
    for f in _matplotlib_cache_files():
        shutil.copy(f, mpl / f.name)
    env.update(HOME=str(workdir), TMPDIR=str(workdir), MPLCONFIGDIR=str(mpl),
               IPYTHONDIR=str(workdir / ".ipython"), MPLBACKEND="Agg",
               VAELEARN_BACKEND="numpy", VAELEARN_DEVICE="cpu", PYTHONHASHSEED="0",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


def _run(nb, workdir: Path, deny: list[Path], limits: Limits) -> tuple[dict[int, str], list[str]]:
    """Execute ``nb`` in place in a sandboxed kernel; return per-cell problems and notes."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    specdir = Path(tempfile.mkdtemp(prefix="vaelearn-spec-"))
    problems: dict[int, str] = {}
    notes: list[str] = []
    km = None
    try:
        argv = [sys.executable, "-m", "vaelearn.classroom.sandbox", "--workdir", str(workdir),
                "--memory-mb", str(limits.memory_mb),
                "--cpu-seconds", str(int(limits.notebook_seconds * 2) + 30)]
        for d in deny:
            argv += ["--deny", str(d)]
        argv += ["-f", "{connection_file}"]
        (specdir / "vaelearn-sandbox").mkdir()
        (specdir / "vaelearn-sandbox" / "kernel.json").write_text(json.dumps(
            {"argv": argv, "display_name": "vaelearn sandbox", "language": "python",
             "env": _kernel_env(workdir)}))
        ksm = KernelSpecManager(kernel_dirs=[str(specdir)])
        # Async, as nbclient's own: with a blocking manager its per-cell timeout never fires.
        # IPC sockets (files in specdir), not TCP: no port is opened for a student's kernel.
        km = AsyncKernelManager(kernel_name="vaelearn-sandbox", kernel_spec_manager=ksm,
                                transport="ipc", ip=str(specdir / "kernel"))
        client = NotebookClient(nb, km=km, timeout=int(limits.cell_seconds), allow_errors=True,
                                interrupt_on_timeout=True, startup_timeout=120,
                                resources={"metadata": {"path": str(workdir)}})
        start = time.monotonic()
        dead = None
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                if dead:
                    problems[i] = f"not run: {dead}"
                    continue
                left = limits.notebook_seconds - (time.monotonic() - start)
                if left <= 0:
                    problems[i] = f"not run: notebook time limit ({limits.notebook_seconds:.0f} s)"
                    continue
                client.timeout = max(1, int(min(limits.cell_seconds, left)))
                t0 = time.monotonic()
                try:
                    client.execute_cell(cell, i)
                except CellTimeoutError:
                    problems[i] = f"time limit ({client.timeout} s) exceeded"
                except DeadKernelError:
                    dead = "the kernel died (memory or CPU limit, or a crash)"
                    problems[i] = dead
                    continue
                if time.monotonic() - t0 >= client.timeout - 0.5 and i not in problems:
                    problems[i] = f"time limit ({client.timeout} s) exceeded; interrupted"
    except DeadKernelError:
        notes.append("the kernel died")
    except RuntimeError as exc:  # kernel failed to start
        notes.append(f"kernel failed: {exc}")
    finally:
        # nbclient leaves a kernel manager it did not create running: stop the kernel here.
        if km is not None and km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(specdir, ignore_errors=True)
    violations = workdir / ".sandbox-violations"
    if violations.exists():
        notes += [f"refused by the sandbox: {v}" for v in
                  violations.read_text().splitlines()[:20]]
    return problems, notes


def _error_text(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            msg = f"{out.get('ename')}: {out.get('evalue')}".strip()
            return msg[:500]
    return None


def grade_notebook(instructor_path: str | os.PathLike, submission_path: str | os.PathLike | None,
                   *, student: str = "student", limits: Limits = Limits(),
                   deny: list[str | os.PathLike] = ()) -> list[ItemResult]:
    """Grade one submitted notebook against the instructor's lesson.

    Parameters
    ----------
    instructor_path : path-like
        The instructor's lesson notebook (solutions and hidden tests in it).
    submission_path : path-like or None
        The student's notebook; ``None`` or a missing/unreadable file scores 0 on every exercise.
    student : str
        Name used in the results.
    limits : Limits
        Time and memory limits.
    deny : list of path-like
        Paths the student's code may not open at all (added to the instructor's lesson folder).

    Returns
    -------
    list of ItemResult
        One per autograded exercise of the lesson, in order.
    """
    instructor_path = Path(instructor_path)
    lesson = instructor_path.name
    instructor = nbformat.read(instructor_path, as_version=4)
    items = exercises(instructor)

    def all_items(status, message):
        return [ItemResult(student, lesson, e.grade_id, 0.0, e.points, status, message)
                for e in items]

    if submission_path is None or not Path(submission_path).exists():
        return all_items("missing", "no submitted notebook")
    try:
        submission = nbformat.read(submission_path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - a broken file of any kind is the student's
        reason = f"cannot read the notebook: {type(exc).__name__}: {exc}"
        return all_items("unreadable", reason[:500])

    nb, notes = assemble(instructor, submission, instructor_path.stem)
    workdir = Path(tempfile.mkdtemp(prefix="vaelearn-grade-"))
    try:
        denied = [instructor_path.parent.resolve(), Path(submission_path).resolve().parent.parent,
                  *[Path(d).resolve() for d in deny]]
        problems, run_notes = _run(nb, workdir, denied, limits)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    notes += run_notes
    # The answer cell before each test explains a failure best (e.g. its SyntaxError).
    results = []
    for e in items:
        cell = nb.cells[e.cell_index]
        err = problems.get(e.cell_index) or _error_text(cell)
        if cell.get("execution_count") is None and not err:
            err = "not run"
        if err:
            answer = next((j for j in range(e.cell_index - 1, -1, -1)
                           if _nbgrader(nb.cells[j]).get("solution")), None)
            cause = answer is not None and (problems.get(answer) or _error_text(nb.cells[answer]))
            if cause and cause != err:
                err = f"{err} (answer cell raised {cause})"
            results.append(ItemResult(student, lesson, e.grade_id, 0.0, e.points,
                                      "not run" if err.startswith("not run") else "failed",
                                      "; ".join([err, *notes])[:1000]))
        else:
            results.append(ItemResult(student, lesson, e.grade_id, e.points, e.points, "passed"))
    return results


# --- many submissions -----------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _grade_job(args):
    instructor, submission, student, limits, deny = args
    try:
        return grade_notebook(instructor, submission, student=student, limits=limits, deny=deny)
    except Exception as exc:  # noqa: BLE001 - one submission never stops the others
        nb = nbformat.read(instructor, as_version=4)
        return [ItemResult(student, Path(instructor).name, e.grade_id, 0.0, e.points, "failed",
                           f"grader error: {type(exc).__name__}: {exc}"[:500])
                for e in exercises(nb)]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "missing"


def grade(submissions_dir: str | os.PathLike, out_csv: str | os.PathLike, *,
          lessons_dir: str | os.PathLike = "lessons", lessons: list[str] | None = None,
          feedback_dir: str | os.PathLike | None = None, limits: Limits = Limits(),
          jobs: int | None = None, resume: bool = False, progress: bool = True) -> Path:
    """Grade every ``SUBMISSIONS_DIR/<student>/<lesson>.ipynb``; write the CSV and feedback.

    Parameters
    ----------
    submissions_dir : path-like
        One folder per student.
    out_csv : path-like
        The grades, columns ``student,lesson,exercise,points,max_points``: one row per student,
        lesson and exercise. A missing or unreadable notebook gives rows with 0 points.
    lessons_dir : path-like
        The instructor's lessons (solutions in them).
    lessons : list of str, optional
        Lesson file names to grade; default: every lesson any student submitted.
    feedback_dir : path-like, optional
        One ``<student>.md`` per student saying which tests failed and why
        (default: ``<out_csv stem>_feedback`` beside the CSV).
    limits : Limits
        Per-cell and per-notebook time, memory.
    jobs : int, optional
        Submissions graded at once (default: the number of CPU cores).
    resume : bool
        Skip (student, lesson) pairs already graded from the same files.

    Returns
    -------
    Path
        The CSV written.
    """
    subs, lessons_dir, out_csv = Path(submissions_dir), Path(lessons_dir), Path(out_csv)
    if not subs.is_dir():
        raise ValueError(f"argument 'submissions_dir': {subs} is not a folder")
    if not lessons_dir.is_dir():
        raise ValueError(f"argument 'lessons_dir': {lessons_dir} is not a folder")
    students = sorted(p.name for p in subs.iterdir() if p.is_dir() and not p.name.startswith("."))
    if lessons is None:
        lessons = sorted({f.name for s in students for f in (subs / s).glob("*.ipynb")
                          if (lessons_dir / f.name).exists()})
    for name in lessons:
        if not (lessons_dir / name).exists():
            raise ValueError(f"argument 'lessons': {name} is not in {lessons_dir}")
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    parts = out_csv.with_name(out_csv.name + ".parts")
    parts.mkdir(exist_ok=True)
    feedback_dir = Path(feedback_dir or out_csv.with_name(out_csv.stem + "_feedback"))
    feedback_dir.mkdir(parents=True, exist_ok=True)
    deny = [subs.resolve(), out_csv.parent.resolve(), feedback_dir.resolve()]

    todo = []
    for s in students:
        for name in lessons:
            sub = subs / s / name
            key = f"{_digest(sub)}-{_digest(lessons_dir / name)}"
            part = parts / f"{s}__{name}.json"
            if resume and part.exists() and json.loads(part.read_text()).get("key") == key:
                continue
            todo.append(((lessons_dir / name, sub if sub.exists() else None, s, limits, deny),
                         part, key))

    def collect():
        rows = []
        for s in students:
            for name in lessons:
                part = parts / f"{s}__{name}.json"
                if part.exists():
                    rows += [ItemResult(**r) for r in json.loads(part.read_text())["items"]]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow([r.student, r.lesson, r.exercise, f"{r.points:g}", f"{r.max_points:g}"])
        _write_atomic(out_csv, buf.getvalue())
        return rows

    def write_feedback(student, rows):
        mine = [r for r in rows if r.student == student]
        got, total = sum(r.points for r in mine), sum(r.max_points for r in mine)
        lines = [f"# Feedback for {student}", "", f"Total: {got:g} / {total:g} points", ""]
        for name in lessons:
            lines += [f"## {name}", ""]
            for r in (r for r in mine if r.lesson == name):
                mark = "passed" if r.status == "passed" else r.status.upper()
                lines.append(f"- `{r.exercise}`: {r.points:g}/{r.max_points:g} {mark}"
                             + (f" — {r.message}" if r.message else ""))
            lines.append("")
        _write_atomic(feedback_dir / f"{student}.md", "\n".join(lines))

    jobs = max(1, int(jobs or os.cpu_count() or 1))
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="grading", unit="notebook")
    with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_grade_job, args): (args[2], part, key) for args, part, key in todo}
        for fut in cf.as_completed(futures):
            student, part, key = futures[fut]
            items = fut.result()
            _write_atomic(part, json.dumps({"key": key, "items": [asdict(r) for r in items]}))
            rows = collect()
            write_feedback(student, rows)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    rows = collect()
    for s in students:
        write_feedback(s, rows)
    return out_csv
