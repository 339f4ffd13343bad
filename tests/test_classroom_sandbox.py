"""The student's sandbox on its own: what code inside it cannot do (issue 14).

Each test starts one sandboxed student process (under a second) and runs code in it as a cell.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from vaelearn.classroom import codec
from vaelearn.classroom.sandbox import Sandbox, bwrap_problem

pytestmark = pytest.mark.skipif(bwrap_problem() is not None,
                                reason=f"no bubblewrap sandbox here: {bwrap_problem()}")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def box():
    sandbox = Sandbox(memory_mb=2048, cpu_seconds=60, work_mb=16, processes=8)
    yield sandbox
    sandbox.close()


def run(box, code: str, seconds: float = 20):
    reply, problem = box.request({"op": "run", "code": code}, seconds)
    return reply, problem


def value(box, name: str):
    reply, problem = box.request({"op": "get", "name": name}, 20)
    assert problem is None and reply["ok"], (reply, problem)
    return codec.decode(reply["value"])


def test_cannot_read_the_lessons_the_repository_or_the_grader_files(box, tmp_path):
    secret = tmp_path / "grades.csv"
    secret.write_text("ada,100")
    lesson = next((ROOT / "lessons").glob("01_*.ipynb"))
    for path in (lesson, secret, ROOT / "pyproject.toml", Path.home() / ".bashrc"):
        reply, _ = run(box, f"open({str(path)!r}).read()")
        assert not reply["ok"] and ("No such file" in reply["error"]
                                    or "Permission" in reply["error"]), (path, reply)
    # The repository holds only the package (and the environment, if it lives there).
    assert run(box, f"import os\nseen = sorted(os.listdir({str(ROOT)!r}))")[0]["ok"]
    assert set(value(box, "seen")) <= {"vaelearn", Path(sys.prefix).name}


def test_sees_only_its_own_processes(box):
    assert run(box, "import os\npids = sorted(int(p) for p in os.listdir('/proc') "
                    "if p.isdigit())")[0]["ok"]
    pids = value(box, "pids")
    # bubblewrap's init is PID 1 and the student's Python PID 2: nothing of the grader's.
    assert pids == [1, 2], pids


def test_cannot_reach_the_network_tcp_or_udp(box):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        code = ("import socket\nerrors = []\n"
                f"for host in ('127.0.0.1', '1.1.1.1', '10.0.0.1'):\n"
                "    try:\n"
                f"        socket.create_connection((host, {port}), timeout=2).close()\n"
                "        errors.append('connected')\n"
                "    except OSError as exc:\n"
                "        errors.append(type(exc).__name__)\n"
                "udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "try:\n"
                "    udp.sendto(b'x', ('8.8.8.8', 53))\n"
                "    errors.append('sent')\n"
                "except OSError as exc:\n"
                "    errors.append(str(exc.errno))\n")
        assert run(box, code)[0]["ok"]
        errors = value(box, "errors")
        assert "connected" not in errors and "sent" not in errors, errors
    finally:
        listener.close()


def test_cannot_write_outside_its_folder_and_its_folder_is_capped(box, tmp_path):
    for path in (tmp_path / "x", Path(sys.prefix) / "x", Path("/usr/x"),
                 ROOT / "vaelearn" / "x.py"):
        reply, _ = run(box, f"open({str(path)!r}, 'w').write('x')")
        assert not reply["ok"], path
        assert not path.exists()
    assert run(box, "open('/home/student/ok.txt', 'w').write('fine')")[0]["ok"]
    reply, _ = run(box, "with open('/home/student/big', 'wb') as f:\n"
                        "    for _ in range(64):\n        f.write(b'x' * 2**20)")
    assert not reply["ok"] and ("No space" in reply["error"] or "too large" in reply["error"])


def test_a_clean_environment(box, monkeypatch):
    assert run(box, "import os\nenv = dict(os.environ)")[0]["ok"]
    env = value(box, "env")
    assert env["HOME"] == "/home/student"
    assert not set(env) - {"HOME", "TMPDIR", "PATH", "LANG", "USER", "MPLBACKEND",
                           "MPLCONFIGDIR", "IPYTHONDIR", "VAELEARN_BACKEND", "VAELEARN_DEVICE",
                           "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "OMP_NUM_THREADS",
                           "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VAELEARN_PROGRESS", "PWD"}
    # ... and one the library accepts: a lesson's training loop reads VAELEARN_PROGRESS.
    reply, _ = run(box, "from vaelearn.numpy.train import _progress_bar\n"
                        "_progress_bar(1, True, 'x').close()")
    assert reply["ok"], reply


def test_memory_and_process_limits(box):
    reply, _ = run(box, "blob = bytearray(4 * 2**30)")
    assert not reply["ok"] and "MemoryError" in reply["error"]
    reply, _ = run(box, "import os\nkids = []\nfor _ in range(50):\n    pid = os.fork()\n"
                        "    if pid == 0:\n        import time; time.sleep(30); os._exit(0)\n"
                        "    kids.append(pid)")
    assert not reply["ok"] and "Resource temporarily unavailable" in reply["error"], reply


def _marker_processes(marker: str) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker.encode() in p.joinpath("cmdline").read_bytes():
                    out.append(int(p.name))
            except OSError:
                pass
    return out


def test_nothing_outlives_the_sandbox_or_its_time_limit():
    marker = f"vaelearn-marker-{os.getpid()}-{time.monotonic_ns()}"
    box = Sandbox(memory_mb=2048, cpu_seconds=60, work_mb=16, processes=8)
    try:
        # A detached grandchild in a new session, and a loop that ignores interrupts.
        code = ("import subprocess, sys\n"
                f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', "
                f"{marker!r}], start_new_session=True)")
        assert run(box, code)[0]["ok"]
        time.sleep(0.5)
        assert _marker_processes(marker), "the grandchild should be running now"
        start = time.monotonic()
        reply, problem = run(box, "import signal\n"
                                  "signal.signal(signal.SIGINT, lambda *args: None)\n"
                                  "while True:\n    pass", seconds=1)
        assert reply is None and "did not stop when interrupted" in problem
        assert time.monotonic() - start < 1 + 3 + 5  # limit + grace + slack for a busy machine
        assert box.dead
    finally:
        box.close()
    deadline = time.monotonic() + 5
    while _marker_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _marker_processes(marker), "a student's process outlived its sandbox"


def test_an_interruptible_cell_is_interrupted_and_the_process_goes_on(box):
    reply, problem = run(box, "import time\ntime.sleep(30)", seconds=1)
    assert "interrupted" in problem and "KeyboardInterrupt" in reply["error"]
    assert run(box, "x = 1")[0]["ok"] and value(box, "x") == 1


def test_only_plain_data_comes_out():
    for good in (None, True, 3, -2**70, 1.5, float("inf"), 2j, "é", [1, (2, 3)],
                 {"a": [1.0]}, {1: 2}):
        assert codec.decode(codec.encode(good)) == good
    import numpy as np

    arr = codec.decode(codec.encode(np.arange(6.0).reshape(2, 3)))
    assert type(arr) is np.ndarray and arr.dtype == np.float64 and arr.shape == (2, 3)
    scalar = codec.decode(codec.encode(np.array(2.5)))  # a 0-d array stays 0-d
    assert type(scalar) is np.ndarray and scalar.shape == () and float(scalar) == 2.5

    class Sub(np.ndarray):
        pass

    assert type(codec.decode(codec.encode(np.zeros(2).view(Sub)))) is np.ndarray
    for bad in (object(), np.array([object()]), type("F", (float,), {})(1.0), lambda: 0):
        with pytest.raises(codec.NotPlainData):
            codec.encode(bad)
    for forged in ({"x": 1}, {"a": "|O8", "shape": [1], "data": ""},
                   {"a": "<f8", "shape": [3], "data": "AAAA"}, {"f": "1e999999"}, [1],
                   {"g": '{"bit_generator": "os.system"}'}):
        with pytest.raises((codec.NotPlainData, ValueError)):
            codec.decode(forged)


def test_one_sandbox_holding_its_process_limit_leaves_others_theirs():
    # As root every sandbox once ran as the same real user, and the kernel counts the process
    # limit per real user: one student holding it stopped another student's threads.
    hog = Sandbox(memory_mb=2048, cpu_seconds=60, work_mb=16, processes=8)
    victim = Sandbox(memory_mb=2048, cpu_seconds=60, work_mb=16, processes=8)
    try:
        reply, _ = run(hog, "import os, time\nkids = []\nwhile True:\n    try:\n"
                            "        pid = os.fork()\n    except OSError:\n        break\n"
                            "    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n"
                            "    kids.append(pid)\nn = len(kids)")
        assert reply["ok"] and value(hog, "n") >= 5, reply
        reply, _ = run(victim, "import threading\nts = [threading.Thread(target=lambda: None) "
                               "for _ in range(4)]\nfor t in ts:\n    t.start()\n"
                               "for t in ts:\n    t.join()")
        assert reply["ok"], reply
        if os.geteuid() == 0:
            assert hog.uid != victim.uid and 65534 not in (hog.uid, victim.uid)
    finally:
        hog.close()
        victim.close()
    if os.geteuid() == 0:  # the hog's uid goes back to the pool with none of its processes left
        from vaelearn.classroom.sandbox import _uid_in_use

        assert not _uid_in_use(hog.uid)


def test_the_command_line_inside_names_no_grader_folder(tmp_path):
    hidden = tmp_path / "instructor-lessons"
    hidden.mkdir()
    box = Sandbox(memory_mb=2048, cpu_seconds=60, work_mb=16, processes=8, mask=[str(hidden)])
    try:
        assert run(box, "cmd = open('/proc/1/cmdline', 'rb').read().decode()\n"
                        "mounts = open('/proc/self/mountinfo').read()")[0]["ok"]
        cmd, mounts = value(box, "cmd"), value(box, "mounts")
    finally:
        box.close()
    assert "--ro-bind" not in cmd and "--tmpfs" not in cmd and "--args" in cmd, cmd
    assert str(tmp_path) not in cmd and str(tmp_path) not in mounts
    # Mount sources are the Python folders only (their paths are in sys.path anyway): not the
    # grader's home, where matplotlib's font cache lives (it is copied in, not bound).
    sources = {line.split()[3] for line in mounts.splitlines()}
    home = os.path.expanduser("~")
    assert not any(s.startswith(home + "/.cache") for s in sources), sources


def test_a_python_folder_under_tmp_is_not_hidden_by_the_private_tmp(monkeypatch):
    import shutil
    import subprocess
    import tempfile

    import vaelearn.classroom.sandbox as sb

    folder = Path(tempfile.mkdtemp(prefix="vaelearn-python-", dir="/tmp"))
    try:
        os.chmod(folder, 0o755)  # readable by the sandbox's user, as a real installation is
        (folder / "marker.txt").write_text("python lives here")
        os.chmod(folder / "marker.txt", 0o644)
        roots = sb._python_roots()
        monkeypatch.setattr(sb, "_python_roots", lambda: [*roots, str(folder)])
        argv, fd = sb.args_through_fd(sb.bwrap_argv(work_mb=1)
                                      + ["/bin/cat", str(folder / "marker.txt")])
        try:
            done = subprocess.run(argv, capture_output=True, text=True, pass_fds=(fd,),
                                  timeout=60)
        finally:
            os.close(fd)
    finally:
        shutil.rmtree(folder)
    assert done.returncode == 0 and done.stdout == "python lives here", done.stderr


def test_answers_are_small_enough_for_the_grader_to_hold(box):
    # Counted before parsing: 200,000 small values once cost the grader hundreds of MB.
    assert run(box, "import numpy as np\nbig = np.zeros(3 * 2**20)\nmany = list(range(200_000))\n"
                    "fine = np.zeros((1000, 784))")[0]["ok"]
    reply, problem = box.request({"op": "get", "name": "big"}, 20)
    assert problem is None and not reply["ok"] and "too large" in reply["error"], reply
    assert value(box, "fine").shape == (1000, 784)  # a lesson-sized batch still goes through
    reply, problem = box.request({"op": "get", "name": "many"}, 20)
    assert reply is None or not reply["ok"], "200,000 values must be refused"


def test_the_judge_process_has_a_memory_limit(monkeypatch):
    import importlib
    import resource

    from vaelearn.classroom import judge

    grade_module = importlib.import_module("vaelearn.classroom.grade")  # the package's grade()

    monkeypatch.setattr(judge, "judge_entry",
                        lambda payload: {"limit": resource.getrlimit(resource.RLIMIT_AS)[0]})
    got = grade_module._judge_in_child({}, 30, memory_mb=1024)["limit"]
    assert got != resource.RLIM_INFINITY
    assert got <= grade_module._judge_memory_limit(1024) + (64 << 20)


def test_a_student_function_cannot_choose_the_tests_random_numbers(box):
    import numpy as np

    from vaelearn.classroom.judge import StudentError, _Channel, _StudentFunction

    assert run(box, "import numpy as np\n"
                    "def draw(rng):\n    return rng.normal(size=3)\n"
                    "def pick(rng):\n"
                    "    rng.bit_generator.state = np.random.default_rng(99).bit_generator.state\n"
                    "    return 0.0\n"
                    "def jump(rng):\n    rng.bit_generator.advance(2**60)\n    return 0.0")[0]["ok"]
    channel = _Channel(box)
    channel.deadline = time.monotonic() + 20
    ours, reference = np.random.default_rng(1), np.random.default_rng(1)
    assert np.array_equal(_StudentFunction(channel, "draw")(ours), reference.normal(size=3))
    assert ours.normal() == reference.normal()  # an honest draw advances the test's generator
    for name in ("pick", "jump"):
        with pytest.raises(StudentError, match="cannot reach"):
            _StudentFunction(channel, name)(ours)
        assert ours.normal() == reference.normal()  # and a refused state is not taken
