"""The student's process: one submission's code, isolated by the operating system.

Each submission runs in its own process inside a `bubblewrap <https://github.com/containers/
bubblewrap>`_ sandbox (``bwrap``, the sandbox Flatpak uses), started by :class:`Sandbox`:

- its own user: as root, a uid of its own that no account and no other running sandbox has
  (:func:`_take_uid_slot`, from ``UID_BASE``; through ``setpriv``), so its process limit is
  its alone; else uid 65534 in a new user namespace; no capabilities, no further user namespaces
  (it cannot gain privileges); its own PID namespace (it sees only its own processes; when the
  sandbox ends, every process in it ends), network namespace (no interface but a loopback of
  its own: no TCP, no UDP to anywhere), IPC and UTS namespaces, and a new session (no
  terminal to inject keys into);
- bubblewrap's options reach it through a pipe (``--args FD``), so its command line, which
  the student can read in ``/proc/1/cmdline``, names no folder of the grader's machine;
- a file system made of read-only binds of what Python needs (the system's ``/usr``, the Python
  installation and environment, the ``vaelearn`` package) and two small private ``tmpfs``: its
  working folder (``/home/student``) and ``/tmp``, each with a size cap. The instructor's lessons,
  the other submissions, the grades and the grader's files are simply not there (and masked with
  an empty ``tmpfs`` should one lie inside a bound folder);
- a clean environment (``--clearenv``, then only the variables listed in ``SANDBOX_ENV``);
- resource limits set before any student code runs: address space, CPU seconds, number of
  processes, file size, no core files;
- wall-clock limits enforced from outside: a cell past its time is interrupted (``SIGINT``) and,
  if it does not stop within a grace period, the whole sandbox is killed (``SIGKILL`` to
  bubblewrap; ``--die-with-parent`` and the PID namespace take every student process with it).

Inside, :func:`main` runs an IPython shell that executes cells and answers the grader's
questions over two pipes, in plain data only (:mod:`vaelearn.classroom.codec`). The student's
process never sees a test cell: tests run in the grader's own process (:mod:`.judge`), which
only asks for values and calls student functions on plain data. Nothing the student's code does
to its own process can therefore change a verdict; at worst it can send wrong values.

Without bubblewrap (macOS, a container without user namespaces) the grader refuses to run
student code unless the instructor passes ``unsafe_no_sandbox=True`` (``--unsafe-no-sandbox``),
which runs the same process without isolation: only for trusted code.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

from . import codec
from .forbid import forbid as _forbid
from .forbid import resolve_targets as _resolve_targets

__all__ = ["Sandbox", "SandboxUnavailable", "bwrap_problem", "main", "SANDBOX_ENV"]

HOME = "/home/student"
SANDBOX_ENV = {
    "HOME": HOME, "TMPDIR": "/tmp", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
    "USER": "student", "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{HOME}/.matplotlib",
    "IPYTHONDIR": f"{HOME}/.ipython", "VAELEARN_BACKEND": "numpy", "VAELEARN_DEVICE": "cpu",
    "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "VAELEARN_PROGRESS": "final",
}
GRACE_SECONDS = 3.0  # after SIGINT, before the sandbox is killed


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


# --- the grader's side --------------------------------------------------------------------------


def _python_roots() -> list[str]:
    """Folders the student's Python needs, read-only: installation, environment, vaelearn."""
    import vaelearn

    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                            sys.base_exec_prefix)}
    roots.add(os.path.dirname(os.path.realpath(vaelearn.__file__)))
    for p in sys.path:  # site-packages of the environment, possibly outside the prefixes
        real = os.path.realpath(p) if p else ""
        if real and os.path.isdir(real) and real.endswith("-packages"):
            roots.add(real)
    # No folder inside another: bind each tree once.
    roots = sorted(roots)
    return [r for r in roots if not any(r != o and r.startswith(o.rstrip("/") + "/")
                                        for o in roots)]


def _privileged() -> bool:
    """Root runs bubblewrap without a user namespace and drops to ``nobody`` with setpriv.

    In a user namespace created by root, the sandbox's uid 65534 would still be root (uid 0) to
    the kernel: exempt from the process limit, owner of root's files. So as root the sandbox
    runs its command through ``setpriv`` as a real, otherwise unused user (one per running
    sandbox), without any capability and with ``no_new_privs``.
    """
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


