"""Make an exercise's test fail when the answer only delegates to the library.

An exercise that asks a student to *write* ``entropy`` is not answered by ``return
info.entropy(p)``. Inside ``with forbid(globals(), (info, "entropy")):`` every reference to that
function that the student could reach (the module attribute, every ``vaelearn`` module that
re-exports the same object, and every name in the notebook's namespace bound to it) is replaced
by a stand-in that raises :class:`DelegatedToLibrary`; everything is restored on exit, also when
the test fails.

Only the functions named are replaced, so a student may still use the rest of the library (and
NumPy) freely.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from types import ModuleType

__all__ = ["DelegatedToLibrary", "forbid"]


class DelegatedToLibrary(AssertionError):
    """Raised when an answer calls the library function the exercise asks the student to write."""


def _stand_in(qualname: str):
    def refuse(*args, **kwargs):
        raise DelegatedToLibrary(
            f"{qualname} was called: this exercise asks you to write it yourself "
            "(the test hides it while it checks your answer)")

    refuse.__name__ = qualname.rsplit(".", 1)[-1]
    return refuse


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
    try:
        for original, qualname in originals:
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
        for holder, attr, value in reversed(saved):
            if isinstance(holder, (ModuleType, type)):
                setattr(holder, attr, value)
            else:
                holder[attr] = value
