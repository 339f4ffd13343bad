"""Student and book editions of the lessons, the `vaelearn lessons` command, the pip path.

Oracles: the instructor sources themselves (every solution line and hidden-test line of a lesson
must be absent from what students get), nbconvert's own HTML rendering (no book-only markup may
survive it), the bibliography file (citation text), and a real wheel installed into a fresh
virtual environment whose eight lessons must run top to bottom.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest

from vaelearn import _extras, cli

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
STUDENT_DIR = ROOT / "vaelearn" / "student_lessons"
BIB = ROOT / "book" / "references.bib"
lesson = pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])

# What no notebook front end understands: MyST roles and dollarmath's equation labels. (In
# nbconvert's HTML a role's backticks have become <code>, so the role name alone is matched.)
RAW_MARKUP = re.compile(r"\{cite(?::[a-z]+)?\}|\{eq\}|\$\$[ \t]*\([A-Za-z][\w:.-]*\)")


def _editions():
    pytest.importorskip("nbgrader", reason="the 'classroom' extra builds the editions")
    import importlib

    # (vaelearn.classroom re-exports the function release(), which hides the module's name)
    return (importlib.import_module("vaelearn.classroom.editions"),
            importlib.import_module("vaelearn.classroom.release"))


# --- the committed student editions --------------------------------------------------------------


def test_student_editions_are_up_to_date():
    """vaelearn/student_lessons is exactly what `make student` makes from lessons/ now."""
    editions, _ = _editions()
    problems = editions.stale(LESSONS, STUDENT_DIR, BIB)
    assert not problems, "\n".join(problems) + "\nrun `make student` and commit the result"


def test_stale_check_can_fail(tmp_path):
    editions, _ = _editions()
    (tmp_path / LESSONS[0].name).write_text("{}", encoding="utf-8")
    (tmp_path / "99_extra.ipynb").write_text("{}", encoding="utf-8")
    problems = editions.stale(LESSONS[:2], tmp_path, BIB)
    assert any("differs" in p for p in problems)
    assert any("missing" in p for p in problems)
    assert any("99_extra" in p for p in problems)


def _secret_lines(src, release, which=("solution", "hidden")) -> set[str]:
    """Lines of a lesson's solution / hidden-test regions that occur nowhere else in its code
    (a line such as ``rng = np.random.default_rng(1))`` may be in a visible cell as well)."""
    secret = set()
    if "solution" in which:
        secret |= release.solution_lines(src)
    if "hidden" in which:
        secret |= release.hidden_test_lines(src)
    public = set()
    for cell in src.cells:
        if cell.cell_type == "code":
            rest = release._HIDDEN.sub("", release._SOLUTION.sub("", cell.source))
            public |= {ln.strip() for ln in rest.splitlines()}
    return secret - public


@lesson
def test_student_edition_has_no_solution_and_no_hidden_test(path):
    _, release = _editions()
    src = nbformat.read(path, as_version=4)
    student = (STUDENT_DIR / path.name).read_text(encoding="utf-8")
    secret = _secret_lines(src, release)
    assert secret, f"{path.name}: no solution lines found, so this check would be vacuous"
    code = {ln.strip() for c in nbformat.reads(student, as_version=4).cells
            if c.cell_type == "code" for ln in c.source.splitlines()}
    leaked = sorted(secret & code)
    assert not leaked, f"{path.name}: solution/hidden-test lines in the student edition: {leaked}"
    assert "BEGIN SOLUTION" not in student and "BEGIN HIDDEN TESTS" not in student


@lesson
def test_nbconvert_html_shows_no_book_markup(path):
    """The classic-notebook rendering (nbconvert's HTML exporter) of a student edition shows
    no raw {cite}, {eq} or (label) syntax; the instructor source does (the check can fail)."""
    nbconvert = pytest.importorskip("nbconvert")
    exporter = nbconvert.HTMLExporter(template_name="classic")
    html, _ = exporter.from_filename(str(STUDENT_DIR / path.name))
    raw = RAW_MARKUP.findall(html)
    assert not raw, f"{path.name}: raw book markup in the rendered page: {raw[:5]}"
    source_html, _ = exporter.from_filename(str(path))
    if "{cite}`" in path.read_text(encoding="utf-8"):
        assert RAW_MARKUP.search(source_html), "the raw-markup pattern finds nothing in the source"
        # citations became author-year text, with the works listed at the end
        assert re.search(r"\([A-Z][^()]*, (19|20)\d\d[a-z]?(; [^()]*)?\)", html)
        assert "References</h2>" in html or 'id="References"' in html


def test_student_edition_first_code_cell_installs_vaelearn():
    editions, _ = _editions()
    for path in sorted(STUDENT_DIR.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert first.source == editions.INSTALL_SOURCE, path.name
    assert len(list(STUDENT_DIR.glob("*.ipynb"))) == len(LESSONS) == 8


def _run_install_cell(found: bool) -> list:
    """Execute the install cell with find_spec and subprocess.run replaced; return the calls."""
    editions, _ = _editions()
    import importlib.util
    import subprocess as sp

    calls = []
    real_find, real_run = importlib.util.find_spec, sp.run
    importlib.util.find_spec = lambda name, *a: (real_find(name, *a) if found else None)
    sp.run = lambda *a, **k: calls.append((a, k))
    try:
        exec(compile(editions.INSTALL_SOURCE, "install-cell", "exec"), {})
    finally:
        importlib.util.find_spec, sp.run = real_find, real_run
    return calls


def test_install_cell_does_nothing_when_vaelearn_is_there():
    assert _run_install_cell(found=True) == []


def test_install_cell_installs_from_the_git_url_when_missing():
    editions, _ = _editions()
    calls = _run_install_cell(found=False)
    assert len(calls) == 1
    (argv,), kwargs = calls[0]
    assert argv[1:5] == ["-m", "pip", "install", "--quiet"] and argv[-1] == editions.PIP_TARGET
    assert kwargs == {"check": True}
    assert editions.PIP_TARGET == f"vaelearn @ {_extras.GIT_URL}"


# --- citations and equation numbers


def test_plain_markdown_citations_and_equations():
    editions, _ = _editions()
    bib = {
        "one": {"author": "Claude E. Shannon", "year": "1948", "title": "T"},
        "two": {"author": "Kingma, Diederik P. and Max Welling", "year": "2013", "title": "A"},
        "many": {"author": "A. Xu and B. Yu and C. Zed", "year": "2020", "title": "B"},
    }
    cited = []
    text = editions.plain_markdown(
        "As {cite}`one` and {cite:p}`two,many` show, see {eq}`eq-a`.\n\n$$\nx = 1\n$$ (eq-a)\n",
        bib, {"eq-a": "3.2"}, cited)
    assert "(Shannon, 1948)" in text
    assert "(Kingma and Welling, 2013; Xu et al., 2020)" in text
    assert "see equation (3.2)." in text
    assert "$$\nx = 1 \\tag{3.2}\n$$" in text
    assert cited == ["one", "two", "many"]
    with pytest.raises(ValueError, match="nokey"):
        editions.plain_markdown("{cite}`nokey`", bib, {})
    with pytest.raises(ValueError, match="eq-b"):
        editions.plain_markdown("{eq}`eq-b`", bib, {"eq-a": "1.1"})


def test_equation_numbers_follow_the_book():
    """Labelled equations of lesson N are N.1, N.2, ... in reading order (the book's numfig)."""
    editions, _ = _editions()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("$$a$$ (eq-a)\n\n$$b$$\n\n$$\nc\n$$ (eq-c)"),
        nbformat.v4.new_markdown_cell("$$d$$ (eq-d)"),
    ])
    assert editions.equation_numbers(nb, 4) == {"eq-a": "4.1", "eq-c": "4.2", "eq-d": "4.3"}
    with pytest.raises(ValueError, match="two-digit"):
        editions.lesson_number("lesson.ipynb")


