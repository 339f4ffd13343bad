"""The two public editions of a lesson, generated from the instructor's source notebook.

The lessons under ``lessons/`` are the instructors' sources: they hold the solutions and the
hidden tests and they use MyST markup that only the Jupyter Book understands. Students never meet
them directly; they meet one of two generated editions:

* the **student edition** (:func:`student_notebook`): nbgrader's release transformation
  (:func:`vaelearn.classroom.release.release_notebook`: solutions replaced by ``raise
  NotImplementedError()``, hidden tests removed, outputs cleared), with the book-only markup
  made plain Markdown that every notebook front end renders (JupyterLab, the classic notebook,
  Colab, nbconvert): ``{cite}`key``` becomes "(Author, year)" as in the book, with a reference
  list at the end of the lesson, a labelled display equation ``$$ ... $$ (eq-x)`` gets the
  book's number as ``\\tag{N.k}`` and ``{eq}`eq-x``` becomes "equation (N.k)". A first code cell
  installs vaelearn when it is missing (Colab) and does nothing otherwise. These are the
  notebooks that ``vaelearn lessons DIR`` writes, that ship inside the package
  (``vaelearn/student_lessons/``) and that the book's launch buttons open.
* the **book edition** (:func:`book_notebook`): what the book's lesson pages show. Each exercise
  appears as the student sees it (the ``raise NotImplementedError()`` stub, not executed), followed
  by the instructor's solution in a collapsed "Show solution" toggle (myst-nb's ``hide-cell`` tag);
  test cells appear without their hidden tests. MyST markup stays (the book links it).

Command line (``make student`` and ``make book`` run it)::

    python -m vaelearn.classroom.editions student lessons/*.ipynb --out vaelearn/student_lessons
    python -m vaelearn.classroom.editions book lessons/*.ipynb --out build/book-lessons
    python -m vaelearn.classroom.editions check lessons/*.ipynb --out vaelearn/student_lessons
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from pathlib import Path

import nbformat

from .._extras import GIT_URL
from .release import _nbgrader, release_notebook

__all__ = [
    "INSTALL_SOURCE",
    "PIP_TARGET",
    "book_notebook",
    "equation_numbers",
    "read_bib",
    "student_notebook",
    "write_editions",
]

PIP_TARGET = f"vaelearn @ {GIT_URL}"
"""What the first cell of a student edition installs when vaelearn is missing (the project is
not on a package index; see "How to run the lessons" in the book's introduction)."""

INSTALL_SOURCE = f"""\
# Running this lesson outside a vaelearn environment (Google Colab, a fresh Jupyter)? This cell
# installs vaelearn quietly when it is missing, and does nothing when it is already installed.
import importlib.util, subprocess, sys
if importlib.util.find_spec("vaelearn") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "{PIP_TARGET}"], check=True)"""

_CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
_EQREF = re.compile(r"\{eq\}`([^`]+)`")
# $$ <math> $$ (label)  -- MyST dollarmath's labelled display equation
_LABELLED = re.compile(r"\$\$(?P<math>.+?)\$\$[ \t]*\((?P<label>[A-Za-z0-9_:.-]+)\)", re.S)
_LESSON_NO = re.compile(r"^(\d\d)_")
_MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)

SOLUTION_PROMPT = {"code_prompt_show": "Show solution", "code_prompt_hide": "Hide solution"}


# --- bibliography ------------------------------------------------------------------------------


def read_bib(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """The entries of a BibTeX file: ``{key: {"author": ..., "title": ..., "year": ...}}``.

    A small reader for the book's own ``references.bib`` (``field = {value}`` entries, braces
    balanced); it is not a general BibTeX parser.
    """
    text = Path(path).read_text(encoding="utf-8")
    entries: dict[str, dict[str, str]] = {}
    for m in re.finditer(r"@\w+\s*\{\s*([^,\s]+)\s*,", text):
        key, i, depth = m.group(1), m.end(), 1
        j = i
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        body, fields, pos = text[i:j - 1], {}, 0
        for f in re.finditer(r"(\w+)\s*=\s*", body):
            if f.start() < pos:
                continue
            k, p = f.group(1).lower(), f.end()
            if p < len(body) and body[p] == "{":
                d, q = 0, p
                while q < len(body):
                    d += {"{": 1, "}": -1}.get(body[q], 0)
                    q += 1
                    if d == 0:
                        break
                value = body[p + 1:q - 1]
            else:
                q = p
                while q < len(body) and body[q] not in ",\n":
                    q += 1
                value = body[p:q].strip().strip('"')
            fields[k] = re.sub(r"\s+", " ", value.replace("{", "").replace("}", "")).strip()
            pos = q
        entries[key] = fields
    return entries


def _surnames(author: str) -> list[str]:
    names = []
    for person in re.split(r"\s+and\s+", author):
        person = person.strip()
        if "," in person:
            names.append(person.split(",")[0].strip())
        else:
            names.append(person.split()[-1] if person.split() else person)
    return names


def _cite_text(entry: dict[str, str]) -> str:
    names = _surnames(entry.get("author", "Anonymous"))
    if len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"  # as the book's author_year style writes it
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.get('year', 'n.d.')}"


