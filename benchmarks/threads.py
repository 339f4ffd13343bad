"""Does vaelearn's own thread choice hold on a busy machine? (`make bench-threads`; issue 12)

Runs ``vaelearn train --data digits --epochs 20`` (the NumPy backend, agree mode, no plots, no
progress bar) in fresh processes, in three environments, interleaved round by round so that the
machine's load hits all three alike:

- ``default``: the user's environment without any thread variable (no OMP_NUM_THREADS,
  OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, VAELEARN_NUM_THREADS): what a student gets;
- ``OMP_NUM_THREADS=1``: pinned to one thread by hand, the yardstick;
- ``VAELEARN_NUM_THREADS=auto``: vaelearn leaves the libraries' thread pools alone, as vaelearn
  did before it chose its own thread count: for context, what ``default`` would be without it.

While they run, one other busy process (a pure-Python spin loop, started and stopped here) keeps
one core occupied, as another program would on a student's laptop (``--no-busy`` turns it off).

Prints, per environment, the median training seconds (``train_seconds`` in the run's run.json,
measured around ``fit``) and the median wall seconds of the whole process, then the ratios to
``OMP_NUM_THREADS=1``. Acceptance for issue 12: ``default / OMP_NUM_THREADS=1`` within 1.5x. It
is a measurement, not a test: timings depend on the machine and its load, so read the ratios.

Usage::

    python benchmarks/threads.py [--rounds 7] [--epochs 20] [--no-busy]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VAELEARN_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
YARDSTICK = "OMP_NUM_THREADS=1"
ENVIRONMENTS = {
    "default": {},
    YARDSTICK: {"OMP_NUM_THREADS": "1"},
    "VAELEARN_NUM_THREADS=auto": {"VAELEARN_NUM_THREADS": "auto"},
}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update(VAELEARN_BACKEND="numpy", **extra)
    return env


def run_once(extra: dict[str, str], epochs: int, workdir: Path) -> tuple[float, float]:
    """One ``vaelearn train`` in a fresh process: (training seconds, wall seconds)."""
    out = Path(tempfile.mkdtemp(dir=workdir))
    cmd = [sys.executable, "-m", "vaelearn", "train", "--data", "digits", "--epochs", str(epochs),
           "--no-plots", "--no-progress", "--out", str(out / "run")]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(extra), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    summary = json.loads((out / "run" / "run.json").read_text())
    return float(summary["train_seconds"]), wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="runs of each environment [7]")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per run [20]")
    parser.add_argument("--no-busy", action="store_true", help="no busy process beside the runs")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.epochs < 1:
        parser.error("--rounds and --epochs must be >= 1")

    busy = None
    if not args.no_busy:
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    train: dict[str, list[float]] = {name: [] for name in ENVIRONMENTS}
    wall: dict[str, list[float]] = {name: [] for name in ENVIRONMENTS}
    try:
        with tempfile.TemporaryDirectory(prefix="vaelearn-bench-threads-") as tmp:
            for r in range(args.rounds):
                # rotate the order each round so that no environment always runs first
                names = list(ENVIRONMENTS)
                names = names[r % len(names):] + names[:r % len(names)]
                for name in names:
                    t, w = run_once(ENVIRONMENTS[name], args.epochs, Path(tmp))
                    train[name].append(t)
                    wall[name].append(w)
                print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                    f"{n} {train[n][-1]:.2f} s" for n in ENVIRONMENTS), flush=True)
    finally:
        if busy is not None:
            busy.terminate()
            busy.wait(10)

    print(f"\n`vaelearn train --data digits --epochs {args.epochs}` (NumPy backend), "
          f"{args.rounds} interleaved rounds, {os.cpu_count()} CPUs, "
          f"{'one busy process beside' if busy else 'no busy process started'}")
    print(f"{'environment':<28}{'train s (median)':>18}{'wall s (median)':>17}"
          f"{'train ratio':>13}{'wall ratio':>12}")
    t_ref = statistics.median(train[YARDSTICK])
    w_ref = statistics.median(wall[YARDSTICK])
    for name in ENVIRONMENTS:
        t, w = statistics.median(train[name]), statistics.median(wall[name])
        print(f"{name:<28}{t:>18.3f}{w:>17.2f}{t / t_ref:>12.2f}x{w / w_ref:>11.2f}x")
    ratio = statistics.median(train["default"]) / t_ref
    verdict = "within" if ratio <= 1.5 else "NOT within"
    print(f"\ndefault / {YARDSTICK} (training time): {ratio:.2f}x, {verdict} 1.5x")
    print("Ratios are medians of interleaved runs; other load on the machine moves them.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
