"""Autograde submitted lessons: each submission sandboxed, each verdict decided by the grader.

Layout: ``SUBMISSIONS_DIR/<student>/<lesson file name>.ipynb``. For each (student, lesson):

1. The submission must be a regular file inside the student's folder (no symbolic link, device
   or other special file; at most ``MAX_NOTEBOOK_BYTES``). A misnamed upload such as
   ``01_... (1).ipynb`` is graded as that lesson when it is the only candidate, and flagged.
2. The notebook to run is the *instructor's* lesson with the student's answers put in: the source
   of each nbgrader solution cell, matched by ``grade_id`` (:func:`assemble`).
3. It runs in the student's process, in a bubblewrap sandbox (:mod:`.sandbox`), without its test
   cells; the tests run in a judge process that never ran student code and sees the student's
   answers only as plain data (:mod:`.judge`). A test scores its points when it passes there.
4. Results are written by the grader only, outside anything a sandbox can see: one JSON file per
   (student, lesson) under ``<out>.parts/``, each signed with an HMAC key kept there, so
   ``resume=True`` trusts only what this grader wrote. The CSV and the feedback files are
   rewritten atomically after each submission. Feedback passes through :func:`clean_text`: no
   hidden-test text, no path of the grader's machine, no line breaks a student could forge.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import csv
import hashlib
import hmac
import io
import json
import math
import os
import re
import secrets
import select
import signal
import stat
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nbformat

from .release import _nbgrader, exercises, hidden_test_lines, manual_items, release_notebook

__all__ = ["Limits", "ItemResult", "assemble", "grade_notebook", "grade", "CSV_COLUMNS",
           "MIN_MEMORY_MB", "clean_text"]

CSV_COLUMNS = ["student", "lesson", "exercise", "points", "max_points", "status"]
MIN_MEMORY_MB = 1024  # lesson 01's imports peak at ~200 MiB of address space; room for arrays
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
UNSAFE_FLAG = "--unsafe-no-sandbox"


@dataclass(frozen=True)
class Limits:
    """Limits for one submission: seconds per cell and per notebook, memory in MiB.

    Also the size of the student's private working folder (``work_mb``) and how many processes
    or threads the student's code may start (``processes``).
    """

    cell_seconds: float = 120.0
    notebook_seconds: float = 900.0
    memory_mb: int = 3072
    work_mb: int = 256
    processes: int = 32

    def __post_init__(self):
        for name in ("cell_seconds", "notebook_seconds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                    math.isfinite(v) and 0 < v <= 7 * 24 * 3600):
                raise ValueError(f"argument {name!r} must be a finite number of seconds in "
                                 f"(0, 604800], got {v!r}")
        for name, low in (("memory_mb", MIN_MEMORY_MB), ("work_mb", 16), ("processes", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= 2**40:
                raise ValueError(f"argument {name!r} must be an integer >= {low}, got {v!r}")


@dataclass
class ItemResult:
    """The grade of one exercise of one lesson for one student, with the reason."""

    student: str
    lesson: str
    exercise: str
    points: float | None  # None: left for manual grading
    max_points: float
    status: str  # passed, failed, not run, missing, unreadable, refused, tampered, manual
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
            source = cell.get("source", "")
            if meta.get("solution") and meta.get("grade_id") and isinstance(source, str):
                answers.setdefault(meta["grade_id"], source)
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


# --- feedback text ------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]")


def clean_text(text: str, *, hidden: set[str] = frozenset(), paths: list[str] = (),
               limit: int = 600) -> str:
    """``text`` made safe for a student's feedback.

    Hidden-test lines are replaced by ``[hidden test]``, the grader's paths by ``<path>``, control
    characters (line breaks included, which could forge feedback lines) by escapes such as
    ``\\n``, and the whole is cut to ``limit`` characters.
    """
    text = str(text)
    for line in sorted(hidden, key=len, reverse=True):
        if len(line) >= 6:
            text = text.replace(line, "[hidden test]")
    for p in sorted((p for p in paths if p and len(p) > 1), key=len, reverse=True):
        text = text.replace(p, "<path>")
    text = _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode(), text)
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _code_span(text: str) -> str:
    """``text`` (already through :func:`clean_text`: no backticks, no line breaks) as a Markdown
    code span: shown literally, so HTML or Markdown in a student's error cannot render."""
    text = text.replace("`", "'")
    return f"`{text}`" if text.strip() else text


