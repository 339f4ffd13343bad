"""Every lesson notebook: clean, in the book in order, with graded exercises, no hidden library.

The rules of book/architecture.md ("Lesson notebooks") as tests, run on whatever lessons exist
(lessons/NN_name.ipynb). nbval (``make nbval``) checks the outputs themselves.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from vaelearn.notebooks import MACHINE_PATH, problems

ROOT = Path(__file__).resolve().parents[1]
LESSON_DIR = ROOT / "lessons"
TOC = ROOT / "book" / "_toc.yml"
LESSON_NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
LESSONS = sorted(LESSON_DIR.glob("[0-9][0-9]_*.ipynb"))

# "Imports nothing that belongs in vaelearn": a lesson shows the few lines that teach an idea and
# imports the rest. Outside solution cells (the student's own code) a lesson may define
#   - no classes (models, layers, datasets live in vaelearn),
#   - functions of at most MAX_DEF_LINES lines each (a short teaching re-implementation or a
#     small experiment loop fits on one screen),
#   - at most MAX_DEF_LINES_TOTAL lines of function definitions in all.
MAX_DEF_LINES = 15
MAX_DEF_LINES_TOTAL = 60
MIN_EXERCISES = 3
# Things a stored output must never show: they differ between machines, runs or backends.
MEMORY_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]{6,}")
TENSOR_REPR = re.compile(r"\btensor\(")


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _code(cell) -> str:
    """Cell source without IPython magics / shell lines, which are not Python."""
    return "\n".join(
        line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )


def _is_solution(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def _is_graded_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def toc_lessons(toc: dict, docnames: list[str]) -> list[str]:
    """Lesson docnames (``lessons/NN_name``) in the order the toc lists them.

    ``docnames`` are the lessons that exist; a ``glob`` entry expands to the matching ones in
    sorted order, as Jupyter Book does.
    """
    order: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                name = str(node["file"]).removesuffix(".ipynb").removesuffix(".md")
                if name.startswith("lessons/"):
                    order.append(name)
            if "glob" in node:
                order.extend(sorted(d for d in docnames if fnmatch.fnmatchcase(d, node["glob"])))
            for value in node.values():
                if isinstance(value, (list, dict)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return order


def test_lesson_files_are_named_nn_name():
    """Every notebook in lessons/ is a lesson named NN_name.ipynb, with distinct numbers."""
    notebooks = sorted(LESSON_DIR.glob("*.ipynb"))
    bad = [p.name for p in notebooks if not LESSON_NAME.match(p.name)]
    assert not bad, f"notebooks in lessons/ not named NN_lowercase_name.ipynb: {bad}"
    numbers = [LESSON_NAME.match(p.name).group(1) for p in notebooks]
    assert len(numbers) == len(set(numbers)), f"two lessons share a number: {numbers}"


def test_toc_lists_every_lesson_in_numeric_order():
    toc = yaml.safe_load(TOC.read_text(encoding="utf-8"))
    docnames = [f"lessons/{p.stem}" for p in LESSONS]
    listed = toc_lessons(toc, docnames)
    missing = sorted(set(docnames) - set(listed))
    assert not missing, f"lessons not in book/_toc.yml: {missing}"
    assert listed == sorted(listed, key=lambda d: int(d.split("/")[1][:2])), (
        f"the toc does not list the lessons in numeric order: {listed}"
    )
    assert len(listed) == len(set(listed)), f"a lesson is listed twice: {listed}"


def test_toc_helper_can_fail():
    """The toc check above is not vacuous: a toc without the lessons misses them."""
    docnames = ["lessons/01_a", "lessons/02_b"]
    assert toc_lessons({"chapters": [{"file": "intro"}]}, docnames) == []
    assert toc_lessons({"chapters": [{"glob": "lessons/[0-9][0-9]_*"}]}, docnames) == docnames
    swapped = {"chapters": [{"file": "lessons/02_b"}, {"file": "lessons/01_a"}]}
    assert toc_lessons(swapped, docnames) == ["lessons/02_b", "lessons/01_a"]


def test_book_links_the_lessons_folder():
    """Jupyter Book reads the lessons through the committed symlink book/lessons -> ../lessons."""
    link = ROOT / "book" / "lessons"
    assert link.is_symlink() and link.resolve() == LESSON_DIR.resolve()


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
lesson = pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])


@lesson
def test_lesson_is_clean(path):
    found = problems(_read(path))
    assert found == [], f"{path.name}: run `make lessons LESSONS={path.relative_to(ROOT)}`:\n" + (
        "\n".join(found)
    )


@lesson
def test_outputs_are_machine_independent(path):
    for i, cell in enumerate(_read(path).cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") + "".join(
                str(v) for k, v in out.get("data", {}).items() if k.startswith("text/")
            )
            assert not MACHINE_PATH.search(text), f"{path.name} cell {i}: a machine path"
            assert not MEMORY_ADDRESS.search(text), f"{path.name} cell {i}: a memory address"
            assert not TENSOR_REPR.search(text), (
                f"{path.name} cell {i}: a torch tensor repr (print NumPy numbers instead)"
            )


@lesson
def test_first_code_cell_picks_the_backend(path):
    first = next(c for c in _read(path).cells if c.cell_type == "code")
    assert re.search(r"\bB\s*=\s*(vaelearn\.)?get_backend\(\s*\)", first.source), (
        f"{path.name}: the first code cell must set B = vaelearn.get_backend()"
    )


@lesson
def test_lesson_has_graded_exercises(path):
    cells = _read(path).cells
    solutions = [i for i, c in enumerate(cells) if c.cell_type == "code" and _is_solution(c)]
    assert len(solutions) >= MIN_EXERCISES, (
        f"{path.name}: {len(solutions)} solution cells, need >= {MIN_EXERCISES} exercises"
    )
    grade_ids = []
    for i in solutions:
        cell = cells[i]
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, (
            f"{path.name} cell {i}: solution cell without BEGIN/END SOLUTION markers"
        )
        grade_ids.append(cell.metadata["nbgrader"].get("grade_id"))
        test = next(
            (c for c in cells[i + 1:] if c.cell_type == "code" and _is_graded_test(c)), None
        )
        assert test is not None, f"{path.name} cell {i}: no graded test cell after the solution"
        meta = test.metadata["nbgrader"]
        gid = meta.get("grade_id")
        assert meta.get("locked") is True, f"{path.name}: test cell {gid} is not locked"
        assert float(meta.get("points", 0)) > 0, f"{path.name}: test cell {gid} has no points"
    tests = [c for c in cells if c.cell_type == "code" and _is_graded_test(c)]
    assert len(tests) >= MIN_EXERCISES
    grade_ids += [c.metadata["nbgrader"].get("grade_id") for c in tests]
    assert all(grade_ids) and len(grade_ids) == len(set(grade_ids)), (
        f"{path.name}: nbgrader grade_ids must exist and be unique: {grade_ids}"
    )


def library_code(nb: nbformat.NotebookNode) -> list[str]:
    """What a lesson defines that belongs in vaelearn, by the rule at the top of this file."""
    found, total = [], 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or _is_solution(cell):
            continue
        try:
            tree = ast.parse(_code(cell))
        except SyntaxError as exc:
            found.append(f"cell {i}: not valid Python ({exc.msg})")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                found.append(f"cell {i}: defines class {node.name} (put it in vaelearn)")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                total += lines
                if lines > MAX_DEF_LINES:
                    found.append(
                        f"cell {i}: function {node.name} has {lines} lines "
                        f"(> {MAX_DEF_LINES}; put it in vaelearn)"
                    )
    if total > MAX_DEF_LINES_TOTAL:
        found.append(f"{total} lines of function definitions (> {MAX_DEF_LINES_TOTAL})")
    return found


@lesson
def test_lesson_keeps_library_code_in_vaelearn(path):
    found = library_code(_read(path))
    assert not found, f"{path.name}:\n" + "\n".join(found)


def test_library_code_rule_can_fail():
    from vaelearn.notebooks import code_cell

    nb = nbformat.v4.new_notebook()
    nb.cells = [code_cell("class Encoder:\n    pass"), code_cell("def f(x):\n" + "    x\n" * 20)]
    found = library_code(nb)
    assert any("class Encoder" in f for f in found)
    assert any("function f" in f for f in found)


# Printed floating-point round-off: a number below 1e-12 in magnitude written in scientific
# notation (e.g. "-1.78e-15", "2.2E-16") is the noise of a value that is zero up to round-off,
# and its digits change with the BLAS kernel, the thread count and the backend (issue 12). Such a
# value is printed as a checked statement ("|gap| < 1e-10: True") or rounded far above round-off.
# An exact zero in scientific notation ("0.00e+00") is allowed.
ROUNDOFF_LIMIT = 1e-12
SCIENTIFIC = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+(?![\w.])")


def printed_roundoff(nb: nbformat.NotebookNode) -> list[str]:
    """Stored text outputs that print a nonzero number below ROUNDOFF_LIMIT in e-notation."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = str(out.get("text", "")) + "".join(
                str(v) for k, v in out.get("data", {}).items()
                if k.startswith("text/") and k != "text/html"
            )
            for match in SCIENTIFIC.finditer(text):
                value = float(match.group())
                if value != 0 and abs(value) < ROUNDOFF_LIMIT:
                    found.append(f"cell {i}: prints {match.group()!r} (round-off)")
    return found


