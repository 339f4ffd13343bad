"""Test verdicts decided where student code never ran.

For one submission the grader runs two processes side by side, cell by cell:

- the **student's process** (:class:`~vaelearn.classroom.sandbox.Sandbox`): the instructor's
  notebook with the student's answers in it, *without its test cells*;
- the **judge** (this module, in a fresh process forked by the grader): the instructor's own
  notebook, solutions included, and every test cell.

Before a test cell runs in the judge, each name the test reads that an answer cell defines (for
lesson 01: ``my_entropy_bits``, ``my_kl_forward``, ...) is bound to the student's version: a
value, fetched as plain data (:mod:`.codec`: numbers, strings, base-class arrays, lists, tuples,
dicts), or a function that calls the student's function in the student's process with plain-data
arguments and returns its plain-data result. Everything else the test uses (``np``, ``abs``,
``info.entropy``, the instructor's reference values) is the judge's own, which student code never
touched. A test passes when it runs in the judge without raising. So the answer cell cannot patch
the shell, the builtins or NumPy the test uses, cannot see or leak the hidden tests (they never
enter its process), and can only influence a verdict by the values its answers produce.

Canaries close the run: a call that must come back equal and one that must raise, both through
the same channel as the answers (a student's process that tampers with its side of the channel,
e.g. turning errors into values, fails them), and a test that must fail and one that must pass in
the judge. Any canary gone wrong marks the notebook as tampered: it scores 0 and the instructor
is told.
"""

from __future__ import annotations

import ast
import re
import secrets
import sys
import time

import numpy as np

from . import codec
from .forbid import active_targets
from .release import _nbgrader, exercises

__all__ = ["student_names", "judge", "StudentError"]

_HIDDEN_BLOCK = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS",
                           re.M | re.S)


class StudentError(Exception):
    """The student's code raised, or the student's process stopped, during a test."""


def _bound_names(source: str) -> set[str]:
    """Top-level names a cell binds (assignments, def, class, import, for/with targets)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()

    def visit(node, top: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if top:
                    names.add(child.name)
                continue  # names inside a body are local
            if isinstance(child, ast.Lambda):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in child.names)
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            visit(child, top)

    visit(tree, True)
    return names


def student_names(nb) -> set[str]:
    """Names bound by the instructor's answer (nbgrader solution) cells."""
    out: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and _nbgrader(cell).get("solution"):
            out |= _bound_names(cell.source)
    return out


def _read_names(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})


def _hidden_lines(source: str) -> set[int]:
    lines = set()
    for m in _HIDDEN_BLOCK.finditer(source):
        first = source.count("\n", 0, m.start()) + 1
        lines.update(range(first, first + m.group(0).count("\n") + 1))
    return lines


class _Channel:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.deadline = time.monotonic()

    def left(self) -> float:
        return max(0.05, self.deadline - time.monotonic())