def _grader_paths(*extra) -> list[str]:
    import vaelearn

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.expanduser("~"),
             os.getcwd(), str(Path(vaelearn.__file__).resolve().parent.parent),
             os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    for e in extra:
        paths |= {str(e), os.path.realpath(e)}
    return sorted((p for p in paths if p not in ("/", "")), key=len, reverse=True)


# --- one submission ---------------------------------------------------------------------------


def read_submission(path: Path, folder: Path) -> tuple[nbformat.NotebookNode | None, str | None]:
    """``(notebook, None)``, or ``(None, why refused)``: a regular file inside ``folder`` only."""
    try:
        st = os.lstat(path)
    except OSError:
        return None, "no submitted notebook"
    if stat.S_ISLNK(st.st_mode):
        return None, "refused: the submission is a symbolic link, not a file"
    if not stat.S_ISREG(st.st_mode):
        return None, "refused: the submission is not a regular file"
    if os.path.realpath(path.parent) != os.path.realpath(folder):
        return None, "refused: the submission lies outside the student's folder"
    if st.st_size > MAX_NOTEBOOK_BYTES:
        return None, f"refused: the notebook is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return None, f"cannot read the notebook: {type(exc).__name__}"
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None, "refused: the submission is not a regular file"
        data = f.read(MAX_NOTEBOOK_BYTES + 1)
    try:
        nb = _nbformat().reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001 - a broken file of any kind is the student's
        return None, f"cannot read the notebook: {type(exc).__name__}"
    if not isinstance(nb.get("cells"), list):
        return None, "cannot read the notebook: no cells"
    return nb, None


def _judge_memory_limit(memory_mb: int) -> int:
    """The judge's address-space limit in bytes: what it has mapped now plus ``memory_mb``.

    The judge runs the instructor's cells and decodes the student's answers; whatever a
    student sends, it cannot take more memory than a student's own process may.
    """
    try:
        with open("/proc/self/status") as f:
            now = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        now = 2 << 30
    return now + int(memory_mb) * 1024 * 1024


def _judge_in_child(payload: dict, seconds: float, memory_mb: int | None = None) -> dict:
    """Run the judge in a forked process (fresh state per submission); kill it after ``seconds``.

    ``memory_mb``: address space the judge may add to what the grader has mapped (unlimited
    if ``None``).
    """
    from .judge import judge_entry

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(r)
            if memory_mb is not None:
                import resource

                limit = _judge_memory_limit(memory_mb)
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the child's whole life
            data = json.dumps(judge_entry(payload)).encode()
        except BaseException as exc:  # noqa: BLE001
            data = json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
            code = 1
        try:
            while data:
                data = data[os.write(w, data):]
        finally:
            os._exit(code)
    os.close(w)
    chunks, deadline = [], time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([r], [], [], max(0.0, left))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                return {"error": "the grader's time limit for this notebook ran out"}
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        return {"error": "the judge process ended without a result"}