def _reference_line(entry: dict[str, str]) -> str:
    names = entry.get("author", "Anonymous").replace(" and ", ", ")
    where = entry.get("journal") or entry.get("booktitle") or entry.get("publisher") or \
        entry.get("howpublished") or ""
    line = f"{names} ({entry.get('year', 'n.d.')}). *{entry.get('title', '')}*."
    if where:
        line += f" {where}."
    if entry.get("doi"):
        line += f" <https://doi.org/{entry['doi']}>"
    elif entry.get("url"):
        line += f" <{entry['url']}>"
    return line


# --- equations ---------------------------------------------------------------------------------


def lesson_number(name: str) -> int:
    """The chapter number the book gives a lesson: its two-digit file prefix (``03_x`` -> 3)."""
    m = _LESSON_NO.match(Path(name).name)
    if not m:
        raise ValueError(f"{name}: a lesson file name starts with its two-digit number (01_...)")
    return int(m.group(1))


def equation_numbers(nb: nbformat.NotebookNode, chapter: int) -> dict[str, str]:
    """``{label: "N.k"}`` for the labelled display equations of a lesson, in reading order.

    The book numbers labelled equations per chapter (``math_numfig`` with
    ``numfig_secnum_depth: 1``): the k-th labelled equation of lesson N is N.k.
    """
    numbers: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for m in _LABELLED.finditer(cell.source):
            label = m.group("label")
            if label in numbers:
                raise ValueError(f"equation label {label!r} is used twice")
            numbers[label] = f"{chapter}.{len(numbers) + 1}"
    return numbers


def plain_markdown(source: str, bib: dict[str, dict[str, str]], numbers: dict[str, str],
                   cited: list[str] | None = None) -> str:
    """``source`` with the book-only MyST markup replaced by plain Markdown + MathJax.

    Keys cited are appended to ``cited`` (first use first), for the reference list.

    Raises
    ------
    ValueError
        For a citation key missing from the bibliography or a reference to an unknown label.
    """
    cited = [] if cited is None else cited

    def cite(m):
        texts = []
        for key in (k.strip() for k in m.group(1).split(",")):
            if key not in bib:
                raise ValueError(f"{{cite}}`{key}`: no such key in references.bib")
            if key not in cited:
                cited.append(key)
            texts.append(_cite_text(bib[key]))
        return "(" + "; ".join(texts) + ")"

    def eqref(m):
        label = m.group(1).strip()
        if label not in numbers:
            raise ValueError(f"{{eq}}`{label}`: no labelled equation {label!r} in this lesson")
        return f"equation ({numbers[label]})"

    def labelled(m):
        math = m.group("math").rstrip()
        return f"$${math} \\tag{{{numbers[m.group('label')]}}}\n$$"

    source = _LABELLED.sub(labelled, source)
    source = _CITE.sub(cite, source)
    return _EQREF.sub(eqref, source)


# --- the two editions --------------------------------------------------------------------------


def _is_solution(cell) -> bool:
    return cell.cell_type == "code" and bool(_nbgrader(cell).get("solution"))


def student_notebook(nb: nbformat.NotebookNode, name: str,
                     bib: dict[str, dict[str, str]]) -> nbformat.NotebookNode:
    """The student edition of an instructor lesson (see the module docstring).

    Parameters
    ----------
    nb : NotebookNode
        The instructor's lesson.
    name : str
        Its file name (``01_entropy_cross_entropy_kl.ipynb``): the number sets the equation tags.
    bib : dict
        :func:`read_bib` of the book's ``references.bib``.
    """
    numbers = equation_numbers(nb, lesson_number(name))
    out = release_notebook(nb, Path(name).stem)
    cited: list[str] = []
    for cell in out.cells:
        if cell.cell_type == "markdown":
            cell.source = plain_markdown(cell.source, bib, numbers, cited)
    first_code = next((i for i, c in enumerate(out.cells) if c.cell_type == "code"),
                      len(out.cells))
    install = nbformat.v4.new_code_cell(INSTALL_SOURCE)
    install.id = "install-vaelearn"
    out.cells.insert(first_code, install)
    if cited:
        refs = "\n".join(f"- {_reference_line(bib[k])}" for k in cited)
        cell = nbformat.v4.new_markdown_cell(f"## References\n\n{refs}")
        cell.id = "references"
        out.cells.append(cell)
    return out