UID_BASE = 2_000_000_000  # per-sandbox uids (root mode): far above any system or subuid range
UID_SLOTS = 4096
_SLOT_DIRS = ("/run/vaelearn-sandbox-uids", "/tmp/vaelearn-sandbox-uids")  # first usable one


def _uid_in_use(uid: int) -> bool:
    """Whether a process of ``uid`` runs on this machine (real, effective or saved uid)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/status") as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            if str(uid) in line.split()[1:4]:
                                return True
                            break
            except OSError:
                pass
    return False


def _take_uid_slot() -> tuple[int, int]:
    """``(uid, fd)``: a uid no account and no process has, held (``flock``) while ``fd`` is open.

    As root, each sandbox runs as its own user: the kernel counts ``RLIMIT_NPROC`` per real
    uid, so sandboxes sharing ``nobody`` would share one process limit (one student holding
    it would stop another's threads). The lock makes concurrent sandboxes, of this and of any
    other grading run on the machine, take different uids.
    """
    import fcntl
    import pwd

    slots = None
    for folder in _SLOT_DIRS:
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            st = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and not st.st_mode & 0o022:
            slots = folder
            break
    if slots is None:
        raise SandboxUnavailable(f"no folder for the sandbox uids' locks ({', '.join(_SLOT_DIRS)}"
                                 "): none is a folder only root can write")
    start = os.getpid() % UID_SLOTS  # spread the search; any free slot will do
    for k in range(UID_SLOTS):
        uid = UID_BASE + (start + k) % UID_SLOTS
        try:
            pwd.getpwuid(uid)
            continue  # an account of this machine: never borrow it
        except KeyError:
            pass
        fd = os.open(f"{slots}/{uid}", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if _uid_in_use(uid):  # a leftover of a sandbox that was not cleaned up: skip it
            os.close(fd)
            continue
        return uid, fd
    raise SandboxUnavailable("no free sandbox uid")


def bwrap_argv(*, work_mb: int, mask: list[str] = (), info_fd: int | None = None,
               uid: int = 65534, fonts: list[tuple[str, int]] = ()) -> list[str]:
    """The bubblewrap command line, up to and including ``--`` (and setpriv, as root).

    ``uid`` is the user the sandbox runs as when the grader is root (see :func:`_take_uid_slot`);
    ``fonts``: ``(file name, open descriptor)`` of matplotlib font caches to copy in.
    """
    exe = shutil.which("bwrap")
    if exe is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    privileged = _privileged()
    argv = [exe, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv",
            "--hostname", "sandbox"]
    if privileged:
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # for setpriv only
    else:
        argv += ["--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534"]
    for d in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache",
              "/etc/fonts", "/etc/localtime", "/etc/ssl/certs"):
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.exists(d):
            argv += ["--ro-bind", d, d]
    roots = _python_roots()
    # /tmp first: a Python installed under /tmp is then bound on top of the private /tmp
    # instead of hidden by it.
    argv += ["--perms", "1777", "--size", str(64 * 1024 * 1024), "--tmpfs", "/tmp"]
    made = {"/", "/usr", "/etc", "/tmp"}
    for root in roots:  # parents traversable by nobody, whatever their modes outside
        parts = Path(root).parents
        for parent in sorted((str(p) for p in parts), key=len):
            if parent not in made:
                made.add(parent)
                argv += ["--perms", "0755", "--dir", parent]
    for root in roots:
        argv += ["--ro-bind", root, root]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(work_mb * 1024 * 1024), "--tmpfs", HOME]
    for m in mask:  # a private folder that happens to lie inside a bound one: hide it
        real = os.path.realpath(m)
        if os.path.isdir(real) and any(real == r or real.startswith(r.rstrip("/") + "/")
                                       for r in roots):
            argv += ["--tmpfs", real]
    if fonts:
        argv += ["--perms", "1777", "--dir", f"{HOME}/.matplotlib"]
    for name, fd in fonts:  # a copy, not a bind: /proc/self/mountinfo would show its source
        argv += ["--perms", "0644", "--file", str(fd), f"{HOME}/.matplotlib/{name}"]
    for key, value in SANDBOX_ENV.items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", HOME]
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    argv.append("--")
    if privileged:
        argv += [shutil.which("setpriv"), "--reuid", str(uid), "--regid", str(uid),
                 "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
                 "--"]
    return argv


def _matplotlib_font_cache() -> list[Path]:
    try:
        import matplotlib

        return sorted(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))[:1]
    except Exception:  # noqa: BLE001 - only saves the student's process a font scan
        return []


def args_through_fd(argv: list[str]) -> tuple[list[str], int]:
    """``argv`` with bubblewrap's options moved into a pipe read with ``--args FD``.

    Returns the short command line and the pipe's read end (to pass to the child, then
    close). The sandbox's ``/proc/1/cmdline`` (bubblewrap's own) then names no folder of
    the grader's machine: only ``bwrap --args N --`` and the student's command.
    """
    cut = argv.index("--")
    data = b"".join(a.encode() + b"\0" for a in argv[1:cut])
    if len(data) > 60000:  # a pipe holds 64 KiB; the options are a few KiB
        raise SandboxUnavailable("bubblewrap's options are too long")
    r, w = os.pipe()
    try:
        os.write(w, data)
    finally:
        os.close(w)
    return [argv[0], "--args", str(r), *argv[cut:]], r


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """``None`` if bubblewrap sandboxes work here, else why not (one line)."""
    fd = None
    try:
        argv, fd = args_through_fd(bwrap_argv(work_mb=1) + [sys.executable, "-c", "pass"])
        done = subprocess.run(argv, capture_output=True, timeout=60, text=True, pass_fds=(fd,))
    except SandboxUnavailable as exc:
        return str(exc)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed: {exc}"
    finally:
        if fd is not None:
            os.close(fd)
    if done.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {done.stderr.strip()[:300]}"
    return None


class Sandbox:
    """One student's process, with the request/reply channel and the wall-clock limits.

    Parameters
    ----------
    memory_mb, cpu_seconds : int
        Address-space limit of each process and CPU seconds of each process.
    work_mb : int
        Size of the private working folder (and the file-size limit).
    processes : int
        Processes and threads the student's code may start.
    mask : list of str
        Private folders to hide should they lie inside a bound folder.
    unsafe : bool
        Run without bubblewrap (no isolation): only for trusted code.
    label : str
        Shown in the process list (``--label``), to tell which grading run a process belongs to.
    """

    def __init__(self, *, memory_mb: int, cpu_seconds: int, work_mb: int = 256,
                 processes: int = 32, mask: list[str] = (), unsafe: bool = False,
                 startup_seconds: float = 120.0, label: str = "vaelearn"):
        self.dead: str | None = None
        self._buf = b""
        # The kernel counts processes per user *namespace* (Linux 5.14+): the sandbox's own
        # user namespace starts at 0, so the limit is what the student may run (+ bubblewrap's
        # init and the student's Python). Older kernels count all the user's processes: there
        # the student can start none, which only code that needs processes notices.
        nproc = processes + 2
        inner = [sys.executable, "-I", "-m", "vaelearn.classroom.sandbox",
                 "--memory-mb", str(memory_mb), "--cpu-seconds", str(cpu_seconds),
                 "--nproc", str(nproc), "--file-mb", str(work_mb), "--label", label]
        info_r = info_w = args_r = None
        fonts: list[tuple[str, int]] = []
        self._workdir = None
        self._slot_fd = None
        self.uid = None
        if unsafe:
            import tempfile

            self._workdir = tempfile.mkdtemp(prefix="vaelearn-unsafe-")
            env = {**SANDBOX_ENV, "HOME": self._workdir, "TMPDIR": self._workdir,
                   "MPLCONFIGDIR": os.path.join(self._workdir, ".matplotlib"),
                   "IPYTHONDIR": os.path.join(self._workdir, ".ipython")}
            argv, cwd, pass_fds = inner, self._workdir, ()
        else:
            uid = 65534
            if _privileged():
                uid, self._slot_fd = _take_uid_slot()
                self.uid = uid
            info_r, info_w = os.pipe()
            for cache in _matplotlib_font_cache():
                try:
                    fonts.append((cache.name, os.open(cache, os.O_RDONLY | os.O_NOFOLLOW)))
                except OSError:
                    pass
            try:
                argv, args_r = args_through_fd(
                    bwrap_argv(work_mb=work_mb, mask=list(mask), info_fd=info_w, uid=uid,
                               fonts=fonts) + inner)
            except BaseException:
                for fd in (info_r, info_w, self._slot_fd, *(fd for _, fd in fonts)):
                    if fd is not None:
                        os.close(fd)
                raise
            env, cwd = {"PATH": "/usr/bin:/bin"}, "/"
            pass_fds = (info_w, args_r, *(fd for _, fd in fonts))
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, env=env, cwd=cwd,
                                         pass_fds=pass_fds, start_new_session=True)
        except BaseException:
            for fd in (info_r, info_w, args_r, self._slot_fd, *(fd for _, fd in fonts)):
                if fd is not None:
                    os.close(fd)
            raise
        if args_r is not None:
            os.close(args_r)
            for _, fd in fonts:
                os.close(fd)
        self._in, self._out = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self._out, False)
        self._child = None  # the student's Python process, as this machine numbers it
        self._init = None  # bubblewrap's PID 1 of the sandbox
        if info_w is not None:
            os.close(info_w)
            try:
                pids = self._read_info(info_r, time.monotonic() + startup_seconds)
            finally:
                os.close(info_r)
            if pids is not None:
                self._init, self._child = pids
        else:
            self._child = self.proc.pid
        ready = self._receive(time.monotonic() + startup_seconds)
        if ready is None or not ready.get("ready"):
            self.kill(self.dead or "the student's process did not start")
            raise SandboxUnavailable(self.dead)

    @staticmethod
    def _read_info(fd: int, deadline: float) -> tuple[int, int] | None:
        data, init = b"", None
        while init is None and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 4096) if r else b""
            if not chunk:
                break
            data += chunk
            try:
                init = int(json.loads(data)["child-pid"])
            except (ValueError, KeyError, TypeError):
                continue
        if init is None:
            return None
        # bubblewrap's init (PID 1 inside) starts the command: find that child of it.
        for _ in range(500):
            kids = _children(init)
            if kids:
                return init, kids[0]
            time.sleep(0.01)
        return None

    def _receive(self, deadline: float) -> dict | None:
        """One reply, or ``None`` (time out, or the process ended: then ``self.dead`` says)."""
        while True:
            if len(self._buf) >= 8:
                (size,) = struct.unpack(">Q", self._buf[:8])
                if size > codec.MAX_FRAME:
                    self.kill("the submission's process sent more data than allowed")
                    return None
                if len(self._buf) >= 8 + size:
                    body, self._buf = self._buf[8:8 + size], self._buf[8 + size:]
                    if codec.too_many_values(body):
                        self.kill("the submission's process sent more values than allowed")
                        return None
                    try:
                        msg = json.loads(body)
                    except ValueError:
                        msg = None
                    if not isinstance(msg, dict):
                        self.kill("the submission's process broke the grader's protocol")
                        return None
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self._out], [], [], left)
            if not r:
                continue
            try:
                chunk = os.read(self._out, 1 << 20)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.kill("the submission's process ended (a crash, or a memory or CPU limit)")
                return None
            self._buf += chunk

    def request(self, message: dict, seconds: float) -> tuple[dict | None, str | None]:
        """Send one request; return ``(reply, problem)``.

        ``problem`` is ``None``, or why there is no normal reply: a time limit (the cell was
        interrupted; the reply is the interrupted cell's), or the sandbox's end (``self.dead``).
        """
        if self.dead:
            return None, self.dead
        try:
            codec.write_frame(self._in, message)
        except OSError:
            self.kill("the submission's process ended (a crash, or a memory or CPU limit)")
            return None, self.dead
        reply = self._receive(time.monotonic() + seconds)
        if reply is not None or self.dead:
            return reply, self.dead
        limit = f"time limit ({seconds:.3g} s) exceeded"
        if self._child is not None:
            try:
                os.kill(self._child, signal.SIGINT)
            except OSError:
                pass
        reply = self._receive(time.monotonic() + GRACE_SECONDS)
        if reply is None:
            self.kill(f"{limit}; the code did not stop when interrupted, so it was stopped")
            return None, self.dead
        if self._init is not None and len(_descendants(self._init)) > 1:
            # Processes the student started may still run (e.g. a fork bomb): end them all.
            self.kill(f"{limit}; processes it started were still running, so it was stopped")
            return reply, self.dead
        return reply, f"{limit}; interrupted"

    def kill(self, reason: str) -> None:
        """End the sandbox and every process in it; later requests answer ``reason``."""
        if self.dead is None:
            self.dead = reason
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        if self._child is not None and self._workdir is not None:  # unsafe mode: no namespace
            try:
                os.killpg(self._child, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self._slot_fd is not None:
            # The uid goes back to the pool only when none of its processes is left (the PID
            # namespace ends them all with bubblewrap; wait for the kernel to reap them).
            for _ in range(500):
                if not _uid_in_use(self.uid):
                    break
                time.sleep(0.01)
            os.close(self._slot_fd)
            self._slot_fd = None

    def close(self) -> None:
        self.kill("finished")
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo and len(out) < 10000:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        pass
    kids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return sorted(kids)


# --- the student's side (inside the sandbox) --------------------------------------------------


def set_limits(memory_mb: int, cpu_seconds: int, nproc: int, file_mb: int) -> None:
    """Apply OS resource limits to this process (inherited by what it starts)."""
    mem = int(memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds), int(cpu_seconds) + 5))
    resource.setrlimit(resource.RLIMIT_NPROC, (int(nproc), int(nproc)))
    fsize = int(file_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _error_text(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:  # noqa: BLE001 - a __str__ that raises
        text = type(exc).__name__
    return text[:2000]


def _serve(shell, fd_in: int, fd_out: int) -> None:
    ns = shell.user_ns
    codec.write_frame(fd_out, {"ready": True})
    while True:
        try:
            req = codec.read_frame(fd_in)
        except KeyboardInterrupt:
            continue
        except (EOFError, OSError, ValueError):
            return
        reply: dict
        try:
            op = req.get("op")
            if op == "run":
                result = shell.run_cell(req["code"], store_history=False, silent=False)
                err = result.error_before_exec or result.error_in_exec
                reply = {"ok": err is None, "error": None if err is None else _error_text(err)}
            elif op == "get":
                name = req["name"]
                if name not in ns:
                    reply = {"ok": False, "error": f"NameError: name {name!r} is not defined"}
                elif callable(ns[name]) and not isinstance(ns[name], type):
                    reply = {"ok": True, "callable": True}
                else:
                    reply = {"ok": True, "value": codec.encode(ns[name])}
            elif op == "call":
                args = [codec.decode(a) for a in req["args"]]
                kwargs = {k: codec.decode(v) for k, v in req["kwargs"].items()}
                # the library functions the judge's test hides while it calls this function
                # (vaelearn.classroom.forbid): hidden here too, where the student's code runs
                targets = _resolve_targets(req.get("forbid") or [])
                if targets:
                    with _forbid(ns, *targets):
                        value = ns[req["name"]](*args, **kwargs)
                else:
                    value = ns[req["name"]](*args, **kwargs)
                states = [codec.encode(a) if isinstance(a, _Generator) else None for a in args]
                reply = {"ok": True, "value": codec.encode(value), "args": states}
            else:
                reply = {"ok": False, "error": f"unknown request {op!r}"}
        except BaseException as exc:  # noqa: BLE001 - everything the student raises is data
            reply = {"ok": False, "error": _error_text(exc)}
        try:
            codec.write_frame(fd_out, reply)
        except KeyboardInterrupt:
            codec.write_frame(fd_out, {"ok": False, "error": "KeyboardInterrupt"})


_Generator = None


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m vaelearn.classroom.sandbox")
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--cpu-seconds", type=int, required=True)
    parser.add_argument("--nproc", type=int, required=True)
    parser.add_argument("--file-mb", type=int, required=True)
    parser.add_argument("--label", default="")  # names the grading run in `ps`; unused here
    args = parser.parse_args(argv)
    # The channel moves to private descriptors; what the student prints goes nowhere.
    fd_in, fd_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    set_limits(args.memory_mb, args.cpu_seconds, args.nproc, args.file_mb)

    import numpy as np

    global _Generator
    _Generator = np.random.Generator
    os.makedirs(SANDBOX_ENV["MPLCONFIGDIR"] if os.environ.get("HOME") == HOME
                else os.environ["MPLCONFIGDIR"], exist_ok=True)
    shell = make_shell()
    shell.user_ns["__vaelearn_echo__"] = lambda x: x
    shell.user_ns["__vaelearn_raise__"] = _canary_raise
    _serve(shell, fd_in, fd_out)


def make_shell():
    """A plain IPython shell (no kernel): no history file, ``%matplotlib`` means Agg."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Shell(InteractiveShell):
        def enable_gui(self, gui=None):
            return None

        def enable_matplotlib(self, gui=None):
            import matplotlib

            matplotlib.use("Agg")
            return "agg", "agg"

    config = Config()
    config.HistoryManager.enabled = False
    return Shell.instance(config=config)


def _canary_raise(token):
    raise LookupError(f"canary {token}")


if __name__ == "__main__":
    main()
