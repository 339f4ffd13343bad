"""A class of honest students and attackers, graded together (issue 14's acceptance test).

One attacker per kind of attack on ``vaelearn classroom grade`` (and variants). Every honest
student must keep exactly the score they get when graded alone; every attacker gets 0 for what
they attacked; no feedback file holds hidden-test text, the value of an environment variable of
the grader or a path of the grader's machine; the run ends within its limits; the CSV is
complete. The tiny fixture lesson keeps this to about a minute on two cores.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
import pytest
from notebook_cells import code_cell, markdown_cell, solution_cell, test_cell

from vaelearn.classroom import Limits, grade
from vaelearn.classroom.sandbox import bwrap_problem

pytestmark = pytest.mark.skipif(bwrap_problem() is not None,
                                reason=f"no bubblewrap sandbox here: {bwrap_problem()}")

SECRET = "grader-secret-7f3a9c"  # an environment variable of the grader; must never leak
# Cells take milliseconds; 4 s per cell leaves room for a loaded 2-core machine.
LIMITS = Limits(cell_seconds=4, notebook_seconds=40, memory_mb=2048, work_mb=32)
HIDDEN = ["assert np.allclose(double(np.arange(3.0)), [0.0, 2.0, 4.0])", "double(-3) == -6"]
FULL = {"ex1-test": 1.0, "ex2-test": 2.0, "ex3-test": 1.0}
# What a spreadsheet may run: a formula character first, after blanks, or after a separator.
FORMULA = re.compile(r"(?:^|[,;\t|])\s*[=+\-@]")
INJECTION = "<img src=x onerror=alert(1)><br>- <b>ex1-test</b>: 1/1 passed <!-- "
# Folders without a notebook (no sandbox: they cost nothing): names that once collided in the
# feedback folder, and formulas that a leading blank or a separator hid from the CSV check.
EMPTY = ["x y", "x_y-" + hashlib.sha256(b"x y").hexdigest()[:12], " =1+2", ";=1+2",
         "a,=1+2"]


def lesson() -> nbformat.NotebookNode:
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
        test_cell("assert double(2) == 4\n### BEGIN HIDDEN TESTS\n" + HIDDEN[0] + "\nassert "
                  + HIDDEN[1] + "\n### END HIDDEN TESTS", "ex2-test", 2),
        solution_cell("### BEGIN SOLUTION\nthree = 3\n### END SOLUTION", "ex3-solution"),
        test_cell("assert three == 3", "ex3-test", 1),
    ]
    return nb


def other_lesson() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [solution_cell("### BEGIN SOLUTION\nfour = 4\n### END SOLUTION", "o-solution"),
                test_cell("assert four == 4", "o-test", 1)]
    return nb


def answers(**sources) -> nbformat.NotebookNode:
    """The instructor's notebook with some answer cells replaced (ex1=..., ex2=..., ex3=...)."""
    nb = lesson()
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        key = gid.split("-")[0]
        if gid.endswith("-solution") and key in sources:
            cell.source = sources[key]
    return nb


WRONG = {"ex1": "fair_coin_bits = 0.5", "ex2": "def double(x):\n    return x + 2",
         "ex3": "three = 4"}


