"""Throughput of `vaelearn classroom grade` on 30 lesson-01 submissions: two graders, interleaved.

Usage::

    .venv/bin/python tests/bench_classroom_throughput.py OLD_REPO NEW_REPO ROUNDS

Each repo is a checkout with its own ``.venv``. Each round grades the same 30 submissions (10
instructor copies, 10 with a wrong exercise 2, 10 untouched releases) once with each grader, in
alternating order, each in its own process, ``jobs=2``, one BLAS thread; it prints the seconds,
the class's total points (the graders must agree) and the new/old ratio per round. Not collected
by pytest: timing is never a pass/fail test.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def variant(nb: dict, k: int) -> dict:
    d = json.loads(json.dumps(nb))
    for c in d["cells"]:
        meta = c["metadata"].get("nbgrader", {})
        if k % 3 == 1 and meta.get("grade_id") == "ex2-solution":  # a wrong answer
            c["source"] = "my_extra_bits_huffman = 0.2\nmy_extra_bits_kl = 0.0"
        if k % 3 == 2 and meta.get("solution"):  # nothing answered
            c["source"] = "raise NotImplementedError()"
    return d


def main() -> None:
    old, new, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    root = Path(tempfile.mkdtemp(prefix="vaelearn-bench-"))
    lesson = new / "lessons" / "01_entropy_cross_entropy_kl.ipynb"
    (root / "lessons").mkdir()
    shutil.copy(lesson, root / "lessons")
    nb = json.loads(lesson.read_text())
    for k in range(30):
        (root / "subs" / f"s{k:02d}").mkdir(parents=True)
        (root / "subs" / f"s{k:02d}" / lesson.name).write_text(json.dumps(variant(nb, k)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}

    def run(repo: Path, tag: str, r: int) -> tuple[float, float]:
        out = root / f"{tag}{r}" / "grades.csv"
        code = ("from vaelearn.classroom import grade\n"
                f"grade({str(root / 'subs')!r}, {str(out)!r}, "
                f"lessons_dir={str(root / 'lessons')!r}, jobs=2, progress=False)\n")
        t = time.monotonic()
        subprocess.run([str(repo / ".venv/bin/python"), "-c", code], cwd=repo, env=env,
                       check=True)
        dt = time.monotonic() - t
        rows = [line.split(",") for line in out.read_text().splitlines()[1:]
                if ",TOTAL," not in line]
        return dt, sum(float(x[3]) for x in rows if x[3])

    times: dict[str, list[float]] = {"old": [], "new": []}
    for r in range(rounds):
        order = [("old", old), ("new", new)] if r % 2 == 0 else [("new", new), ("old", old)]
        for tag, repo in order:
            dt, pts = run(repo, tag, r)
            times[tag].append(dt)
            print(f"round {r} {tag}: {dt:.1f} s, total points {pts:g}", flush=True)
    mo, mn = statistics.median(times["old"]), statistics.median(times["new"])
    print(f"median old {mo:.1f} s, new {mn:.1f} s, new/old = {mn / mo:.2f}")
    print("new/old per round:",
          [round(n / o, 2) for n, o in zip(times["new"], times["old"], strict=True)])
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
