"""The package's import rules, read from the source with ``ast`` (not by review).

- ``vaelearn.numpy`` and ``vaelearn.torch`` never import each other (absolute or relative, at
  module level or inside a function): the twins meet through data and through the neutral
  ``vaelearn.common``, which imports neither backend;
- the package has no import cycles among its module-level imports (a cycle makes the import order
  matter and half-initialised modules possible).

Each rule is also run on a small synthetic package that breaks it, so the test is seen to fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "vaelearn"


def _module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_sources(root=ROOT):
    """``{module name: source}`` for every ``.py`` file of the package (student copies aside)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        if "student_lessons" in path.parts:
            continue
        out[_module_name(path)] = path.read_text(encoding="utf-8")
    return out


def _resolve(name, level, module, is_package):
    """Absolute name of ``from <level dots><name> import ...`` written in ``module``."""
    if level == 0:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def import_graph(sources, top_level_only=False):
    """``{module: set of package modules it imports}``; ``from pkg import sub`` counts as
    importing ``pkg.sub`` when that is a module. ``top_level_only``: skip imports made inside
    functions (they run at call time, not import time)."""
    known = set(sources)
    packages = {m for m in known if any(o.startswith(m + ".") for o in known)}
    graph = {}
    for module, source in sources.items():
        tree = ast.parse(source)
        nodes = tree.body if top_level_only else list(ast.walk(tree))
        if top_level_only:  # module level, including under if/try blocks
            stack, nodes = list(tree.body), []
            while stack:
                node = stack.pop()
                nodes.append(node)
                if isinstance(node, ast.If | ast.Try):
                    for block in (node.body, node.orelse, getattr(node, "handlers", []),
                                  getattr(node, "finalbody", [])):
                        stack.extend(block)
                elif isinstance(node, ast.ExceptHandler):
                    stack.extend(node.body)
        deps = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node.module or "", node.level, module, module in packages)
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                if name in known:
                    deps.add(name)
        deps.discard(module)
        graph[module] = deps
    return graph


def backend_violations(graph):
    """``(importer, imported)`` pairs that cross between the backends or out of ``common``."""
    def side(m):
        for pkg in ("vaelearn.numpy", "vaelearn.torch", "vaelearn.common"):
            if m == pkg or m.startswith(pkg + "."):
                return pkg
        return None

    forbidden = {
        "vaelearn.numpy": {"vaelearn.torch"},
        "vaelearn.torch": {"vaelearn.numpy"},
        "vaelearn.common": {"vaelearn.numpy", "vaelearn.torch"},
    }
    return sorted(
        (m, d) for m, deps in graph.items() for d in deps
        if side(m) in forbidden and side(d) in forbidden[side(m)]
    )


def find_cycle(graph):
    """One import cycle as a list of modules, or ``None`` (depth-first search)."""
    state, path = {}, []

    def visit(m):
        state[m] = "open"
        path.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == "open":
                return path[path.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        path.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_backends_do_not_import_each_other():
    graph = import_graph(package_sources())
    assert "vaelearn.numpy.models" in graph and "vaelearn.torch.models" in graph
    assert backend_violations(graph) == []


def test_no_import_cycles():
    assert find_cycle(import_graph(package_sources(), top_level_only=True)) is None


SYNTHETIC = {
    "vaelearn": "",
    "vaelearn.common": "",
    "vaelearn.common.checks": "import numpy as np\n",
    "vaelearn.numpy": "from . import a\n",
    "vaelearn.numpy.a": "from ..torch import b\nfrom ..common.checks import np\n",
    "vaelearn.torch": "",
    "vaelearn.torch.b": "def f():\n    import vaelearn.numpy.a as a\n    return a\n",
    "vaelearn.torch.c": "from vaelearn.common import checks\n",
    "vaelearn.x": "from . import y\n",
    "vaelearn.y": "from .x import thing\n",
}


def test_rules_fail_on_a_synthetic_violation():
    graph = import_graph(SYNTHETIC)
    assert backend_violations(graph) == [
        ("vaelearn.numpy.a", "vaelearn.torch"),  # relative: from ..torch import b
        ("vaelearn.numpy.a", "vaelearn.torch.b"),
        ("vaelearn.torch.b", "vaelearn.numpy.a"),  # absolute, inside a function
    ]
    cycle = find_cycle(import_graph(SYNTHETIC, top_level_only=True))
    assert cycle is not None and set(cycle) == {"vaelearn.x", "vaelearn.y"}


@pytest.mark.parametrize("module", ["vaelearn.numpy.models", "vaelearn.torch.models"])
def test_the_graph_sees_relative_imports(module):
    """The real graph is not empty by accident: the models import their distributions."""
    graph = import_graph(package_sources())
    assert module.rsplit(".", 1)[0] + ".distributions" in graph[module]
    assert "vaelearn.common.checks" in graph[module]


def environ_mutations(sources):
    """``(module, line)`` of every write to ``os.environ`` (item, pop, update, setdefault, del)
    and every ``os.putenv``: configuration travels as arguments, not through the environment."""
    found = []
    for module, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            target = None
            if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
                targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [
                    node.target]
                target = next((t for t in targets if isinstance(t, ast.Subscript)), None)
                target = target.value if target is not None else None
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("pop", "update", "setdefault", "clear", "popitem"):
                    target = node.func.value
                elif node.func.attr in ("putenv", "unsetenv"):
                    found.append((module, node.lineno))
            if (isinstance(target, ast.Attribute) and target.attr == "environ"
                    and isinstance(target.value, ast.Name) and target.value.id == "os"):
                found.append((module, node.lineno))
    return found


def test_no_environment_mutation():
    assert environ_mutations(package_sources()) == []
    bad = {"m": "import os\nos.environ['A'] = '1'\nos.environ.pop('A')\nos.environ.get('B')\n"}
    assert environ_mutations(bad) == [("m", 2), ("m", 3)]