def test_every_bib_key_the_lessons_cite_has_author_and_year():
    editions, _ = _editions()
    bib = editions.read_bib(BIB)
    keys = set()
    for path in LESSONS:
        for m in re.finditer(r"\{cite(?::[a-z]+)?\}`([^`]+)`", path.read_text(encoding="utf-8")):
            keys.update(k.strip() for k in m.group(1).split(","))
    assert keys, "the lessons cite nothing: this check would be vacuous"
    for key in sorted(keys):
        assert bib[key].get("author") and re.fullmatch(r"\d{4}", bib[key].get("year", "")), key


# --- the book edition


@lesson
def test_book_edition_hides_solutions_and_drops_hidden_tests(path):
    editions, release = _editions()
    src = nbformat.read(path, as_version=4)
    book = editions.book_notebook(src, path.name)
    hidden = _secret_lines(src, release, ("hidden",)) - release.solution_lines(src)
    solution = _secret_lines(src, release, ("solution",)) - release.hidden_test_lines(src)
    assert solution
    for cell in book.cells:
        lines = {ln.strip() for ln in cell.source.splitlines()}
        assert not (lines & hidden), f"hidden test in the book edition: {lines & hidden}"
        assert "BEGIN SOLUTION" not in cell.source and "BEGIN HIDDEN TESTS" not in cell.source
        if lines & solution:
            assert "hide-cell" in cell.metadata.get("tags", []), cell.source[:80]
            assert cell.metadata["mystnb"]["code_prompt_show"] == "Show solution"
    stubs = [c for c in book.cells if "skip-execution" in c.metadata.get("tags", [])]
    toggles = [c for c in book.cells if "hide-cell" in c.metadata.get("tags", [])]
    n_solutions = sum(1 for c in src.cells if c.cell_type == "code"
                      and c.metadata.get("nbgrader", {}).get("solution"))
    assert len(stubs) == len(toggles) == n_solutions
    assert all("NotImplementedError" in c.source for c in stubs)


