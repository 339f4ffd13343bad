"""``vaelearn classroom release|grade``: the instructor's commands (book: instructors' guide)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register", "run"]

_EPILOG = """examples:
  vaelearn classroom release lessons/01_entropy_cross_entropy_kl.ipynb --out release/
  vaelearn classroom release --all --out release/
  vaelearn classroom grade submissions/ --out grades.csv
      (submissions/<student>/<lesson file name>.ipynb; feedback in grades_feedback/<student>.md)
"""


def register(subparsers) -> None:
    """Add the ``classroom`` command (with ``release`` and ``grade``) to a subparsers object."""
    p = subparsers.add_parser("classroom", help="release lessons to students and autograde them",
                              description=__doc__, epilog=_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="classroom_command", required=True)
    r = sub.add_parser("release", help="write student notebooks (solutions, hidden tests removed)",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("lessons", nargs="*", help="instructor lesson notebooks")
    r.add_argument("--all", action="store_true", help="every lesson in --lessons-dir")
    r.add_argument("--lessons-dir", default="lessons", help="lessons folder (lessons)")
    r.add_argument("--out", required=True, help="folder for the student notebooks")
    g = sub.add_parser("grade", help="autograde SUBMISSIONS_DIR/<student>/<lesson>.ipynb",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("submissions", help="folder with one sub-folder per student")
    g.add_argument("--out", required=True, help="grades CSV to write")
    g.add_argument("--lessons-dir", default="lessons", help="instructor lessons (default: lessons)")
    g.add_argument("--lesson", action="append", dest="lessons",
                   help="grade only this lesson file name (repeatable); default: all submitted")
    g.add_argument("--feedback", help="feedback folder (default: <out stem>_feedback)")
    g.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell (120)")
    g.add_argument("--notebook-timeout", type=float, default=900.0,
                   help="seconds per notebook (900)")
    g.add_argument("--memory-mb", type=int, default=3072,
                   help="address space per process of a submission (3072 MiB; at least 1024)")
    g.add_argument("--work-mb", type=int, default=256,
                   help="size of each submission's private working folder (256 MiB)")
    g.add_argument("--jobs", type=int, default=None, help="submissions at once (CPU cores)")
    g.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run student code WITHOUT the bubblewrap sandbox (trusted code only; "
                        "for machines without bubblewrap or user namespaces)")
    g.add_argument("--resume", action="store_true", help="skip what was already graded")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    """Carry out a parsed ``vaelearn classroom ...`` command; return the exit status."""
    from .grade import Limits, grade
    from .release import release

    if args.classroom_command == "release":
        lessons = list(args.lessons)
        if args.all:
            found = sorted(str(p) for p in Path(args.lessons_dir).glob("[0-9]*.ipynb"))
            if not found:
                where = args.lessons_dir
                where = where if Path(where).is_absolute() else f"./{where}"
                raise ValueError(
                    f"--all: no lessons (NN_name.ipynb) found in {where}; run this "
                    "in a clone of the vaelearn repository or give --lessons-dir"
                )
            lessons += found
        if not lessons:
            raise ValueError("name at least one lesson, or use --all")
        for path in release(lessons, args.out):
            print(f"released {path}")
        return 0
    # Every option is checked (Limits, grade) before any submission is read or run.
    limits = Limits(args.cell_timeout, args.notebook_timeout, args.memory_mb, args.work_mb)
    if args.unsafe_no_sandbox:
        print("warning: --unsafe-no-sandbox: student code runs WITHOUT isolation; use only for "
              "code you trust", file=sys.stderr)
    out = grade(args.submissions, args.out, lessons_dir=args.lessons_dir, lessons=args.lessons,
                feedback_dir=args.feedback, limits=limits, jobs=args.jobs, resume=args.resume,
                progress=not args.no_progress, unsafe_no_sandbox=args.unsafe_no_sandbox)
    print(f"grades written to {out}")
    return 0
