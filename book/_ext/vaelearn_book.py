"""Sphinx extension for the vaelearn book: the API page and the links between lessons and it.

Loaded by ``_config.yml`` (``sphinx.local_extensions``). It does three things:

1. **API page.** ``api.md`` holds the marker ``<!-- vaelearn-api-modules -->``; it is replaced by
   one ``automodule`` section per public module of the installed ``vaelearn`` package (found
   with :mod:`pkgutil`), so a new module appears in the reference without editing the page.
2. **Lesson -> API.** Each lesson page gets a closing section that links every documented
   ``vaelearn`` function or class its code cells use (``B.fit``, ``vaelearn.info.entropy``,
   ``from vaelearn.derive import Derivation``, ...) to its entry on the API page.
3. **API -> lesson.** Each entry on the API page that a lesson uses says "Used in" with links
   back to those lessons, and the page ends with a list of all lessons.

Links are only made to targets that exist, so the extension itself never adds a broken link or a
warning; the browser test (tests/test_book.py) checks every link in the built book.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path

from docutils import nodes
from sphinx import addnodes

API_DOC = "api"
MARKER = "<!-- vaelearn-api-modules -->"
LESSON_DIR = "lessons"
LESSON_NAME = re.compile(r"^\d\d_.+\.ipynb$")

# Reading order of the API page; modules not listed come after, alphabetically.
MODULE_ORDER = [
    "vaelearn",
    "vaelearn.info",
    "vaelearn.derive",
    "vaelearn.derivations",
    "vaelearn.data",
    "vaelearn.latent",
    "vaelearn.elbo",
    "vaelearn.likelihoods",
    "vaelearn.autoencoders",
    "vaelearn.holes",
    "vaelearn.collapse",
    "vaelearn.plotting",
    "vaelearn.numpy",
    "vaelearn.torch",
    "vaelearn.notebooks",
    "vaelearn.classroom",
    "vaelearn.cli",
    "vaelearn.bench",
]

GROUPS = [
    ("The package", ("vaelearn",)),
    ("Maths: information theory, derivations, exact models", (
        "vaelearn.info", "vaelearn.derive", "vaelearn.derivations",
        "vaelearn.autoencoders", "vaelearn.holes", "vaelearn.elbo", "vaelearn.likelihoods",
        "vaelearn.collapse")),
    ("Data, latent tools and pictures", ("vaelearn.data", "vaelearn.latent", "vaelearn.plotting")),
    ("The NumPy reference backend", ("vaelearn.numpy",)),
    ("The torch backend", ("vaelearn.torch",)),
    ("Lessons, classroom and command line", (
        "vaelearn.notebooks", "vaelearn.classroom", "vaelearn.cli", "vaelearn.bench")),
]


def public_modules() -> list[str]:
    """Every importable public module of vaelearn (no ``_private`` parts, no ``__main__``)."""
    import vaelearn

    names = ["vaelearn"]
    for info in pkgutil.walk_packages(vaelearn.__path__, "vaelearn."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts):
            continue
        names.append(info.name)

    def key(name: str) -> tuple[int, int, str]:
        group = [g for g, _ in GROUPS].index(_group_of(name)) if _group_of(name) in dict(
            GROUPS) else len(GROUPS)
        for i, top in reversed(list(enumerate(MODULE_ORDER))):
            if name == top or (top != "vaelearn" and name.startswith(top + ".")):
                return (group, i, name)
        return (group, len(MODULE_ORDER), name)

    return sorted(names, key=key)


def _group_of(name: str) -> str:
    for title, tops in GROUPS:
        if any(name == t or (t != "vaelearn" and name.startswith(t + ".")) for t in tops):
            return title
    return "Other modules"


def automodule_rst(name: str, documented: set[str] | None = None) -> str:
    """reST for one module's section of the API page.

    autodoc documents every name in a module's ``__all__``, wherever it is defined; a package
    that re-exports its submodules' names (``vaelearn.numpy`` re-exports ``vaelearn.numpy.models``
    ...) would describe each object twice. Names defined in another documented module are
    therefore left to that module's section; names defined in a private module
    (``vaelearn.torch.get_device`` from ``vaelearn.torch._device``) stay with the package.
    """
    documented = set(public_modules()) if documented is None else documented
    module = importlib.import_module(name)
    exported = list(dict.fromkeys(getattr(module, "__all__", [])))
    elsewhere = []
    for attr in exported:
        obj = getattr(module, attr, None)
        owner = obj.__name__ if isinstance(obj, type(importlib)) else getattr(
            obj, "__module__", None)
        if isinstance(owner, str) and owner != name and owner in documented:
            elsewhere.append(attr)
    rst = f".. automodule:: {name}\n"
    if elsewhere:
        rst += f"   :exclude-members: {', '.join(elsewhere)}\n"
    return rst


def api_markdown() -> str:
    """MyST source for the generated part of the API page."""
    out, current = [], None
    modules = public_modules()
    for name in modules:
        group = _group_of(name)
        if group != current:
            out.append(f"\n## {group}\n")
            current = group
        # eval-rst: docstrings are reStructuredText (numpydoc), not MyST
        out.append(f"\n### `{name}`\n\n```{{eval-rst}}\n{automodule_rst(name, set(modules))}```\n")
    return "".join(out)


def on_source_read(app, docname: str, source: list[str]) -> None:
    if docname == API_DOC and MARKER in source[0]:
        source[0] = source[0].replace(MARKER, api_markdown())


# --- which vaelearn names each lesson uses -----------------------------------------------------


def _resolve(dotted: str) -> str | None:
    """Canonical name (``module.qualname``) of the object at ``dotted``, or None."""
    parts = dotted.split(".")
    obj, i = None, len(parts)
    # longest importable module prefix
    while i > 0:
        try:
            obj = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            i -= 1
    if obj is None:
        return None
    for part in parts[i:]:
        if part.startswith("_") or not hasattr(obj, part):
            break
        obj = getattr(obj, part)
    if isinstance(obj, type(importlib)):
        return obj.__name__
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or not module.startswith("vaelearn"):
        return None
    return f"{module}.{qualname}"


def names_used(code: str) -> set[str]:
    """Dotted ``vaelearn`` paths that a lesson's code refers to (before resolution)."""
    aliases: dict[str, str] = {}
    direct: set[str] = set()
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "vaelearn":
                    aliases[a.asname or "vaelearn"] = a.name if a.asname else "vaelearn"
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "vaelearn":
                for a in node.names:
                    if a.name != "*":
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                        direct.add(f"{node.module}.{a.name}")
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            # B = vaelearn.get_backend() / get_backend("torch"): the book documents the reference
            func = ast.unparse(node.value.func)
            if func.endswith("get_backend"):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        aliases[t.id] = "vaelearn.numpy"
    found = set(direct)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = []
            cur = node
            while isinstance(cur, ast.Attribute):
                chain.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name) and cur.id in aliases:
                found.add(".".join([aliases[cur.id], *reversed(chain)]))
    return found