class _StudentFunction:
    """Stands in, inside the judge, for a function the student defined."""

    def __init__(self, channel: _Channel, name: str):
        self._channel, self._name = channel, name

    def __repr__(self):
        return f"<the student's {self._name}>"

    def __call__(self, *args, **kwargs):
        try:
            enc_args = [codec.encode(a) for a in args]
            enc_kwargs = {str(k): codec.encode(v) for k, v in kwargs.items()}
        except codec.NotPlainData as exc:
            raise TypeError(f"the grader cannot pass this to {self._name}: {exc}") from None
        reply, problem = self._channel.sandbox.request(
            {"op": "call", "name": self._name, "args": enc_args, "kwargs": enc_kwargs,
             "forbid": active_targets()},
            self._channel.left())
        if reply is None:
            raise StudentError(f"{self._name}(...): {problem}")
        if not reply.get("ok"):
            raise StudentError(f"{self._name}(...) raised {reply.get('error')}")
        try:
            value = codec.decode(reply.get("value"))
            states = reply.get("args") or []
            updates = []
            for a, s in zip(args, states, strict=False):
                if s is not None and isinstance(a, np.random.Generator):
                    state = advanced_state(a.bit_generator.state,
                                           codec.decode(s).bit_generator.state)
                    if state is None:
                        raise StudentError(f"{self._name}(...) left a random generator in a "
                                           "state that drawing from it cannot reach")
                    updates.append((a, state))
            for a, state in updates:
                a.bit_generator.state = state
        except (codec.NotPlainData, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StudentError(f"{self._name}(...) returned something that is not plain data: "
                               f"{exc}") from None
        return value


_PCG64_MULT = 0x2360ED051FC65DA44385DF649FCCF645  # NumPy's PCG64 (PCG_DEFAULT_MULTIPLIER_128)
_MASK128 = (1 << 128) - 1
MAX_DRAWS = 1 << 40  # more 64-bit draws than a student's function makes in its time limit
RECENT_DRAWS = 1 << 16  # a buffered 32-bit half must come from one of the last this many draws


def _lcg_distance(cur: int, new: int, inc: int) -> int | None:
    """Steps of PCG64's 128-bit LCG (``s -> s * mult + inc``) from ``cur`` to ``new``.

    The jump-ahead distance of O'Neill's PCG library (``pcg_extras::distance``): fixes the
    distance one bit at a time, low bits first, with the LCG raised to the power ``2**k``.
    ``None`` if ``inc`` is not a valid (odd) increment.
    """
    if not inc & 1:
        return None
    mult, plus, bit, distance = _PCG64_MULT, inc & _MASK128, 1, 0
    cur, new = cur & _MASK128, new & _MASK128
    while cur != new:
        if (cur ^ new) & bit:
            cur = (cur * mult + plus) & _MASK128
            distance |= bit
        bit <<= 1
        plus = ((mult + 1) * plus) & _MASK128
        mult = (mult * mult) & _MASK128
        if bit > _MASK128:
            return None
    return distance


def advanced_state(before: dict, after: dict) -> dict | None:
    """``after`` if a PCG64 generator in state ``before`` reaches it by drawing, else ``None``.

    The student's function gets a copy of the test's generator and sends back the copy's state;
    the test's generator takes that state only if drawing numbers from it could have led there
    (at most :data:`MAX_DRAWS` 64-bit draws; a buffered 32-bit half must be the one it had or
    the upper half of one of the last :data:`RECENT_DRAWS` draws). So a student cannot choose
    the numbers a test draws next.
    Other bit generators' states are refused (the lessons use ``default_rng``: PCG64).
    """
    if before == after:
        return after
    try:
        if before["bit_generator"] != "PCG64" or after["bit_generator"] != "PCG64":
            return None
        s0, s1 = before["state"], after["state"]
        if s1["inc"] != s0["inc"] or int(after["has_uint32"]) not in (0, 1):
            return None
        distance = _lcg_distance(int(s0["state"]), int(s1["state"]), int(s0["inc"]))
    except (KeyError, TypeError, ValueError):
        return None
    if distance is None or distance > MAX_DRAWS:
        return None
    if not after["has_uint32"]:
        return {**after, "uinteger": 0}
    # A buffered 32-bit half: kept from before, or the upper half of a recent draw.
    if before["has_uint32"] and int(after["uinteger"]) == int(before["uinteger"]):
        return after
    recent = min(distance, RECENT_DRAWS)
    if recent == 0:
        return None
    bitgen = np.random.PCG64()
    bitgen.state = {**before, "has_uint32": 0, "uinteger": 0}
    bitgen.advance(distance - recent)
    halves = bitgen.random_raw(recent) >> np.uint64(32)
    return after if int(after["uinteger"]) in set(halves.tolist()) else None


def _fetch(channel: _Channel, name: str):
    """``(value, None)`` or ``(None, why not)``: the student's ``name`` for a test."""
    reply, problem = channel.sandbox.request({"op": "get", "name": name}, channel.left())
    if reply is None:
        return None, problem
    if not reply.get("ok"):
        return None, str(reply.get("error"))
    if reply.get("callable"):
        return _StudentFunction(channel, name), None
    try:
        return codec.decode(reply.get("value")), None
    except (codec.NotPlainData, ValueError, TypeError, KeyError) as exc:
        return None, f"{name} is not plain data: {exc}"


def _run_test(shell, channel: _Channel, source: str, owned: set[str], label: str):
    """Run one test cell in the judge with the student's answers bound; ``(passed, message)``."""
    ns = shell.user_ns
    # The student's version of each answer name the test reads (not of names it sets itself).
    names = [n for n in _read_names(source) if n in owned and n not in _bound_names(source)]
    missing = object()
    saved = {n: ns.get(n, missing) for n in names}
    refused = {}
    for n in names:
        value, why = _fetch(channel, n)
        if why is None:
            ns[n] = value
        else:
            ns.pop(n, None)
            refused[n] = why
    filename = f"<test {label}>"
    try:
        code = compile(shell.transform_cell(source), filename, "exec")
        exec(code, ns)  # noqa: S102 - the instructor's test, in the grader's own process
        return True, ""
    except BaseException as exc:  # noqa: BLE001 - any exception is a failed test
        line = None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        if isinstance(exc, StudentError):
            return False, str(exc)
        if isinstance(exc, NameError) and exc.name in refused:
            return False, refused[exc.name]
        if line in _hidden_lines(source):
            kind = "" if isinstance(exc, AssertionError) else f" ({type(exc).__name__})"
            return False, f"a hidden test failed{kind}"
        text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        return False, text
    finally:
        for n, v in saved.items():
            if v is missing:
                ns.pop(n, None)
            else:
                ns[n] = v


def judge(instructor, assembled, sandbox, cell_seconds: float, notebook_seconds: float) -> dict:
    """Grade one assembled notebook; see the module docstring.

    Returns a dict: ``tests`` (grade_id -> {"passed", "message"}), ``cell_errors`` (cell index
    -> the student's error in that cell), ``notes``, ``tampered``.
    """
    from .sandbox import make_shell

    shell = make_shell()
    tests = {e.cell_index: e.grade_id for e in exercises(instructor)}
    owned = student_names(instructor)
    channel = _Channel(sandbox)
    out = {"tests": {}, "cell_errors": {}, "notes": [], "tampered": False}
    start = time.monotonic()
    for i, cell in enumerate(instructor.cells):
        if cell.cell_type != "code":
            continue
        left = notebook_seconds - (time.monotonic() - start)
        if left <= 0 and not sandbox.dead:
            sandbox.kill(f"not run: notebook time limit ({notebook_seconds:.3g} s)")
        channel.deadline = time.monotonic() + max(0.0, min(cell_seconds, left))
        if sandbox.dead:  # nothing the student did can pass now: skip the reference run too
            for j in range(i, len(instructor.cells)):
                if j in tests:
                    out["tests"][tests[j]] = {"passed": False, "message": sandbox.dead}
            break
        if i in tests:
            passed, msg = _run_test(shell, channel, cell.source, owned, tests[i])
            if not passed and sandbox.dead and not msg.startswith("not run"):
                msg = sandbox.dead
            out["tests"][tests[i]] = {"passed": passed, "message": msg}
            continue
        reply, problem = sandbox.request({"op": "run", "code": assembled.cells[i].source},
                                         channel.left())
        err = problem if reply is None else (reply.get("error") if not reply.get("ok") else None)
        if problem and reply is not None:
            err = f"{problem}" + (f" ({reply.get('error')})" if reply.get("error") else "")
        if err:
            out["cell_errors"][i] = str(err)
        result = shell.run_cell(cell.source, store_history=False)
        if not result.success:
            exc = result.error_before_exec or result.error_in_exec
            out["notes"].append(f"grader: the instructor's cell {i} failed in the reference run "
                                f"({type(exc).__name__}); check the lesson")
    if not sandbox.dead:
        channel.deadline = time.monotonic() + max(5.0, cell_seconds)
        out["tampered"] = not _canaries(shell, channel)
    return out


def _canaries(shell, channel: _Channel) -> bool:
    token = secrets.token_hex(8)
    owned = {"__vaelearn_echo__", "__vaelearn_raise__"}
    shell.user_ns["_vaelearn_token"] = token
    must_pass = [
        ("assert True", set()),
        (f"assert __vaelearn_echo__(_vaelearn_token) == {token!r}", owned),
    ]
    must_fail = [
        ("assert False", set()),
        ("__vaelearn_raise__(_vaelearn_token)", owned),
    ]
    ok = all(_run_test(shell, channel, src, names, "canary")[0] for src, names in must_pass)
    for src, names in must_fail:
        passed, msg = _run_test(shell, channel, src, names, "canary")
        if passed or (names and token not in msg):
            ok = False
    shell.user_ns.pop("_vaelearn_token", None)
    return ok


def judge_entry(payload: dict) -> dict:
    """Run :func:`judge` from plain inputs (used in the forked judge process)."""
    from .sandbox import Sandbox, SandboxUnavailable

    try:
        sandbox = Sandbox(**payload["sandbox"])
    except SandboxUnavailable as exc:
        return {"tests": {}, "cell_errors": {}, "tampered": False,
                "notes": [f"the student's process could not start: {exc}"], "start_failed": True}
    try:
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
        return judge(payload["instructor"], payload["assembled"], sandbox,
                     payload["cell_seconds"], payload["notebook_seconds"])
    finally:
        sandbox.close()
