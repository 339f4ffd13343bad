"""Packaging: light import, one version, the backend switch, a wheel that builds."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import vaelearn

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VAELEARN_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, cwd=ROOT,
        timeout=120,
    )


def test_import_is_light():
    """`import vaelearn` (and the lazy submodules lessons use first) pull in neither torch nor
    matplotlib; checked in a fresh interpreter, where nothing else imported them."""
    proc = _run(
        "import sys, vaelearn\n"
        "vaelearn.get_backend('numpy')\n"
        "heavy = sorted(m for m in ('torch', 'matplotlib') if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"import vaelearn imported {proc.stdout.strip()}"


def test_version_is_defined_once_and_matches_metadata():
    assert vaelearn.__version__ == importlib.metadata.version("vaelearn")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "vaelearn.__version__" }' in pyproject
    # the number is written in exactly one place in the sources
    hits = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "vaelearn").rglob("*.py")
        if f'"{vaelearn.__version__}"' in p.read_text(encoding="utf-8")
    ]
    assert hits == ["vaelearn/__init__.py"], hits


@pytest.mark.parametrize(
    ("env", "expected"),
    [(None, "vaelearn.numpy"), ("", "vaelearn.numpy"), ("numpy", "vaelearn.numpy"),
     (" NumPy ", "vaelearn.numpy")],
)
def test_get_backend_reads_the_environment(env, expected):
    extra = {} if env is None else {"VAELEARN_BACKEND": env}
    proc = _run("import vaelearn; print(vaelearn.get_backend().__name__)", **extra)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected


def test_get_backend_torch_from_the_environment():
    pytest.importorskip("torch")
    proc = _run("import vaelearn; print(vaelearn.get_backend().__name__)", VAELEARN_BACKEND="torch")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "vaelearn.torch"


@pytest.mark.parametrize("bad", ["jax", "tensorflow", "numpy2", "1"])
def test_bad_backend_in_the_environment_is_a_value_error(bad):
    proc = _run(
        "import vaelearn\n"
        "try:\n    vaelearn.get_backend()\n"
        "except ValueError as e:\n    print('ValueError:', e)\n",
        VAELEARN_BACKEND=bad,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ValueError:"), proc.stdout
    assert "VAELEARN_BACKEND" in proc.stdout and bad in proc.stdout


@pytest.mark.parametrize("bad", ["jax", "", "torch2", "pytorch"])
def test_bad_backend_argument_is_a_value_error(bad):
    with pytest.raises(ValueError, match="name"):
        vaelearn.get_backend(bad)


@pytest.mark.slow
def test_wheel_builds(tmp_path):
    """`python -m pip wheel . --no-deps` builds a wheel holding the package (not the tests,
    lessons or book) with the console script."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps",
         "--quiet", "-w", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheels = list(tmp_path.glob("vaelearn-*.whl"))
    assert len(wheels) == 1, wheels
    assert wheels[0].name.startswith(f"vaelearn-{vaelearn.__version__}-")
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "vaelearn/__init__.py" in names
    assert "vaelearn/numpy/__init__.py" in names and "vaelearn/torch/__init__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "lessons/", "book/"))]
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "vaelearn = vaelearn.cli:main" in zipfile.ZipFile(wheels[0]).read(entry).decode()