def attackers(course: Path, victim: Path) -> dict[str, tuple[dict, dict]]:
    """name -> (answer sources, expected points): each attacks with wrong answers."""
    lessons = str(course / "lessons")
    wrong_all = dict.fromkeys(FULL, 0.0)
    liar = ("class Liar:\n"
            "    def __sub__(self, other): return self\n"
            "    __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __sub__\n"
            "    def __abs__(self): return 0.0\n"
            "    def __eq__(self, other): return True\n"
            "    def __lt__(self, other): return True\n"
            "    def __float__(self): return 1.0\n"
            "    def __bool__(self): return True\n")
    steal = (f"stolen = ''\nfor name in ('tiny.ipynb',):\n    try:\n"
             f"        stolen += open({lessons!r} + '/' + name).read()\n"
             f"    except OSError:\n        pass\n")
    return {
        # the verdict controlled from the answer cell
        "custom_exc": ({"ex1": "get_ipython().set_custom_exc((BaseException,), "
                               "lambda *a, **k: None)\nfair_coin_bits = 0.5",
                        "ex2": WRONG["ex2"], "ex3": WRONG["ex3"]}, wrong_all),
        "showtraceback": ({"ex1": "from IPython.core.interactiveshell import InteractiveShell\n"
                                  "InteractiveShell.showtraceback = lambda *a, **k: None\n"
                                  "get_ipython().showtraceback = lambda *a, **k: None\n"
                                  "InteractiveShell.run_cell = lambda *a, **k: None\n"
                                  "fair_coin_bits = 0.5",
                           "ex2": WRONG["ex2"], "ex3": WRONG["ex3"]}, wrong_all),
        # what the tests call is patched
        "patches": ({"ex1": "import builtins\nbuiltins.abs = lambda x: 0.0\n"
                            "np.allclose = lambda *a, **k: True\n"
                            "builtins.AssertionError = type('X', (Exception,), {})\n"
                            "fair_coin_bits = 0.5",
                     "ex2": WRONG["ex2"], "ex3": WRONG["ex3"]}, wrong_all),
        # answers that lie
        "liar": ({"ex1": liar + "fair_coin_bits = Liar()",
                  "ex2": liar + "def double(x):\n    return Liar()",
                  "ex3": liar + "three = Liar()"}, wrong_all),
        "float_liar": ({"ex1": "class F(float):\n    def __sub__(self, o): return 0.0\n"
                               "    def __float__(self): return 1.0\nfair_coin_bits = F(0.5)",
                        "ex2": "import numpy as np\nclass A(np.ndarray):\n"
                               "    def __eq__(self, o): return True\n"
                               "def double(x):\n    return np.zeros(3).view(A)",
                        "ex3": WRONG["ex3"]}, wrong_all),
        # escapes in plain Python: __fspath__, ctypes, shell commands
        "fspath": ({"ex1": "import shutil\nclass P:\n    def __fspath__(self):\n"
                           + "".join("        " + line + "\n" for line in steal.splitlines())
                           + "        return 'x'\n"
                           "try:\n    shutil.copyfile(P(), 'y')\nexcept Exception:\n    pass\n"
                           + steal + "fair_coin_bits = 1.0 if 'fair_coin_bits' in stolen else 0.5",
                    "ex2": WRONG["ex2"], "ex3": WRONG["ex3"]}, wrong_all),
        "ctypes": ({"ex1": "import ctypes\nlibc = ctypes.CDLL(None)\n"
                           f"libc.system(b'echo pwned > {victim}; cat {lessons}/tiny.ipynb "
                           f"> /home/student/s')\n"
                           "import os\nstolen = open('/home/student/s').read() "
                           "if os.path.exists('/home/student/s') else ''\n"
                           "fair_coin_bits = 1.0 if 'fair_coin_bits' in stolen else 0.5",
                    "ex2": WRONG["ex2"], "ex3": WRONG["ex3"]}, wrong_all),
        # secrets and hidden tests reach the feedback
        "environ": ({"ex1": "import os, sys\nraise RuntimeError(str(dict(os.environ)) + "
                            "sys.executable + str(sys.path))",
                     "ex2": "import os\ndef double(x):\n    raise RuntimeError(str(os.environ))",
                     "ex3": WRONG["ex3"]}, wrong_all),
        "in_list": ({"ex1": WRONG["ex1"],
                     "ex2": "def double(x):\n    import inspect\n"
                            "    raise RuntimeError(repr(get_ipython().user_ns.get('In')) + "
                            "repr([f.code_context for f in inspect.stack()]))",
                     "ex3": "import gc\nthree = 4\nraise RuntimeError(repr(In) + repr(_ih) + "
                            "repr([o for o in gc.get_objects() if isinstance(o, str) "
                            "and 'HIDDEN' in o][:5]))"}, wrong_all),
        # one submission stops the class
        "ignores_interrupt": ({"ex1": "import time\nwhile True:\n    try:\n"
                                      "        time.sleep(0.05)\n    except BaseException:\n"
                                      "        pass"}, wrong_all),
        "sigint_ignored": ({"ex3": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                   "while True:\n    pass"}, {**FULL, "ex3-test": 0.0}),
        "fork_bomb": ({"ex3": "import os\nwhile True:\n    try:\n        os.fork()\n"
                              "    except OSError:\n        pass"}, {**FULL, "ex3-test": 0.0}),
        "disk_flood": ({"ex3": "block = b'x' * 2**20\nwith open('/home/student/big', 'wb') as f:\n"
                               "    while True:\n        f.write(block)\nthree = 3"},
                       {**FULL, "ex3-test": 0.0}),
        "output_flood": ({"ex3": "import os\nfor _ in range(200):\n    print('x' * 10**5)\n"
                                 "for fd in range(3, 12):\n    try:\n"
                                 "        os.write(fd, b'\\xff' * 10**5)\n"
                                 "    except OSError:\n        pass\nthree = 3"},
                         {**FULL, "ex3-test": 0.0}),
        "kill_parent": ({"ex3": "import os, signal\nfor pid in (os.getppid(), 1, -1):\n"
                                "    try:\n        os.kill(pid, signal.SIGKILL)\n"
                                "    except OSError:\n        pass\nthree = 4"},
                        {**FULL, "ex3-test": 0.0}),
        "canary": ({"ex3": "__vaelearn_raise__ = lambda token: None\nthree = 3"}, wrong_all),
        # HTML and Markdown in an error, to forge or script the feedback page
        "html": ({"ex1": f"raise RuntimeError({INJECTION!r})", "ex2": WRONG["ex2"],
                  "ex3": WRONG["ex3"]}, wrong_all),
    }


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == ["student", "lesson", "exercise", "points", "max_points",
                                      "status"]
    return rows