def grade_notebook(instructor_path: str | os.PathLike, submission_path: str | os.PathLike | None,
                   *, student: str = "student", limits: Limits = Limits(),
                   mask: list[str | os.PathLike] = (), unsafe_no_sandbox: bool = False,
                   refused: str | None = None, label: str = "vaelearn") -> list[ItemResult]:
    """Grade one submitted notebook against the instructor's lesson.

    Parameters
    ----------
    instructor_path : path-like
        The instructor's lesson notebook (solutions and hidden tests in it).
    submission_path : path-like or None
        The student's notebook (a regular file); ``None`` or a missing, refused or unreadable
        file scores 0 on every exercise.
    student : str
        Name used in the results.
    limits : Limits
        Time, memory, disk and process limits.
    mask : list of path-like
        Private folders to hide from the student's process should they lie inside a folder the
        sandbox shows (the lessons, submissions and output folders are never shown anyway).
    unsafe_no_sandbox : bool
        Run without bubblewrap (no isolation): for trusted code only.
    refused : str, optional
        A reason the submission was refused before reading (scores 0 with that note).
    label : str
        Names the grading run in the process list (``vaelearn-grade-<pid of grade()>``).

    Returns
    -------
    list of ItemResult
        One per exercise of the lesson, in order: autograded tests, then manually graded
        answers (points ``None``, status ``manual``).
    """
    instructor_path = Path(instructor_path)
    lesson = instructor_path.name
    instructor = _nbformat().read(instructor_path, as_version=4)
    items = exercises(instructor)
    manual = [ItemResult(student, lesson, e.grade_id, None, e.points, "manual",
                         "left for manual grading") for e in manual_items(instructor)]

    def all_items(status, message):
        return [ItemResult(student, lesson, e.grade_id, 0.0, e.points, status, message)
                for e in items] + manual

    if refused:
        return all_items("refused", refused)
    if submission_path is None:
        return all_items("missing", "no submitted notebook")
    submission_path = Path(submission_path)
    submission, why = read_submission(submission_path, submission_path.parent)
    if submission is None:
        status = ("missing" if why.startswith("no ") else
                  "refused" if why.startswith("refused") else "unreadable")
        return all_items(status, why)
    nb, notes = assemble(instructor, submission, instructor_path.stem)
    if not unsafe_no_sandbox:
        from .sandbox import bwrap_problem

        problem = bwrap_problem()
        if problem:
            raise RuntimeError(f"no sandbox: {problem}; refusing to run student code "
                               f"(pass {UNSAFE_FLAG} for trusted code only)")
    cpu = int(limits.notebook_seconds * 2) + 60
    payload = {
        "instructor": instructor, "assembled": nb, "cell_seconds": limits.cell_seconds,
        "notebook_seconds": limits.notebook_seconds,
        "sandbox": {"memory_mb": limits.memory_mb, "cpu_seconds": cpu, "work_mb": limits.work_mb,
                    "processes": limits.processes, "mask": [str(m) for m in mask],
                    "unsafe": bool(unsafe_no_sandbox), "label": label},
    }
    # The judge itself runs the instructor's cells too; allow for its own time generously.
    result = _judge_in_child(payload, 2 * limits.notebook_seconds + 180, limits.memory_mb)
    if "error" in result:
        return all_items("failed", f"grader error: {result['error']}")
    notes += result.get("notes", [])
    if result.get("start_failed"):
        return all_items("failed", "; ".join(notes))
    if result.get("tampered"):
        return all_items("tampered", "0 points: the submission tampered with the grading "
                         "(a canary check went wrong); instructor, please review it by hand")
    errors = {int(k): v for k, v in result["cell_errors"].items()}
    out = []
    for e in items:
        verdict = result["tests"].get(e.grade_id)
        if verdict is None:
            out.append(ItemResult(student, lesson, e.grade_id, 0.0, e.points, "not run",
                                  "; ".join(["not run", *notes])))
            continue
        if verdict["passed"]:
            out.append(ItemResult(student, lesson, e.grade_id, e.points, e.points, "passed"))
            continue
        err = verdict["message"] or "the test failed"
        answer = next((j for j in range(e.cell_index - 1, -1, -1)
                       if _nbgrader(nb.cells[j]).get("solution")), None)
        cause = errors.get(answer) if answer is not None else None
        if cause and cause != err:
            err = f"{err} (answer cell: {cause})"
        out.append(ItemResult(student, lesson, e.grade_id, 0.0, e.points,
                              "not run" if err.startswith("not run") else "failed",
                              "; ".join([err, *notes])))
    return out + manual


# --- many submissions -----------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name[:40]}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _grade_job(args):
    instructor, submission, student, limits, mask, unsafe, refused, label = args
    try:
        return grade_notebook(instructor, submission, student=student, limits=limits, mask=mask,
                              unsafe_no_sandbox=unsafe, refused=refused, label=label)
    except Exception as exc:  # noqa: BLE001 - one submission never stops the others
        nb = _nbformat().read(instructor, as_version=4)
        return [ItemResult(student, Path(instructor).name, e.grade_id, 0.0, e.points, "failed",
                           f"grader error: {type(exc).__name__}: {exc}")
                for e in exercises(nb)]


def _digest(path: Path | None) -> str:
    if path is None:
        return "missing"
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return "not-a-file"
        flags = os.O_NOFOLLOW | os.O_NONBLOCK
        with open(path, "rb", opener=lambda p, f: os.open(p, f | flags)) as fh:
            return hashlib.sha256(fh.read(MAX_NOTEBOOK_BYTES + 1)).hexdigest()[:32]
    except OSError:
        return "unreadable"


