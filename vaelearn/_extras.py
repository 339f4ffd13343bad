"""One line instead of a traceback when a command needs an optional extra that is not installed."""

from __future__ import annotations

__all__ = ["EXTRA_OF", "GIT_URL", "install_hint", "missing_extra"]

GIT_URL = "git+https://github.com/vaelearn/vaelearn"
"""vaelearn is installed from its Git repository (it is not on a package index)."""

# top-level module -> the extra of pyproject.toml that installs it
EXTRA_OF = {
    "torch": "torch",
    "nbgrader": "classroom",
    "nbclient": "classroom",
    "ipykernel": "classroom",
    "jupyter_client": "classroom",
}


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra`` (from a clone: ``pip install -e ".[extra]"``)."""
    return f'pip install "vaelearn[{extra}] @ {GIT_URL}"'


def missing_extra(exc: BaseException) -> str | None:
    """The one-line message for an ImportError caused by a module of an optional extra, or None.

    Follows the chain of causes, so a wrapped ImportError (``get_backend("torch")``) is
    recognised too.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        name = getattr(exc, "name", None)
        if isinstance(exc, ImportError) and name:
            top = name.split(".")[0]
            if top in EXTRA_OF:
                extra = EXTRA_OF[top]
                return (f"this needs {top}, which is in vaelearn's '{extra}' extra: "
                        f"{install_hint(extra)}")
        exc = exc.__cause__ or exc.__context__
    return None
