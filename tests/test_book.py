"""The built book, opened in a real browser: math typeset offline, images load, links resolve.

`make test` runs this file (``make book-check``) on the book that ``make book`` builds, with the
lessons executed, ``VAELEARN_BOOK_HTML`` pointing at its HTML: what is tested is what readers
get. Without the variable it checks ``book/_build/html``.

The book is served by :mod:`http.server` on 127.0.0.1 (a free port) and opened in headless
Chromium, driven through the DevTools protocol by the project's one driver,
``book/_tools/chromium.py`` (``make pdf`` prints with it too), with every host other than
127.0.0.1 unresolvable and background networking off: a page that needs the internet (MathJax
from a CDN, a web font) fails here. Only where Chromium is not installed are the browser checks
skipped, saying so; the link crawl and the bibliography check need no browser and always run.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _html_dir() -> Path:
    env = os.environ.get("VAELEARN_BOOK_HTML")
    if env:
        return Path(env).resolve()
    return ROOT / "book/_build/html"


HTML = _html_dir()
BIB = ROOT / "book" / "references.bib"
sys.path.insert(0, str(ROOT / "book" / "_tools"))
from chromium import WAIT_FOR_PAGE, Chromium, find_chromium, serve  # noqa: E402

CHROMIUM = find_chromium()
# Generated indexes, source listings and the redirect index.html: crawled, not rendered.
NOT_CONTENT = re.compile(r"^(index|genindex|search|py-modindex)\.html$|^_modules/")


@pytest.fixture(scope="module")
def html_dir() -> Path:
    if not (HTML / "index.html").exists():
        pytest.fail(
            f"no built book at {HTML}: run `make book-check` (builds the book and checks it) "
            "or `make book`"
        )
    return HTML


# --- a static server on 127.0.0.1 -------------------------------------------------------------


@pytest.fixture(scope="module")
def server(html_dir):
    with serve(html_dir) as base:
        yield base


# --- crawl (no browser needed) -----------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            # index.html redirects to the root page
            m = re.search(r"url=(.+)", a.get("content") or "", flags=re.I)
            if m:
                self.links.append(m.group(1).strip("'\" "))


def _is_internal(url: str, base: str) -> bool:
    return url.startswith(base)


@functools.cache
def _fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        return exc.code, b"", ""


@pytest.fixture(scope="module")
def crawl(server):
    """Every internal page reachable from index.html: {url: _Page}, plus broken links found."""
    pages: dict[str, _Page] = {}
    broken: list[str] = []
    wanted: list[tuple[str, str, str]] = []  # (from page, target page url, fragment)
    todo = [urljoin(server, "index.html")]
    while todo:
        url = todo.pop()
        if url in pages:
            continue
        status, body, ctype = _fetch(url)
        if status != 200:
            broken.append(f"{url}: HTTP {status}")
            continue
        page = _Page()
        if ctype == "text/html":
            page.feed(body.decode("utf-8", "replace"))
        pages[url] = page
        for href in page.links + page.images:
            target = urljoin(url, href)
            if not _is_internal(target, server):
                continue
            target, frag = urldefrag(target)
            wanted.append((url, target, unquote(frag)))
            if target.endswith(".html") and target not in pages:
                todo.append(target)
            elif not target.endswith(".html"):
                status, _, _ = _fetch(target)
                if status != 200:
                    broken.append(f"{url} -> {href}: HTTP {status}")
    for src, target, frag in wanted:
        if frag and target in pages and frag not in pages[target].ids:
            broken.append(f"{src} -> {target}#{frag}: no such anchor")
    return pages, broken


def _rel(url: str, server: str) -> str:
    return url[len(server):]


def test_no_broken_internal_links(crawl, server):
    pages, broken = crawl
    assert len(pages) >= 5, f"the crawl from index.html found only {len(pages)} pages"
    assert not broken, "broken internal links:\n" + "\n".join(broken[:40])


def _lesson_pages(pages, server) -> list[str]:
    return sorted(
        u for u in pages if re.match(r"lessons/\d\d_[^/]+\.html$", _rel(u, server))
    )


def test_every_lesson_is_in_the_book(crawl, server):
    pages, _ = crawl
    found = {Path(_rel(u, server)).stem for u in _lesson_pages(pages, server)}
    expected = {p.stem for p in (ROOT / "lessons").glob("[0-9][0-9]_*.ipynb")}
    assert found == expected, f"lessons missing from the built book: {sorted(expected - found)}"


def test_lessons_link_to_the_api_page_and_back(crawl, server):
    pages, _ = crawl
    api = urljoin(server, "api.html")
    assert api in pages, "the API reference page is not reachable from index.html"
    lessons = _lesson_pages(pages, server)
    for lesson in lessons:
        targets = {urldefrag(urljoin(lesson, h))[0] for h in pages[lesson].links}
        assert api in targets, f"{_rel(lesson, server)} has no link to the API reference"
    back = {urldefrag(urljoin(api, h))[0] for h in pages[api].links}
    missing = [_rel(u, server) for u in lessons if u not in back]
    assert not missing, f"the API page does not link back to {missing}"


def _bib_keys() -> list[str]:
    return re.findall(r"^@\w+\{([^,\s]+),", BIB.read_text(encoding="utf-8"), flags=re.M)


def test_bibliography_resolves(crawl, server):
    pages, _ = crawl
    keys = _bib_keys()
    assert "burkov2022" in keys and len(keys) >= 20
    status, body, _ = _fetch(urljoin(server, "bibliography.html"))
    assert status == 200
    text = body.decode("utf-8")
    # sphinxcontrib-bibtex renders one <div class="citation"> (docutils >= 0.18) or <dt> per entry
    entries = re.findall(r'class="citation"|<dt class="label"', text)
    assert len(entries) >= len(keys), f"{len(entries)} entries rendered for {len(keys)} keys"
    for needle in ("Kingma", "Welling", "auto-encoding variational", "Burkov", "Shannon"):
        assert needle.lower() in text.lower(), f"bibliography page lacks {needle!r}"
    # every citation in a lesson points at an entry that exists (anchors checked by the crawl)
    bib = urljoin(server, "bibliography.html")
    for lesson in _lesson_pages(pages, server):
        for href in pages[lesson].links:
            target, frag = urldefrag(urljoin(lesson, href))
            if target == bib and frag:
                assert frag in pages[bib].ids, f"{_rel(lesson, server)}: citation #{frag} dangles"


# --- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip(
            "Chromium is not installed (apt-get install chromium; .ci/run does this): the "
            "in-browser checks of the book (typeset math, images, offline assets) were NOT run"
        )
    b = Chromium(CHROMIUM)
    yield b
    b.close()


# Runs in the page after load: waits as the driver does (chromium.WAIT_FOR_PAGE) for MathJax and
# the images, then reports what a reader would see.
INSPECT = r"""
(async () => {
  await """ + WAIT_FOR_PAGE.strip() + r""";  // MathJax has typeset, the images are in
  const ready = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
  const imgs = Array.from(document.images);
  const main = (document.querySelector('main') || document.body).cloneNode(true);
  main.querySelectorAll('pre, code, mjx-container, script, style').forEach(e => e.remove());
  const text = main.textContent;
  const resources = performance.getEntriesByType('resource').map(e =>
      ({url: e.name, status: e.responseStatus === undefined ? -1 : e.responseStatus}));
  return {
    mathjax: ready() ? MathJax.version : null,
    mathNodes: document.querySelectorAll('span.math, div.math').length,
    typeset: document.querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
    rawDisplay: (text.match(/\$\$/g) || []).length,
    rawInline: (text.match(/\\\(|\\\[/g) || []).length,
    images: imgs.map(im => ({src: im.currentSrc || im.src, width: im.naturalWidth})),
    resources: resources,
    title: document.title,
    // every cell output box a reader sees (myst-nb: div.output, or div.cell_output children)
    outputs: Array.from(document.querySelectorAll('div.cell_output > div.output, div.output'))
        .filter((e, i, all) => all.indexOf(e) === i)
        .map(e => e.textContent),
  };
})()
"""


@pytest.fixture(scope="module")
def rendered(browser, crawl, server):
    """Open every content page in Chromium once; {relative url: report}."""
    pages, _ = crawl
    out = {}
    for url in sorted(pages):
        rel = _rel(url, server)
        if not rel.endswith(".html") or NOT_CONTENT.search(rel):
            continue
        browser.open(url)
        out[rel] = browser.evaluate(INSPECT)
    return out


def test_math_is_typeset_offline(rendered):
    with_math = {p: r for p, r in rendered.items() if r["mathNodes"]}
    assert with_math, "no page of the book contains math"
    assert any(p.startswith("lessons/") for p in with_math) or not any(
        p.startswith("lessons/") for p in rendered
    ), "no lesson page contains math"
    for page, r in with_math.items():
        assert r["mathjax"] and r["mathjax"].startswith("3."), f"{page}: MathJax 3 did not load"
        assert r["typeset"] >= r["mathNodes"], (
            f"{page}: {r['mathNodes']} math elements but {r['typeset']} typeset (mjx-container)"
        )
        assert r["mathErrors"] == 0, f"{page}: {r['mathErrors']} MathJax errors"


def test_no_raw_tex_left(rendered):
    for page, r in rendered.items():
        assert r["rawDisplay"] == 0, f"{page}: {r['rawDisplay']} raw '$$' left in the text"
        assert r["rawInline"] == 0, f"{page}: untypeset \\( or \\[ left in the text"


def test_every_image_loads(rendered):
    n = 0
    for page, r in rendered.items():
        for im in r["images"]:
            n += 1
            assert im["width"] > 0, f"{page}: image {im['src']} did not load (naturalWidth 0)"
    lessons = [p for p in rendered if p.startswith("lessons/")]
    if lessons:
        assert n > 0, "lesson pages show no images at all"


# A tqdm bar's text: "fit VAE: 100%|##########| 150/150 [...]" (one per line of a text bar).
PROGRESS = re.compile(r"\b\d{1,3}%\|[^|\n\r]*\|\s*\d+/\d+")


def progress_outputs(texts: list[str]) -> tuple[int, int]:
    """Of the output boxes' texts: (boxes that show a progress bar, progress bar lines in all)."""
    counts = [len(PROGRESS.findall(t)) for t in texts]
    return sum(1 for c in counts if c), sum(counts)


def stored_training_runs(notebook: Path) -> int:
    """Progress lines in a lesson's stored outputs: one final line per training run with a bar."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    return sum(
        len(PROGRESS.findall(str(out.get("text", ""))))
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


def test_lesson_pages_show_one_progress_line_per_training_run(rendered):
    """The executed book looks like the stored lessons: a training run shows one final line.

    A live text bar redraws itself many times; in the executed book every redraw became its own
    output box (lesson 03: 341 boxes, about 10,000 px of grey). ``make book`` runs the lessons
    with ``VAELEARN_PROGRESS=final``, which writes the bar once, when training ends.
    """
    checked = 0
    for page, r in rendered.items():
        if not re.match(r"lessons/\d\d_", page):
            continue
        runs = stored_training_runs(ROOT / "lessons" / (Path(page).stem + ".ipynb"))
        boxes, lines = progress_outputs(r["outputs"])
        assert boxes <= runs and lines <= runs, (
            f"{page}: {boxes} output boxes with {lines} progress-bar lines for {runs} training "
            "runs with a progress bar (the stored lesson shows one line per run)"
        )
        checked += runs
    assert checked > 0 or not any(p.startswith("lessons/") for p in rendered), (
        "no lesson stores a progress line: the progress check above tests nothing"
    )


def test_progress_count_can_fail():
    """The counts above see a redrawn bar: many boxes, or many redraws in one box."""
    frame = "fit VAE: {:3d}%|#         | {}/150 [00:00<00:01, 98.75epoch/s]"
    redraws = [frame.format(100 * i // 150, i) for i in range(151)]
    assert progress_outputs(redraws) == (151, 151)
    assert progress_outputs(["\n".join(redraws)]) == (1, 151)
    assert progress_outputs(["\r".join(redraws)]) == (1, 151)
    assert progress_outputs(["loss 20.1 | 3/4 done", redraws[-1]]) == (1, 1)


def test_assets_are_local_and_load(rendered, server):
    for page, r in rendered.items():
        for res in r["resources"]:
            url = res["url"]
            if url.startswith("data:"):
                continue
            assert url.startswith(server), f"{page}: fetches {url} from outside the book"
            assert res["status"] in (-1, 0, 200, 304), f"{page}: {url} -> HTTP {res['status']}"


def test_search_works_offline(browser, server):
    browser.open(urljoin(server, "search.html?q=entropy"))
    hits = browser.evaluate(
        r"""
        (async () => {
          const t0 = Date.now();
          const n = () => document.querySelectorAll('#search-results li').length;
          while (n() === 0 && Date.now() - t0 < 15000) {
            await new Promise(r => setTimeout(r, 200));
          }
          return n();
        })()
        """
    )
    assert hits > 0, "searching the book for 'entropy' found nothing"


def test_launch_buttons_are_configured(html_dir):
    lessons = sorted((html_dir / "lessons").glob("[0-9][0-9]_*.html"))
    if not lessons:
        pytest.skip("no lesson page built yet")
    text = lessons[0].read_text(encoding="utf-8")
    for host in ("mybinder.org", "colab.research.google.com"):
        assert host in text, f"{lessons[0].name}: no {host} launch button"
    # buttons open lessons/NN.ipynb in the repository, not the book/lessons symlink
    launch = re.findall(r'href="(https://(?:mybinder\.org|colab\.research)[^"]*)"', text)
    assert launch and all("/book/lessons/" not in u for u in launch), launch


def test_served_from_localhost_only(server):
    assert urlparse(server).hostname == "127.0.0.1"


# --- student edition in the book: no hidden tests, solutions only in collapsed toggles ----------
# (issue 15; self-contained: only the html_dir/server/browser fixtures above are used)

# Pages that document nbgrader's marker syntax itself (the instructors' guide, the architecture
# page, the source listings of the modules that parse the markers) may name the markers.
_MARKER_DOCS = re.compile(
    r"^(instructors|architecture)\.html$|^_sources/(instructors|architecture)\.md$|^_modules/")


def _instructor_secrets() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per lesson stem: solution lines and hidden-test lines of the instructor source that occur
    nowhere else in its code (so finding one in the book means it leaked)."""
    import nbformat

    from vaelearn.classroom.release import _HIDDEN, _SOLUTION, hidden_test_lines, solution_lines

    solutions, hidden = {}, {}
    for path in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        public = set()
        for cell in nb.cells:
            if cell.cell_type == "code":
                rest = _HIDDEN.sub("", _SOLUTION.sub("", cell.source))
                public |= {ln.strip() for ln in rest.splitlines()}
        # a line in both a solution and a hidden test is shown with the solution (toggle)
        hid = hidden_test_lines(nb) - public - solution_lines(nb)
        solutions[path.stem] = solution_lines(nb) - public - hid
        hidden[path.stem] = hid
    return solutions, hidden


def _page_text(html: str) -> str:
    import html as html_lib

    return html_lib.unescape(re.sub(r"<[^>]+>", "", html))


def test_book_has_no_hidden_tests_and_no_solution_markers(html_dir):
    solutions, hidden = _instructor_secrets()
    assert any(hidden.values()) and all(solutions.values()), "the oracle found nothing to look for"
    every_hidden = set().union(*hidden.values())
    offenders = []
    for path in sorted(html_dir.rglob("*")):
        if not path.is_file() or path.suffix not in (".html", ".ipynb", ".md", ".txt", ".js"):
            continue
        rel = path.relative_to(html_dir).as_posix()
        if rel.startswith("_static/"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if "BEGIN HIDDEN TESTS" in text or "BEGIN SOLUTION" in text:
            if not _MARKER_DOCS.search(rel):
                offenders.append(f"{rel}: nbgrader marker")
        lines = {ln.strip() for ln in (_page_text(text) if path.suffix == ".html"
                                       else text).splitlines()}
        lines |= {ln.strip().strip('",').replace('\\"', '"') for ln in text.splitlines()}
        leaked = lines & every_hidden
        if leaked:
            offenders.append(f"{rel}: hidden test {sorted(leaked)[:2]}")
    assert not offenders, "\n".join(offenders)


def test_book_solutions_only_inside_toggles(html_dir):
    """Lesson pages: with every hide-cell toggle cut out, no solution line is left."""
    solutions, _ = _instructor_secrets()
    pages = sorted((html_dir / "lessons").glob("[0-9][0-9]_*.html"))
    assert len(pages) == len(solutions), [p.name for p in pages]
    toggle = re.compile(r'<div class="cell tag_hide-cell[^"]*"[^>]*>.*?</details>', re.S)
    for page in pages:
        html = page.read_text(encoding="utf-8")
        inside = toggle.findall(html)
        assert inside, f"{page.name}: no solution toggle"
        outside = {ln.strip() for ln in _page_text(toggle.sub("", html)).splitlines()}
        leaked = outside & solutions[page.stem]
        assert not leaked, f"{page.name}: solution outside a toggle: {sorted(leaked)[:3]}"
        shown = {ln.strip() for ln in _page_text("".join(inside)).splitlines()}
        assert shown & solutions[page.stem], f"{page.name}: the toggles hold no solution"


COLLAPSED = r"""
(() => {
  // checkVisibility(): false inside a closed <details> (its content is not rendered, although
  // getBoundingClientRect still reports a laid-out size in current Chromium)
  const toggles = Array.from(document.querySelectorAll('.tag_hide-cell details'));
  const info = toggles.map(d => {
    const code = d.querySelector('pre');
    return {open: d.open, summary: (d.querySelector('summary .collapsed') ||
                                    d.querySelector('summary') || {}).textContent || '',
            visible: !!(code && code.checkVisibility()), closedHeight: d.offsetHeight};
  });
  let opened = null;
  if (toggles.length) {
    toggles[0].open = true;
    opened = {visible: toggles[0].querySelector('pre').checkVisibility(),
              height: toggles[0].offsetHeight};
    toggles[0].open = false;
  }
  return {info: info, opened: opened};
})()
"""


def test_solutions_are_collapsed_in_the_browser(browser, server, html_dir):
    """In Chromium, each solution toggle of a lesson page is closed and says "Show solution";
    its code takes no space until the reader opens it (opening it shows the code)."""
    pages = sorted((html_dir / "lessons").glob("[0-9][0-9]_*.html"))
    assert pages
    for page in pages:
        browser.open(urljoin(server, f"lessons/{page.name}"))
        report = browser.evaluate(COLLAPSED)
        assert report["info"], f"{page.name}: no solution toggle"
        for t in report["info"]:
            assert not t["open"] and not t["visible"], (page.name, t)
            assert "Show solution" in t["summary"], (page.name, t["summary"])
        opened = report["opened"]
        assert opened["visible"] and opened["height"] > report["info"][0]["closedHeight"], (
            f"{page.name}: opening a toggle shows nothing: {opened}")


def test_launch_buttons_open_the_student_edition(html_dir):
    pages = sorted((html_dir / "lessons").glob("[0-9][0-9]_*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        launch = re.findall(r'href="(https://(?:mybinder\.org|colab\.research)[^"]*)"', text)
        assert len(launch) >= 2, page.name
        for url in launch:
            assert f"vaelearn/student_lessons/{page.stem}.ipynb" in unquote(url), url
            assert (ROOT / "vaelearn" / "student_lessons" / f"{page.stem}.ipynb").exists()


SEARCH_MATH = r"""
(async () => {
  // Summaries arrive one by one (each page is fetched) and are then typeset: poll until no
  // raw "\(" / "\[" delimiters are left, or 25 s pass.
  const t0 = Date.now();
  const measure = () => {
    const box = document.getElementById('search-results').cloneNode(true);
    box.querySelectorAll('mjx-container, script').forEach(e => e.remove());
    return {results: document.querySelectorAll('#search-results li p.context').length,
            typeset: document.querySelectorAll('#search-results mjx-container').length,
            raw: (box.textContent.match(/\\\(|\\\)|\\\[|\\\]/g) || []).length};
  };
  let m = measure();
  while (Date.now() - t0 < 25000 && (m.results === 0 || m.raw > 0 || m.typeset === 0)) {
    await new Promise(r => setTimeout(r, 300));
    m = measure();
  }
  return m;
})()
"""


def test_search_results_show_typeset_maths(browser, server):
    """A search whose summaries quote maths shows it typeset, not as "\\(...\\)" source."""
    browser.open(urljoin(server, "search.html?q=prior"))
    report = browser.evaluate(SEARCH_MATH)
    assert report["results"] > 0, report
    assert report["typeset"] > 0 and report["raw"] == 0, report


PHONE_MATH = r"""
(() => {
  const vw = document.documentElement.clientWidth;
  const eqs = Array.from(document.querySelectorAll('mjx-container[display="true"]'));
  return {vw: vw, n: eqs.length,
          bad: eqs.filter(e => e.getBoundingClientRect().right > vw + 1
                               || (e.scrollWidth > e.clientWidth + 1
                                   && getComputedStyle(e).overflowX !== 'auto')).length,
          scrolls: eqs.filter(e => e.scrollWidth > e.clientWidth + 1).length,
          pageWider: document.documentElement.scrollWidth > vw + 1};
})()
"""


def test_wide_equations_scroll_on_a_phone(browser, server, html_dir):
    """At phone width (390 px) no display equation sticks out of the screen or is cut: a wide
    one scrolls sideways inside its own box, and the page itself does not scroll sideways."""
    page = sorted((html_dir / "lessons").glob("05_*.html"))[0]
    browser.send("Emulation.setDeviceMetricsOverride", width=390, height=844,
                 deviceScaleFactor=1, mobile=True)
    try:
        browser.open(urljoin(server, f"lessons/{page.name}"))
        browser.evaluate(INSPECT)  # waits for MathJax
        report = browser.evaluate(PHONE_MATH)
    finally:
        browser.send("Emulation.clearDeviceMetricsOverride")
    assert report["n"] > 0, report
    assert report["scrolls"] > 0, f"no equation is wider than a phone: vacuous check {report}"
    assert report["bad"] == 0 and not report["pageWider"], report


SEARCH_TITLES = r"""
(async () => {
  const t0 = Date.now();
  const links = () => Array.from(document.querySelectorAll('#search-results li > a'));
  while (Date.now() - t0 < 20000 && (links().length === 0 ||
         links().some(a => a.href.includes('glossary.html#term-') && !a.dataset.vaelearnTerm))) {
    await new Promise(r => setTimeout(r, 300));
  }
  await new Promise(r => setTimeout(r, 300));
  return links().map(a => a.textContent.trim());
})()
"""


def test_search_lists_glossary_terms_by_name(browser, server):
    """'entropy' matches two glossary terms: each result names its term, so "Glossary" is not
    listed twice."""
    browser.open(urljoin(server, "search.html?q=entropy"))
    titles = browser.evaluate(SEARCH_TITLES)
    assert titles, "no search results"
    assert "Entropy (glossary)" in titles, titles
    assert len(titles) == len(set(titles)), f"a result is listed twice: {titles}"