_FORMULA = re.compile(r"(?:^|[,;\t|\r\n])\s*[=+\-@%]")


def _safe_cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula.

    A cell is made text (a leading ``'``) when its first non-blank character could start a
    formula (``= + - @ %``), or when such a character follows a separator a spreadsheet may
    split on (``, ; tab |`` or a line break), e.g. `` =1+2`` or ``;=1+2``.
    """
    value = str(value)
    return "'" + value if value[:1] in ("\t", "\r") or _FORMULA.search(value) else value


_HASHED = re.compile(r".*-[0-9a-f]{12}")


def _file_stem(student: str) -> str:
    """A file name for a student's feedback, different for different folder names.

    A short, plain folder name is kept as it is; any other name (and a plain one that looks like
    a hashed name, ``...-<12 hex digits>``) becomes ``<name made plain>-<12 hex digits of its
    SHA-256>``. So two folders never share a feedback file (short of a 48-bit hash collision,
    which :func:`grade` also checks for).
    """
    if (len(student.encode()) <= 120 and re.fullmatch(r"[\w.@+-]+", student)
            and not student.startswith(".") and not _HASHED.fullmatch(student)):
        return student
    short = re.sub(r"[^\w.@+-]", "_", student)[:60].lstrip(".")
    return f"{short}-{hashlib.sha256(student.encode()).hexdigest()[:12]}"


_COPY_SUFFIX = re.compile(r"(?:\s*\(\d+\)|[ _-]*copy(?: \d+)?|[ _-]+v?\d+)?")


def _find_upload(folder: Path, lesson: str, others: set[str]) -> tuple[Path | None, str | None]:
    """The student's file for ``lesson``: the exact name, else one misnamed upload of it."""
    exact = folder / lesson
    if os.path.lexists(exact):
        return exact, None
    stem = lesson[:-len(".ipynb")]
    pattern = re.compile(re.escape(stem) + _COPY_SUFFIX.pattern + r"\.ipynb", re.I)
    try:
        names = sorted(e.name for e in os.scandir(folder))
    except OSError:
        return None, None
    found = [n for n in names if n not in others and pattern.fullmatch(n)]
    if len(found) == 1:
        return folder / found[0], f"graded the file {found[0]!r} as {lesson!r} (misnamed upload)"
    if len(found) > 1:
        return None, f"refused: several candidate files for {lesson!r}: {', '.join(found)}"
    return None, None


def _check_out(subs: Path, out_csv: Path, feedback_dir: Path) -> None:
    subs_real = os.path.realpath(subs)
    for arg, p in (("out_csv", out_csv), ("feedback_dir", feedback_dir)):
        real = os.path.realpath(p)
        if real == subs_real or real.startswith(subs_real.rstrip("/") + "/"):
            raise ValueError(f"argument {arg!r}: {p} lies inside the submissions folder")
    if out_csv.is_dir():
        raise ValueError(f"argument 'out_csv': {out_csv} is an existing folder, not a CSV file")
    if feedback_dir.exists() and not feedback_dir.is_dir():
        raise ValueError(f"argument 'feedback_dir': {feedback_dir} exists and is not a folder")


def grade(submissions_dir: str | os.PathLike, out_csv: str | os.PathLike, *,
          lessons_dir: str | os.PathLike = "lessons", lessons: list[str] | None = None,
          feedback_dir: str | os.PathLike | None = None, limits: Limits = Limits(),
          jobs: int | None = None, resume: bool = False, progress: bool = True,
          unsafe_no_sandbox: bool = False) -> Path:
    """Grade every ``SUBMISSIONS_DIR/<student>/<lesson>.ipynb``; write the CSV and feedback.

    Parameters
    ----------
    submissions_dir : path-like
        One folder per student.
    out_csv : path-like
        The grades, columns ``student,lesson,exercise,points,max_points,status``: one row per
        student, lesson and exercise (``points`` empty and status ``manual`` for an answer left
        to manual grading), then one ``TOTAL`` row per student. A missing, refused or
        unreadable notebook gives rows with 0 points. Must not lie inside ``submissions_dir``
        or be an existing folder.
    lessons_dir : path-like
        The instructor's lessons (solutions in them).
    lessons : list of str, optional
        Lesson file names to grade. Default: every lesson submitted by at least half the
        students is graded for everyone (0 points where missing); a lesson fewer students
        submitted is graded only for those who did.
    feedback_dir : path-like, optional
        One ``<student>.md`` per student saying which tests failed and why
        (default: ``<out_csv stem>_feedback`` beside the CSV).
    limits : Limits
        Per-cell and per-notebook time, memory, disk and processes.
    jobs : int, optional
        Submissions graded at once, >= 1 (default: the number of CPU cores).
    resume : bool
        Skip (student, lesson) pairs this grader already graded from the same files.
    unsafe_no_sandbox : bool
        Run student code without bubblewrap: only for trusted code, where no sandbox exists.

    Returns
    -------
    Path
        The CSV written.
    """
    subs, lessons_dir, out_csv = Path(submissions_dir), Path(lessons_dir), Path(out_csv)
    if not isinstance(limits, Limits):
        raise ValueError(f"argument 'limits' must be a Limits, got {type(limits).__name__}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"argument 'jobs' must be an integer >= 1, got {jobs!r}")
    if not subs.is_dir():
        raise ValueError(f"argument 'submissions_dir': {subs} is not a folder")
    if not lessons_dir.is_dir():
        raise ValueError(f"argument 'lessons_dir': {lessons_dir} is not a folder")
    feedback_dir = Path(feedback_dir or out_csv.with_name(out_csv.stem + "_feedback"))
    _check_out(subs, out_csv, feedback_dir)
    if not unsafe_no_sandbox:
        from .sandbox import bwrap_problem

        problem = bwrap_problem()
        if problem:
            raise ValueError(f"no sandbox for student code: {problem}. Install bubblewrap "
                             f"(Debian/Ubuntu: apt install bubblewrap) on Linux with user "
                             f"namespaces, or pass {UNSAFE_FLAG} to run trusted code unisolated")
    students = sorted(e.name for e in os.scandir(subs)
                      if not e.name.startswith(".") and (e.is_dir(follow_symlinks=False)
                                                         or e.is_symlink()))
    available = sorted(p.name for p in lessons_dir.glob("*.ipynb"))
    if lessons is None:
        count = {name: 0 for name in available}
        for s in students:
            folder = subs / s
            if folder.is_symlink():
                continue
            for name in available:
                if _find_upload(folder, name, set(available))[0] is not None:
                    count[name] += 1
        class_lessons = [n for n in available if count[n] and 2 * count[n] >= len(students)]
        extra = [n for n in available if count[n] and n not in class_lessons]
    else:
        for name in lessons:
            if name not in available:
                raise ValueError(f"argument 'lessons': {name} is not in {lessons_dir}")
        class_lessons, extra = list(dict.fromkeys(lessons)), []
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    parts = out_csv.with_name(out_csv.name + ".parts")
    parts.mkdir(exist_ok=True)
    os.chmod(parts, 0o700)
    feedback_dir.mkdir(parents=True, exist_ok=True)
    key_file = parts / ".hmac-key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, secrets.token_hex(32).encode())
        os.close(fd)
    key = key_file.read_bytes()
    mask = [str(p.resolve()) for p in (subs, lessons_dir, out_csv.parent, feedback_dir, parts)]
    hidden = {name: hidden_test_lines(_nbformat().read(lessons_dir / name, as_version=4))
              for name in class_lessons + extra}
    paths = _grader_paths(subs.resolve(), lessons_dir.resolve(), out_csv.parent.resolve(),
                          feedback_dir.resolve())

    def sign(body: dict) -> str:
        return hmac.new(key, json.dumps(body, sort_keys=True).encode(), "sha256").hexdigest()

    def part_path(s, name):
        return parts / (hashlib.sha256(f"{s}\0{name}".encode()).hexdigest()[:32] + ".json")

    def load_part(s, name):
        try:
            data = json.loads(part_path(s, name).read_text())
            body = {"key": data["key"], "items": data["items"]}
            if hmac.compare_digest(str(data.get("mac", "")), sign(body)):
                return body
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    stems = {s: f"{_file_stem(s)}.md" for s in students}
    if len(set(stems.values())) != len(stems):  # a hash collision: name them by position
        stems = {s: f"{_file_stem(s)}-{i}.md" for i, s in enumerate(students)}
    plan: dict[str, list[str]] = {}
    todo = []
    for s in students:
        folder = subs / s
        mine = list(class_lessons)
        if lessons is None and not folder.is_symlink():
            mine += [n for n in extra if _find_upload(folder, n, set(available))[0] is not None]
        plan[s] = mine
        for name in mine:
            refused = None
            if folder.is_symlink():
                sub, refused = None, "refused: the student's folder is a symbolic link"
            else:
                sub, note = _find_upload(folder, name, set(available))
                if note and note.startswith("refused"):
                    refused = note
            key_s = f"{_digest(sub)}-{_digest(lessons_dir / name)}-{refused}"
            if resume:
                old = load_part(s, name)
                if old is not None and old["key"] == key_s:
                    continue
            todo.append(((str(lessons_dir / name), None if sub is None else str(sub), s, limits,
                          mask, unsafe_no_sandbox, refused, f"vaelearn-grade-{os.getpid()}"),
                         (s, name), key_s,
                         note if not refused and sub is not None else None))

    def collect():
        rows = []
        for s in students:
            for name in plan[s]:
                body = load_part(s, name)
                if body is not None:
                    rows += [ItemResult(**r) for r in body["items"]]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for s in students:
            mine = [r for r in rows if r.student == s]
            for r in mine:
                w.writerow([_safe_cell(r.student), _safe_cell(r.lesson), _safe_cell(r.exercise),
                            "" if r.points is None else f"{r.points:g}", f"{r.max_points:g}",
                            r.status])
            auto = [r for r in mine if r.points is not None]
            if mine:
                pending = sum(r.points is None for r in mine)
                w.writerow([_safe_cell(s), "", "TOTAL", f"{sum(r.points for r in auto):g}",
                            f"{sum(r.max_points for r in auto):g}",
                            f"total ({pending} manual pending)" if pending else "total"])
        _write_atomic(out_csv, buf.getvalue())
        return rows

    def write_feedback(student, rows):
        mine = [r for r in rows if r.student == student]
        auto = [r for r in mine if r.points is not None]
        got, total = sum(r.points for r in auto), sum(r.max_points for r in auto)
        lines = [f"# Feedback for {_code_span(clean_text(student, paths=paths))}", "",
                 f"Total: {got:g} / {total:g} points (autograded)", ""]
        for name in plan[student]:
            lines += [f"## {name}", ""]
            for r in (r for r in mine if r.lesson == name):
                mark = "passed" if r.status == "passed" else r.status.upper()
                pts = "manual" if r.points is None else f"{r.points:g}"
                msg = clean_text(r.message, hidden=hidden.get(name, set()), paths=paths)
                lines.append(f"- `{r.exercise}`: {pts}/{r.max_points:g} {mark}"
                             + (f" — {_code_span(msg)}" if msg else ""))
            lines.append("")
        _write_atomic(feedback_dir / stems[student], "\n".join(lines))

    def store(student, name, key_s, items, note):
        if note:
            for r in items:
                r.message = "; ".join(x for x in (note, r.message) if x)
        body = {"key": key_s, "items": [asdict(r) for r in items]}
        _write_atomic(part_path(student, name), json.dumps({**body, "mac": sign(body)}))

    jobs = int(jobs or os.cpu_count() or 1)
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="grading", unit="notebook")
    try:
        with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_grade_job, args): (who, key_s, note)
                       for args, who, key_s, note in todo}
            for fut in cf.as_completed(futures):
                (student, name), key_s, note = futures[fut]
                try:
                    items = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                    nb = _nbformat().read(lessons_dir / name, as_version=4)
                    items = [ItemResult(student, name, e.grade_id, 0.0, e.points, "failed",
                                        f"grader error: {type(exc).__name__}")
                             for e in exercises(nb)]
                store(student, name, key_s, items, note)
                write_feedback(student, collect())
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        rows = collect()
        for s in students:
            write_feedback(s, rows)
    return out_csv


def _nbformat():
    """nbformat, imported on first use (it takes seconds; the student's sandbox never needs it)."""
    import nbformat

    return nbformat