def lesson_usage(srcdir: str) -> dict[str, set[str]]:
    """Map lesson docname -> canonical names of the vaelearn objects its code cells use."""
    usage: dict[str, set[str]] = {}
    for path in sorted((Path(srcdir) / LESSON_DIR).glob("*.ipynb")):
        if not LESSON_NAME.match(path.name):
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = "\n".join(
            "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb.get("cells", [])
            if c.get("cell_type") == "code"
        )
        # IPython magics are not Python
        code = "\n".join(
            line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        names = set()
        for dotted in names_used(code):
            canonical = _resolve(dotted)
            if canonical:
                names.add(canonical)
        usage[f"{LESSON_DIR}/{path.stem}"] = names
    return usage


def _usage(app) -> dict[str, set[str]]:
    if not hasattr(app, "_vaelearn_usage"):
        app._vaelearn_usage = lesson_usage(app.srcdir)
    return app._vaelearn_usage


def _link(app, fromdoc: str, todoc: str, anchor: str, text: str, code: bool) -> nodes.reference:
    uri = app.builder.get_relative_uri(fromdoc, todoc)
    if anchor:
        uri += "#" + anchor
    ref = nodes.reference("", "", internal=True, refuri=uri)
    ref += nodes.literal(text, text) if code else nodes.Text(text)
    return ref


def _lesson_title(app, docname: str) -> str:
    title = app.env.titles.get(docname)
    return title.astext() if title is not None else docname


def on_doctree_resolved(app, doctree, docname: str) -> None:
    if app.builder.format != "html":
        return
    env = app.env
    objects = env.get_domain("py").objects
    usage = _usage(app)
    lessons = sorted(d for d in env.found_docs if d.startswith(LESSON_DIR + "/"))
    has_api = API_DOC in env.found_docs

    if docname in lessons and has_api:
        section = nodes.section(ids=["vaelearn-functions-used-in-this-lesson"])
        section += nodes.title("", "vaelearn functions used in this lesson")
        para = nodes.paragraph()
        para += nodes.Text("Each name links to its entry in the ")
        para += _link(app, docname, API_DOC, "", "API reference", code=False)
        para += nodes.Text(", which gives the formula, the shapes and the other lessons using it.")
        section += para
        documented = sorted(n for n in usage.get(docname, ()) if n in objects)
        if documented:
            items = nodes.bullet_list()
            for name in documented:
                entry = objects[name]
                item = nodes.list_item()
                p = nodes.paragraph()
                p += _link(app, docname, entry.docname, entry.node_id, name, code=True)
                item += p
                items += item
            section += items
        doctree += section

    if docname == API_DOC:
        users: dict[str, list[str]] = {}
        for lesson in lessons:
            for name in usage.get(lesson, ()):
                users.setdefault(name, []).append(lesson)
        for desc in doctree.findall(addnodes.desc):
            if desc.get("domain") != "py":
                continue
            sig = next(iter(desc.findall(addnodes.desc_signature)), None)
            if sig is None or not sig.get("ids"):
                continue
            fullname = sig["ids"][0]
            if fullname not in users:
                continue
            content = next(iter(desc.findall(addnodes.desc_content)), None)
            if content is None:
                continue
            para = nodes.paragraph(classes=["vaelearn-used-in"])
            para += nodes.strong("", "Used in: ")
            for i, lesson in enumerate(sorted(users[fullname])):
                if i:
                    para += nodes.Text(", ")
                para += _link(app, docname, lesson, "", _lesson_title(app, lesson), code=False)
            content.insert(0, para)
        if lessons:
            section = nodes.section(ids=["lessons-and-the-api"])
            section += nodes.title("", "The lessons")
            items = nodes.bullet_list()
            for lesson in lessons:
                item = nodes.list_item()
                p = nodes.paragraph()
                p += _link(app, docname, lesson, "", _lesson_title(app, lesson), code=False)
                n = len([x for x in usage.get(lesson, ()) if x in objects])
                p += nodes.Text(f" (uses {n} documented names)" if n else "")
                item += p
                items += item
            section += items
            doctree += section


def _public_name(canonical: str) -> str:
    """``vaelearn.torch._device.get_device`` -> ``vaelearn.torch.get_device``."""
    parts = canonical.split(".")
    return ".".join(p for p in parts[:-1] if not p.startswith("_")) + "." + parts[-1]


def on_missing_reference(app, env, node, contnode):
    """Resolve a reference to a vaelearn object by the name a reader uses for it.

    Docstrings say ``vaelearn.numpy.fit`` (the re-export) while the API page documents
    ``vaelearn.numpy.train.fit`` (where it is defined); a short ``get_device`` inside
    ``vaelearn.torch.info`` means the function that module imports. Both are resolved by importing
    the name and following the object to where it is documented. References to private
    vaelearn names (``vaelearn.plotting._style``) are rendered as plain code, not links.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    module = node.get("py:module") or ""
    candidates = [target] if target.startswith("vaelearn") else []
    if module.startswith("vaelearn"):
        candidates.append(f"{module}.{target}")
    objects = env.get_domain("py").objects
    for cand in candidates:
        canonical = _resolve(cand)
        if canonical is None:
            continue
        for name in (canonical, _public_name(canonical)):
            if name in objects:
                entry = objects[name]
                uri = app.builder.get_relative_uri(node["refdoc"], entry.docname)
                ref = nodes.reference("", "", internal=True, refuri=f"{uri}#{entry.node_id}")
                ref += contnode
                return ref
    if any(part.startswith("_") for part in target.split(".")[1:]) and target.startswith(
        "vaelearn."
    ):
        return contnode
    return None


STUDENT_DIR = "vaelearn/student_lessons"


def _repo_paths(obj):
    """Rewrite ``book/lessons/`` to the student editions' folder in every string of a
    launch-button structure."""
    if isinstance(obj, str):
        return obj.replace("/book/lessons/", f"/{STUDENT_DIR}/")
    if isinstance(obj, list):
        return [_repo_paths(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _repo_paths(v) for k, v in obj.items()}
    return obj


def on_html_page_context(app, pagename, templatename, context, doctree) -> None:
    """Launch buttons (Binder, Colab, JupyterHub) open the lesson's student edition where it is
    committed in the repository, ``vaelearn/student_lessons/NN_name.ipynb`` (exercises without
    solutions, plain-Markdown citations, a first cell that installs vaelearn on Colab), not the
    book edition behind the ``book/lessons`` symlink (generated, and Colab reads files from
    GitHub, which does not follow symlinks)."""
    if pagename.startswith(LESSON_DIR + "/") and "header_buttons" in context:
        context["header_buttons"] = _repo_paths(context["header_buttons"])


STATIC = Path(__file__).resolve().parent.parent / "_static"


def on_config_inited(app, config) -> None:
    """Serve book/_static (the CSS and script that setup() adds)."""
    if str(STATIC) not in map(str, config.html_static_path):
        config.html_static_path.append(str(STATIC))


def setup(app):
    # book/_static: CSS (wide equations scroll, figures fit the column) and the script that
    # typesets maths in search results; MathJax is loaded on every page for it (search.html has
    # no maths of its own but shows page text that has).
    app.connect("config-inited", on_config_inited)
    app.add_css_file("vaelearn.css")
    app.add_js_file("vaelearn_search.js")
    app.set_html_assets_policy("always")
    app.connect("source-read", on_source_read)
    # after sphinx-book-theme's add_launch_buttons (priority 501)
    app.connect("html-page-context", on_html_page_context, priority=600)
    app.connect("missing-reference", on_missing_reference)
    app.connect("doctree-resolved", on_doctree_resolved)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": False}
