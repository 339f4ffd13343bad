"""A Jupyter kernel that runs one student's submission under limits.

The grader starts this module as the kernel of each submission (see ``grade.py``)::

    python -m vaelearn.classroom.sandbox --workdir DIR --memory-mb 3072 --cpu-seconds 1200 \
        --deny PATH ... -f CONNECTION_FILE

Before the kernel starts executing cells it

- sets resource limits (address space, CPU seconds, file size, no core dumps), so a memory bomb
  raises ``MemoryError`` and a runaway process is killed by the OS;
- installs a Python audit hook (PEP 578) that refuses, with ``PermissionError``: writing, deleting,
  renaming or changing files outside the submission's own temporary directory; reading files
  outside the Python installation, the installed packages, system directories and that directory
  (and always anything under a ``--deny`` path: the instructor's lessons, the other submissions,
  the grader's output); starting processes; opening network connections other than loopback.
  Every refusal is appended to ``<workdir>/.sandbox-violations`` so the feedback can name it.

What this does NOT protect against is written in the book's instructors' page: audit hooks are a
guard for honest mistakes and casual cheating, not a security boundary (native code, e.g. through
``ctypes``, bypasses them). Run the grader in a container or VM for untrusted code at scale.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

# Audit events that change the file system; the first argument is the path.
_FS_CHANGE_EVENTS = {
    "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.utime",
    "os.link", "os.symlink", "os.rename", "shutil.rmtree", "shutil.move", "shutil.copyfile",
    "os.chflags", "os.lchflags", "os.setxattr", "os.removexattr",
}
_PROCESS_EVENTS = {
    "os.system", "subprocess.Popen", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
    "os.forkpty", "os.kill", "os.killpg", "pty.spawn",
}


def _real(path) -> str:
    return os.path.realpath(os.fsdecode(path))


def _under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def set_limits(memory_mb: int, cpu_seconds: int, file_mb: int = 200) -> None:
    """Apply OS resource limits to this process (and what it would start)."""
    mem = int(memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds), int(cpu_seconds) + 5))
    fsize = int(file_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def install_guard(workdir: str, deny: list[str], extra_read: list[str] = ()) -> None:
    """Install the audit hook described in the module docstring. It cannot be removed."""
    workdir = _real(workdir)
    deny_roots = [_real(d) for d in deny]
    read_roots = {workdir, "/usr", "/lib", "/lib64", "/etc", "/dev", "/proc", "/sys",
                  "/opt", "/var/lib", "/var/cache/fontconfig"}
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path, *extra_read):
        if p and os.path.isdir(p):
            read_roots.add(_real(p))
    # Never allow a read root that contains a denied path (e.g. a repo root on sys.path).
    read_roots = {r for r in read_roots if not any(_under(d, [r]) for d in deny_roots)}
    read_roots |= {_real(p) for p in extra_read}
    write_roots = [workdir, "/dev/null"]
    log_path = os.path.join(workdir, ".sandbox-violations")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    busy = [False]

    def refuse(what: str):
        os.write(log_fd, (what.replace("\n", " ") + "\n").encode())
        raise PermissionError(f"vaelearn grader sandbox: {what} is not allowed while grading")

    def hook(event: str, args: tuple) -> None:
        if busy[0]:
            return
        busy[0] = True
        try:
            if event == "open":
                path, mode, flags = args
                if path is None or isinstance(path, int):
                    return
                real = _real(path)
                writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                    flags & _WRITE_FLAGS
                )
                if _under(real, deny_roots):
                    refuse(f"opening {real}")
                if writing and not _under(real, write_roots):
                    refuse(f"writing {real}")
                if not writing and not _under(real, read_roots):
                    refuse(f"reading {real}")
            elif event in _FS_CHANGE_EVENTS:
                for p in args[:2]:
                    if isinstance(p, (str, bytes, os.PathLike)):
                        real = _real(p)
                        if not _under(real, write_roots) or _under(real, deny_roots):
                            refuse(f"{event}({real})")
            elif event in _PROCESS_EVENTS:
                refuse(f"{event} (starting or signalling processes)")
            elif event in ("socket.connect", "socket.bind"):
                addr = args[1]
                host = addr[0] if isinstance(addr, tuple) else addr
                if host not in ("127.0.0.1", "::1", "localhost"):
                    refuse(f"{event} to {addr!r}")
        finally:
            busy[0] = False

    sys.addaudithook(hook)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vaelearn.classroom.sandbox")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--memory-mb", type=int, default=3072)
    parser.add_argument("--cpu-seconds", type=int, default=1200)
    parser.add_argument("--deny", action="append", default=[])
    parser.add_argument("--allow-read", action="append", default=[])
    args, kernel_argv = parser.parse_known_args(argv)

    os.chdir(args.workdir)
    set_limits(args.memory_mb, args.cpu_seconds)

    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    # The connection file and ipykernel's own start-up are read before the guard goes up.
    app.initialize(["--HistoryManager.enabled=False", *kernel_argv])
    import matplotlib  # noqa: F401  (warm its font cache before reads are restricted)
    import numpy  # noqa: F401

    import vaelearn

    package_dir = os.path.dirname(os.path.abspath(vaelearn.__file__))
    install_guard(args.workdir, args.deny, [*args.allow_read, package_dir])
    app.start()


if __name__ == "__main__":
    main()