def scores(path: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for r in read_csv(path):
        name = r["student"]
        if name[:1] == "'" and FORMULA.search(name[1:]):  # a neutralised formula
            name = name[1:]
        if r["exercise"] != "TOTAL" and r["points"] != "":
            out.setdefault(name, {})[r["exercise"]] = float(r["points"])
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    course = root / "course"
    (course / "lessons").mkdir(parents=True)
    nbformat.write(lesson(), course / "lessons" / "tiny.ipynb")
    nbformat.write(other_lesson(), course / "lessons" / "other.ipynb")
    victim = root / "victim.txt"
    victim.write_text("must survive")
    subs = root / "submissions"

    def put(student, nb, name="tiny.ipynb"):
        (subs / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, subs / student / name)

    honest = {
        "ada": (answers(), FULL),
        "alan": (answers(ex2=WRONG["ex2"]), {**FULL, "ex2-test": 0.0}),
        "grace": (answers(ex1="fair_coin_bits = = 1"), {**FULL, "ex1-test": 0.0}),
        "x" * 230: (answers(), FULL),  # a 230-byte folder name
        '=HYPERLINK("evil.example","click")': (answers(), FULL),
    }
    for name, (nb, _) in honest.items():
        put(name, nb)
    put("ada", other_lesson(), "other.ipynb")  # a stray notebook of another lesson
    expected = {name: exp for name, (_, exp) in honest.items()}
    expected["ada"] = {**FULL, "o-test": 1.0}
    for name, (srcs, exp) in attackers(course, victim).items():
        put(name, answers(**srcs))
        expected[name] = exp
    # submissions that are not files
    (subs / "linker").mkdir()
    os.symlink(course / "lessons" / "tiny.ipynb", subs / "linker" / "tiny.ipynb")
    os.symlink(course / "lessons", subs / "folder_link")
    (subs / "fifo").mkdir()
    os.mkfifo(subs / "fifo" / "tiny.ipynb")
    (subs / "misnamed").mkdir()
    nbformat.write(answers(), subs / "misnamed" / "tiny (1).ipynb")
    for name in EMPTY:
        (subs / name).mkdir()
        expected[name] = dict.fromkeys(FULL, 0.0)
    expected.update({"linker": dict.fromkeys(FULL, 0.0), "folder_link": dict.fromkeys(FULL, 0.0),
                     "fifo": dict.fromkeys(FULL, 0.0), "misnamed": FULL})
    out = root / "out" / "grades.csv"
    old = os.environ.get("VAELEARN_GRADER_SECRET")
    os.environ["VAELEARN_GRADER_SECRET"] = SECRET
    try:
        start = time.monotonic()
        grade(subs, out, lessons_dir=course / "lessons", limits=LIMITS, jobs=2, progress=False)
        seconds = time.monotonic() - start
    finally:
        if old is None:
            del os.environ["VAELEARN_GRADER_SECRET"]
        else:
            os.environ["VAELEARN_GRADER_SECRET"] = old
    return {"root": root, "course": course, "subs": subs, "out": out, "honest": honest,
            "expected": expected, "victim": victim, "seconds": seconds}


def test_every_student_gets_exactly_the_expected_points(graded):
    got = scores(graded["out"])
    assert set(got) == set(graded["expected"]), "the CSV must have every student"
    wrong = {s: (got[s], e) for s, e in graded["expected"].items() if got[s] != e}
    assert not wrong, wrong


def test_honest_students_score_as_when_graded_alone(graded, tmp_path):
    together = scores(graded["out"])
    for name, (nb, _) in graded["honest"].items():
        subs = tmp_path / "alone" / str(len(name))
        (subs / name).mkdir(parents=True)
        nbformat.write(nb, subs / name / "tiny.ipynb")
        out = tmp_path / f"alone{len(name)}.csv"
        grade(subs, out, lessons_dir=graded["course"] / "lessons", lessons=["tiny.ipynb"],
              limits=LIMITS, jobs=1, progress=False)
        assert scores(out)[name] == {k: v for k, v in together[name].items() if k in FULL}, name


def test_the_run_ends_within_its_limits_and_the_victim_survives(graded):
    assert graded["victim"].read_text() == "must survive"
    n = len(graded["expected"])
    # Each submission is bounded by its notebook limit; with 2 jobs the class must end well
    # within n/2 notebook limits (most take about a second).
    assert graded["seconds"] < n / 2 * LIMITS.notebook_seconds
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit()
                 and f"--label vaelearn-grade-{os.getpid()} " in _cmdline(p) + " "]
    assert not leftovers, "a student's process outlived the grading"