def book_notebook(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The book edition of an instructor lesson: student stubs + collapsed solutions, no hidden
    tests (see the module docstring). Outputs of the other cells are the stored ones."""
    released = release_notebook(nb, Path(name).stem)
    if [c.get("id") for c in released.cells] != [c.get("id") for c in nb.cells]:
        raise ValueError(f"{name}: nbgrader's release added or removed cells; cannot pair them")
    cells = []
    for src, rel in zip(nb.cells, released.cells, strict=True):
        if _is_solution(src):
            stub = copy.deepcopy(rel)
            stub.metadata = nbformat.from_dict(
                {"tags": ["skip-execution"], "nbgrader": dict(_nbgrader(src))})
            stub.outputs, stub.execution_count = [], None
            cells.append(stub)
            solution = copy.deepcopy(src)
            solution.source = _MARKER_LINE.sub("", solution.source).strip("\n")
            solution.id = f"{src.id}-solution"[:64]
            tags = [t for t in solution.metadata.get("tags", []) if t != "hide-cell"]
            solution.metadata = nbformat.from_dict(
                {"tags": tags + ["hide-cell"], "mystnb": dict(SOLUTION_PROMPT)})
            cells.append(solution)
        elif src.cell_type == "code":
            cell = copy.deepcopy(src)
            cell.source = rel.source  # hidden tests removed
            cell.metadata.pop("nbgrader", None)
            cells.append(cell)
        else:
            cells.append(copy.deepcopy(src))
    out = copy.deepcopy(nb)
    out.cells = cells
    return out


def write_editions(kind: str, lessons: list[str | os.PathLike], out: str | os.PathLike,
                   bib_path: str | os.PathLike = "book/references.bib") -> list[Path]:
    """Write the ``kind`` ("student" or "book") edition of each lesson into ``out``.

    Files keep their names and are written atomically. Returns the paths written.
    """
    if kind not in ("student", "book"):
        raise ValueError(f"kind must be 'student' or 'book', got {kind!r}")
    if not lessons:
        raise ValueError("no lessons given")
    bib = read_bib(bib_path) if kind == "student" else {}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for lesson in map(Path, lessons):
        nb = nbformat.read(lesson, as_version=4)
        edition = (student_notebook(nb, lesson.name, bib) if kind == "student"
                   else book_notebook(nb, lesson.name))
        target = out / lesson.name
        tmp = target.with_suffix(".ipynb.tmp")
        nbformat.write(edition, tmp)
        os.replace(tmp, target)
        written.append(target)
    return written


def stale(lessons: list[str | os.PathLike], out: str | os.PathLike,
          bib_path: str | os.PathLike = "book/references.bib") -> list[str]:
    """Problems that make the student editions in ``out`` differ from the ones ``lessons`` give
    now (missing, different, or extra files); empty when they are up to date."""
    bib, out = read_bib(bib_path), Path(out)
    problems, names = [], set()
    for lesson in map(Path, lessons):
        names.add(lesson.name)
        target = out / lesson.name
        # nbformat.write ends the file with a newline; writes does not
        want = nbformat.writes(student_notebook(nbformat.read(lesson, as_version=4),
                                                lesson.name, bib)) + "\n"
        if not target.exists():
            problems.append(f"{target}: missing")
        elif target.read_text(encoding="utf-8") != want:
            problems.append(f"{target}: differs from the edition {lesson} gives now")
    for extra in sorted(out.glob("*.ipynb")):
        if extra.name not in names:
            problems.append(f"{extra}: no lesson of that name")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vaelearn.classroom.editions",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=("student", "book", "check"))
    p.add_argument("lessons", nargs="+", help="instructor lesson notebooks")
    p.add_argument("--out", required=True, help="folder for the editions")
    p.add_argument("--bib", default="book/references.bib", help="the book's references.bib")
    args = p.parse_args(argv)
    if args.kind == "check":
        problems = stale(args.lessons, args.out, args.bib)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("the student editions are out of date: run `make student`", file=sys.stderr)
        return 1 if problems else 0
    for path in write_editions(args.kind, args.lessons, args.out, args.bib):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