@lesson
def test_outputs_print_no_roundoff(path):
    found = printed_roundoff(_read(path))
    assert not found, (
        f"{path.name}: a stored output prints floating-point round-off; print a checked "
        "statement such as '|gap| < 1e-10: True' instead:\n" + "\n".join(found)
    )


def test_roundoff_rule_can_fail():
    from vaelearn.notebooks import code_cell

    def notebook(*texts):
        nb = nbformat.v4.new_notebook()
        cell = code_cell("print(gap)")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in texts]
        nb.cells = [cell]
        return nb

    for noise in ("gap = -1.78e-15 nats\n", "2.2E-16", "[ 1.0e+00 -3.1e-17]", "x=+4e-13"):
        assert printed_roundoff(notebook(noise)), noise
    rich = nbformat.v4.new_notebook()
    rich.cells = [code_cell("gap")]
    rich.cells[0].outputs = [nbformat.v4.new_output(
        "execute_result", data={"text/plain": "np.float64(-2.66e-15)"}, execution_count=1)]
    assert printed_roundoff(rich)
    for fine in ("gap = 0.00e+00", "|gap| < 1e-10: True", "lr 1e-3, eps 1.0e-12", "3.9e-06",
                 "4.2e+03 years", "value 0.000000", "id abc1e-20x"):
        assert not printed_roundoff(notebook(fine)), fine