def _cmdline(p: Path) -> str:
    try:
        return p.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_feedback_leaks_no_hidden_test_environment_or_path(graded):
    feedback = graded["out"].with_name("grades_feedback")
    files = list(feedback.iterdir())
    assert len(files) == len(graded["expected"])
    forbidden = [*HIDDEN, "BEGIN HIDDEN", SECRET, sys.prefix, sys.base_prefix,
                 str(graded["course"]), str(graded["root"]), os.path.expanduser("~") + "/",
                 str(Path(__file__).resolve().parents[1])]
    for f in files:
        text = f.read_text()
        for bad in forbidden:
            assert bad not in text, f"{f.name} contains {bad!r}"


def test_feedback_explains_each_attack(graded):
    feedback = graded["out"].with_name("grades_feedback")

    def fb(name):
        return (feedback / f"{name}.md").read_text()

    assert "symbolic link" in fb("linker") and "symbolic link" in fb("folder_link")
    assert "not a regular file" in fb("fifo")
    assert "misnamed upload" in fb("misnamed") and "tiny (1).ipynb" in fb("misnamed")
    assert "did not stop when interrupted" in fb("ignores_interrupt")
    assert "tampered" in fb("canary")
    assert "a hidden test failed" in fb("alan")
    assert "SyntaxError" in fb("grace")
    # The forged-newline attempt: one feedback line per exercise, whatever the error text.
    env = fb("environ")
    assert sum(line.startswith("- `") for line in env.splitlines()) == 3


def test_stray_lessons_add_nothing_to_other_reports(graded):
    rows = read_csv(graded["out"])
    other = {r["student"] for r in rows if r["lesson"] == "other.ipynb"}
    assert other == {"ada"}
    assert "other.ipynb" not in (graded["out"].with_name("grades_feedback") / "alan.md").read_text()


