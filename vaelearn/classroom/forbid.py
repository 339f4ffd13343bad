"""Make an exercise's test fail when the answer only delegates to the library.

An exercise that asks a student to *write* ``entropy`` is not answered by ``return
info.entropy(p)``. Inside ``with forbid(globals(), (info, "entropy")):`` every reference to that
function that the student could reach (the module attribute, every ``vaelearn`` module that
re-exports the same object, and every name in the notebook's namespace bound to it) is replaced
by a stand-in that raises :class:`DelegatedToLibrary`; everything is restored on exit, also when
the test fails.

Only the functions named are replaced, so a student may still use the rest of the library (and
NumPy) freely.

A reference the student kept (``def f(p, _f=info.entropy)``, a closure, a list) is caught too:
for a plain Python function the block also swaps the function's code for code that raises, so
every reference to the function object refuses. Functions written in C (NumPy's) and functions
with closures are only unbound by name.

Under ``vaelearn classroom grade`` the tests run in the judge and the student's functions in the
sandbox: the judge sends :func:`active_targets` with every call, and the sandbox applies the same
``forbid`` around the student's function (see :mod:`vaelearn.classroom.judge`). This is a check
that an answer is the student's own work, not a security boundary: code in the student's process
can still copy a function's source, reload a module, or patch this module itself.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from types import CodeType, FunctionType, ModuleType

__all__ = ["DelegatedToLibrary", "forbid", "active_targets", "resolve_targets"]

# (module name, class qualname or "", attribute) of every target of the blocks now open
_ACTIVE: list[tuple[str, str, str]] = []
_SENTINEL = "__vaelearn_forbidden__"
_TEMPLATE = next(c for c in compile(
    f"def refuse(*args, **kwargs):\n    raise {_SENTINEL!r}\n", "<forbid>", "exec").co_consts
    if isinstance(c, CodeType))


class DelegatedToLibrary(AssertionError):
    """Raised when an answer calls the library function the exercise asks the student to write."""


def _stand_in(qualname: str):
    def refuse(*args, **kwargs):
        raise DelegatedToLibrary(
            f"{qualname} was called: this exercise asks you to write it yourself "
            "(the test hides it while it checks your answer)")

    refuse.__name__ = qualname.rsplit(".", 1)[-1]
    return refuse


def _refusing_code(original: FunctionType, qualname: str) -> CodeType:
    """Code that raises DelegatedToLibrary, to run in ``original``'s place (no name lookups)."""
    error = DelegatedToLibrary(
        f"{qualname} was called: this exercise asks you to write it yourself "
        "(the test hides it while it checks your answer)")
    consts = tuple(error if c == _SENTINEL else c for c in _TEMPLATE.co_consts)
    return _TEMPLATE.replace(co_consts=consts, co_name=original.__code__.co_name)


def _spec(holder) -> tuple[str, str]:
    if isinstance(holder, ModuleType):
        return holder.__name__, ""
    return holder.__module__, holder.__qualname__


def active_targets() -> list[list[str]]:
    """The targets of the ``forbid`` blocks open now, as plain data ``[module, class, name]``
    (``class`` is ``""`` for a module attribute): what the judge sends to the sandbox."""
    return [list(t) for t in _ACTIVE]


def resolve_targets(specs) -> list[tuple[object, str]]:
    """``(module or class, name)`` pairs from :func:`active_targets` data; what cannot be found
    in this process (a module it has not imported, say) is left out."""
    out = []
    for spec in specs:
        try:
            module_name, class_name, attr = (str(v) for v in spec)
            holder = importlib.import_module(module_name)
            for part in filter(None, class_name.split(".")):
                holder = getattr(holder, part)
        except (ImportError, AttributeError, TypeError, ValueError):
            continue
        if isinstance(holder, (ModuleType, type)) and hasattr(holder, attr):
            out.append((holder, attr))
    return out


@contextmanager
def forbid(namespace: MutableMapping, *targets: tuple[ModuleType, str]) -> Iterator[None]:
    """Within the block, calling any ``module.name`` of ``targets`` raises.

    ``namespace`` is the notebook's ``globals()``; ``targets`` are ``(module, "name")`` pairs, or
    ``(class, "name")`` pairs for a method.
    """
    if not isinstance(namespace, MutableMapping):
        raise TypeError(
            f"namespace must be a dict such as globals(), got {type(namespace).__name__}")
    if not targets:
        raise ValueError("targets: name at least one (module, 'name') pair to forbid")
    originals = []
    for target in targets:
        if (not isinstance(target, tuple) or len(target) != 2
                or not isinstance(target[0], (ModuleType, type))
                or not isinstance(target[1], str)):
            raise TypeError(
                f"targets: each must be a (module or class, 'name') pair, got {target!r}")
        module, name = target
        if not hasattr(module, name):
            raise ValueError(f"targets: {module.__name__} has no attribute {name!r}")
        originals.append((getattr(module, name), f"{module.__name__}.{name}"))
    saved: list[tuple[object, str, object]] = []   # (holder, name, original); holder dict or module
    swapped: list[tuple[FunctionType, CodeType, object, object]] = []
    specs = [(*_spec(m), name) for m, name in targets]
    _ACTIVE.extend(specs)
    try:
        for original, qualname in originals:
            if (isinstance(original, FunctionType) and not original.__code__.co_freevars
                    and all(f is not original for f, *_ in swapped)):
                swapped.append((original, original.__code__, original.__defaults__,
                                original.__kwdefaults__))
                original.__code__ = _refusing_code(original, qualname)
                original.__defaults__ = original.__kwdefaults__ = None
            stand_in = _stand_in(qualname)
            holders = {id(m): m for key, m in list(sys.modules.items())
                       if key.split(".")[0] == "vaelearn" and isinstance(m, ModuleType)}
            holders.update({id(m): m for m, _ in targets})
            for mod in holders.values():
                for attr, value in list(vars(mod).items()):  # a class's vars: a mappingproxy
                    if value is original:
                        saved.append((mod, attr, value))
                        setattr(mod, attr, stand_in)
            for key, value in list(namespace.items()):
                if value is original:
                    saved.append((namespace, key, value))
                    namespace[key] = stand_in
        yield
    finally:
        for function, code, defaults, kwdefaults in reversed(swapped):
            function.__code__ = code
            function.__defaults__, function.__kwdefaults__ = defaults, kwdefaults
        for spec in specs:
            _ACTIVE.remove(spec)
        for holder, attr, value in reversed(saved):
            if isinstance(holder, (ModuleType, type)):
                setattr(holder, attr, value)
            else:
                holder[attr] = value