# --- `vaelearn lessons DIR` -----------------------------------------------------------------------


def test_vaelearn_lessons_writes_the_eight_student_notebooks(tmp_path, capsys):
    out = tmp_path / "my lessons"
    assert cli.main(["lessons", str(out)]) == 0
    names = sorted(p.name for p in out.glob("*.ipynb"))
    assert names == sorted(p.name for p in LESSONS)
    for name in names:
        assert (out / name).read_bytes() == (STUDENT_DIR / name).read_bytes()
    # a second run keeps the student's work unless --force
    (out / names[0]).write_text("my work", encoding="utf-8")
    assert cli.main(["lessons", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert (out / names[0]).read_text(encoding="utf-8") == "my work"
    assert cli.main(["lessons", str(out), "--force"]) == 0
    assert (out / names[0]).read_bytes() == (STUDENT_DIR / names[0]).read_bytes()


# --- a missing extra is one line naming it


def _blocked(modules: list[str], code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where importing any of ``modules`` fails."""
    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAELEARN_")}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(
    ("blocked", "argv", "extra"),
    [
        (["torch"], ["train", "--backend", "torch", "--epochs", "1", "--out", "run"], "torch"),
        (["torch"], ["bench", "--epochs", "1"], "torch"),
        (["nbgrader"], ["classroom", "release", "LESSON", "--out", "rel"], "classroom"),
    ],
    ids=["train-torch", "bench", "classroom-release"],
)
def test_missing_extra_is_one_line(tmp_path, blocked, argv, extra):
    argv = [str(LESSONS[0]) if a == "LESSON" else a for a in argv]
    proc = _blocked(blocked, f"from vaelearn.cli import main\nsys.exit(main({argv!r}))", tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"'{extra}' extra" in lines[0] and f"vaelearn[{extra}]" in lines[0], lines[0]


def test_notebooks_module_without_nbclient_is_one_line(tmp_path):
    code = f"""
    import runpy
    sys.argv = ["vaelearn.notebooks", "execute", {str(LESSONS[0])!r}]
    runpy.run_module("vaelearn.notebooks", run_name="__main__", alter_sys=True)
    """
    proc = _blocked(["nbclient"], code, tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'classroom' extra" in lines[0], proc.stderr


def test_release_all_outside_the_repository_says_where_it_looked(tmp_path, capsys):
    pytest.importorskip("nbgrader")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert cli.main(["classroom", "release", "--all", "--out", "rel"]) == 1
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert "no lessons" in err and "./lessons" in err and "name at least one" not in err, err


# --- instructor tooling stays out of the students' JupyterLab

def test_nbgrader_menus_are_off_in_the_repository_venv():
    """`make venv` / `make test` switch nbgrader's JupyterLab extension (Create Assignment,
    Validate) and its server extensions off in .venv, the JupyterLab the README starts."""
    stamp = Path(sys.prefix) / ".nbgrader-lab-off"
    if not stamp.exists():
        pytest.skip("not the repository's .venv set up by make (no .nbgrader-lab-off stamp)")
    jupyter = Path(sys.prefix) / "bin" / "jupyter"
    lab = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True,
                         text=True, timeout=120)
    line = next(ln for ln in (lab.stdout + lab.stderr).splitlines()
                if "@jupyter/nbgrader" in ln and " v" in ln)
    assert "disabled" in line and "enabled" not in line.replace("disabled", ""), line
    server = subprocess.run([str(jupyter), "server", "extension", "list"], capture_output=True,
                            text=True, timeout=120)
    states = re.findall(r"(nbgrader\.server_extensions\.\w+) \S*(enabled|disabled)",
                        server.stdout + server.stderr)
    assert states and all(state == "disabled" for _, state in states), states


# --- every install instruction in the README and the book

DOCS = [ROOT / "README.md", *sorted((ROOT / "book").glob("*.md"))]
PIP_LINE = re.compile(r"pip install ([^\n`]+)")


def _doc_requirements() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for m in PIP_LINE.finditer(doc.read_text(encoding="utf-8")):
            for req in re.findall(r'"([^"]+)"', m.group(1)):
                found.append((doc.name, req))
    return found


def test_every_pip_install_in_the_docs_names_real_extras_and_the_repository():
    """Each `pip install "vaelearn[...] @ URL"` of the README and the book asks for extras that
    pyproject.toml defines, from the repository the book links (the one URL the install cell
    and the error messages use too). The form itself is installed for real below."""
    import tomllib

    from packaging.requirements import Requirement

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = set(meta["project"]["optional-dependencies"])
    repo = re.search(r"^  url: (\S+)", (ROOT / "book/_config.yml").read_text(), re.M).group(1)
    reqs = _doc_requirements()
    assert len(reqs) >= 3, reqs  # README, the intro (own machine, JupyterHub)
    for doc, text in reqs:
        req = Requirement(text)
        assert req.name == "vaelearn", (doc, text)
        assert req.extras <= extras, (doc, text, req.extras - extras)
        assert req.url == f"git+{repo}" == _extras.GIT_URL, (doc, text)
    # and nothing in the docs asks pip for vaelearn from an index ("vaelearn[all]" alone)
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        from_index = r"pip install (['\"])vaelearn(\[[^\]]*\])?\1|pip install vaelearn(\[\S*)?\s"
        assert not re.search(from_index, text), doc
    assert re.search(from_index, 'pip install "vaelearn[all]"')  # the check can fail


@pytest.mark.slow
def test_pip_installs_vaelearn_from_a_git_url(tmp_path):
    """The documented form `pip install "vaelearn @ git+URL"`, with the URL of this repository's
    own clone (no network): the install works and brings the student lessons."""
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                      capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), f"vaelearn @ git+file://{clone}"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lessons = sorted((target / "vaelearn" / "student_lessons").glob("*.ipynb"))
    assert [p.name for p in lessons] == sorted(p.name for p in STUDENT_DIR.glob("*.ipynb"))


# --- the pip path: sdist + wheel, twine check, a fresh venv, the lessons run


def _solved(student: nbformat.NotebookNode, source: nbformat.NotebookNode):
    """The student edition with each exercise filled in with the instructor's solution (what a
    student who solved them runs); every other cell is left exactly as released."""
    from vaelearn.classroom.editions import _MARKER_LINE

    by_id = {c.get("id"): c for c in source.cells}
    for cell in student.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = _MARKER_LINE.sub("", by_id[cell.id].source)
    return student


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_gives_eight_lessons_that_run(tmp_path):
    """`python -m build` (sdist + wheel), `twine check`, then a fresh venv with `pip install
    <wheel>` and `vaelearn lessons DIR`; each lesson, its exercises solved, runs with nbclient.

    To stay inside CI's time budget the venv gets the wheel with --no-deps and sees the
    dependencies already installed in this environment through a .pth file (no download, no
    second torch); vaelearn itself comes only from the wheel (this environment's editable install
    is a .pth of its own, which a .pth-added folder does not process)."""
    pytest.importorskip("build")
    pytest.importorskip("twine")
    dist = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, [
        wheels[0], sdists[0]])], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shipped = [n for n in zipfile.ZipFile(wheels[0]).namelist()
               if n.startswith("vaelearn/student_lessons/") and n.endswith(".ipynb")]
    assert len(shipped) == 8, shipped

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = Path(subprocess.check_output(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip())
    (site / "_vaelearn_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-index", str(wheels[0])], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    where = subprocess.check_output([str(py), "-c", "import vaelearn; print(vaelearn.__file__)"],
                                    text=True, cwd=tmp_path).strip()
    assert where.startswith(str(site)), f"vaelearn imported from {where}, not the wheel"

    out = tmp_path / "lessons"
    proc = subprocess.run([str(venv / "bin" / "vaelearn"), "lessons", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.glob("*.ipynb")) == sorted(p.name for p in LESSONS)
    for path in LESSONS:
        solved = _solved(nbformat.read(out / path.name, as_version=4),
                         nbformat.read(path, as_version=4))
        nbformat.write(solved, out / path.name)
    runner = textwrap.dedent("""
        import json, sys, nbformat
        from pathlib import Path
        from nbclient import NotebookClient
        results = {}
        for path in sys.argv[1:]:
            nb = nbformat.read(path, as_version=4)
            where = {"metadata": {"path": str(Path(path).parent)}}
            NotebookClient(nb, timeout=600, kernel_name="python3", resources=where).execute()
            install = next(c for c in nb.cells if c.cell_type == "code")
            results[path] = [o.get("text", "") for o in install.outputs]
        print(json.dumps(results))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAELEARN_")}
    env.update(MPLBACKEND="module://matplotlib_inline.backend_inline", VAELEARN_PROGRESS="text",
               OMP_NUM_THREADS="1", VAELEARN_BACKEND="numpy")
    proc = subprocess.run([str(py), "-c", runner, *sorted(map(str, out.glob("*.ipynb")))],
                          capture_output=True, text=True, timeout=1500, cwd=out, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == 8
    # vaelearn was there, so the install cell did nothing (printed nothing)
    assert all(outputs == [] for outputs in results.values()), results