def test_csv_is_complete_has_totals_and_no_formulas(graded):
    rows = read_csv(graded["out"])
    totals = {r["student"]: r for r in rows if r["exercise"] == "TOTAL"}
    assert len(totals) == len(graded["expected"])
    assert float(totals["ada"]["points"]) == 5.0 and float(totals["ada"]["max_points"]) == 5.0
    assert not any(FORMULA.search(c) and not c.startswith("'") for r in rows for c in r.values())
    assert {"' =1+2", "';=1+2", "'a,=1+2"} <= {r["student"] for r in rows}
    assert "'=HYPERLINK" in {r["student"][:11] for r in rows}


def test_resume_trusts_only_what_the_grader_wrote(graded, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(graded["out"].parent, root)
    out = root / "grades.csv"
    parts = Path(str(out) + ".parts")
    forged = 0
    for part in parts.glob("*.json"):
        data = json.loads(part.read_text())
        if data["items"][0]["student"] == "alan":
            for item in data["items"]:
                item["points"] = item["max_points"]
            part.write_text(json.dumps(data))
            forged += 1
    assert forged == 1
    grade(graded["subs"], out, lessons_dir=graded["course"] / "lessons", limits=LIMITS, jobs=2,
          resume=True, progress=False)
    assert scores(out)["alan"] == {**FULL, "ex2-test": 0.0}


def test_feedback_files_are_one_per_student_and_show_student_text_literally(graded):
    feedback = graded["out"].with_name("grades_feedback")
    for name in EMPTY:  # "x y" and "x_y-<its hash>" once shared one file
        found = [f for f in feedback.iterdir() if f"Feedback for `{name}`" in f.read_text()]
        assert len(found) == 1, (name, found)
    for f in feedback.iterdir():
        for line in f.read_text().splitlines():
            # Outside code spans (even pieces between backticks) no HTML can start.
            assert line.count("`") % 2 == 0, (f.name, line)
            assert not any("<" in piece for piece in line.split("`")[::2]), (f.name, line)
    html = (feedback / "html.md").read_text()
    assert "<img src=x" in html  # shown, but only inside a code span
    assert sum(line.startswith("- `") for line in html.splitlines()) == 3


# --- answers that only call the library function the exercise asks for --------------------------


def delegation_lesson() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        code_cell("import numpy as np\nfrom vaelearn import info"),
        solution_cell("def my_entropy(p):\n    ### BEGIN SOLUTION\n"
                      "    p = np.asarray(p, dtype=float)\n"
                      "    return float(-np.sum(p[p > 0] * np.log(p[p > 0])))\n"
                      "    ### END SOLUTION", "ex1-solution"),
        test_cell("from vaelearn.classroom.forbid import forbid\n"
                  "with forbid(globals(), (info, 'entropy')):\n"
                  "    assert abs(my_entropy([0.5, 0.5]) - np.log(2)) < 1e-12", "ex1-test", 1),
    ]
    return nb


DELEGATORS = {
    # the student's function runs in the sandbox, the test in the judge: the judge's forbid must
    # reach the sandbox, and a kept reference must refuse as well as the module attribute
    "calls_library": "def my_entropy(p):\n    return float(info.entropy(p))",
    "default_argument": "def my_entropy(p, _f=info.entropy):\n    return float(_f(p))",
    "closure": "_keep = [info.entropy]\ndef my_entropy(p):\n    return float(_keep[0](p))",
    "from_import": "from vaelearn.info import entropy as _h\n"
                   "def my_entropy(p):\n    return float(_h(p))",
}


def test_answers_that_delegate_to_the_hidden_function_score_zero(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    nbformat.write(delegation_lesson(), lessons / "deleg.ipynb")
    subs = tmp_path / "subs"
    expected = {"honest": 1.0, **dict.fromkeys(DELEGATORS, 0.0)}
    for name in expected:
        nb = delegation_lesson()
        if name in DELEGATORS:
            nb.cells[1].source = DELEGATORS[name]
        (subs / name).mkdir(parents=True)
        nbformat.write(nb, subs / name / "deleg.ipynb")
    out = tmp_path / "grades.csv"
    grade(subs, out, lessons_dir=lessons, limits=LIMITS, jobs=2, progress=False)
    got = {name: pts.get("ex1-test") for name, pts in scores(out).items()}
    assert got == expected
