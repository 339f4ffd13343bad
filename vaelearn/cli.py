"""The ``vaelearn`` command: ``vaelearn train``, ``vaelearn bench``, ``vaelearn classroom``.

Each command lives in a ``register(subparsers)`` function that adds its parser and sets
``func`` (called with the parsed arguments, returns the exit status); :func:`build_parser` calls
them in turn, so adding a command is one line in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path

__all__ = [
    "COMMANDS",
    "build_parser",
    "main",
    "register_bench",
    "register_lessons",
    "register_train",
    "train",
    "write_lessons",
]

_MAIN_EPILOG = """examples:
  vaelearn train --data digits --epochs 3 --out runs/digits
  vaelearn train --data mnist --mnist-root ~/data/mnist --backend torch --mode fast \\
                 --z-dim 20 --hidden 400 --epochs 10 --out runs/mnist
  vaelearn bench --mnist-root ~/data/mnist --epochs 3
  vaelearn lessons my-lessons/
  vaelearn classroom release --all --out release/

MNIST: --mnist-root DIR, else $VAELEARN_MNIST_ROOT, else downloaded once into the cache
($VAELEARN_DATA/mnist; on Linux ~/.cache/vaelearn/mnist by default).
Extras: `train --backend torch` and `bench` need the 'torch' extra, `classroom` the
'classroom' extra.

Run `vaelearn COMMAND --help` for the options of a command.
"""

_TRAIN_EPILOG = """examples:
  vaelearn train --data digits --epochs 3 --out /tmp/run
      a 64-128-2 Bernoulli VAE on the 8x8 digits, NumPy backend, a few seconds on a CPU
  vaelearn train --data digits --backend torch --z-dim 8 --hidden 256 128 --epochs 50 --out runs/z8
  vaelearn train --data mnist --mnist-root ~/data/mnist --backend torch --device cuda \\
                 --mode fast --z-dim 20 --hidden 400 --epochs 10 --out runs/mnist

writes into --out:
  model.npz          checkpoint (load with B.load_checkpoint, either backend)
  history.csv/.json  per-epoch losses, nats per example (train/test -ELBO and its two terms)
  run.json           the arguments and final numbers
  loss.png           loss curves
  samples.png        decoded prior samples, z ~ N(0, I)
  reconstructions.png  test images above their reconstructions
  latent.png         test codes (posterior means) coloured by digit (first two coordinates)
  manifold.png       the decoded latent grid (z-dim 2 only)
"""


# ---------------------------------------------------------------------------------------------
# argument types
# ---------------------------------------------------------------------------------------------


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer >= ``minimum``, else an error saying ``expected {what}``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_nonneg_int = _int_at_least(0, "an integer >= 0")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _sigma(text: str):
    if text == "learned":
        return "learned"
    try:
        return _positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number or 'learned', got {text!r}"
        ) from None


class CommandError(Exception):
    """A user error found after parsing (bad combination of options, missing data, ...)."""


# ---------------------------------------------------------------------------------------------
# vaelearn train
# ---------------------------------------------------------------------------------------------


def register_train(subparsers) -> None:
    """Add ``vaelearn train`` to a subparsers object."""
    p = subparsers.add_parser(
        "train",
        help="train a VAE on digits or MNIST and write checkpoint, history and pictures",
        description="Train a VAE (diagonal-Gaussian encoder, prior N(0, I)) and write a "
        "checkpoint, the per-epoch history (nats per example) and PNG pictures into --out.",
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--data",
        choices=("digits", "mnist"),
        default="digits",
        help="8x8 digits shipped with scikit-learn (1437 train / 360 test), or MNIST 28x28 "
        "(60000 / 10000, downloaded once into the cache unless --mnist-root has it) "
        "[default: digits]",
    )
    data.add_argument(
        "--mnist-root",
        metavar="DIR",
        default=None,
        help="folder with the four MNIST *-ubyte.gz files [default: $VAELEARN_MNIST_ROOT, "
        "else the cache, $VAELEARN_DATA/mnist]",
    )
    data.add_argument(
        "--no-download",
        action="store_true",
        help="fail instead of downloading MNIST files that are missing",
    )
    data.add_argument(
        "--binarize",
        choices=("none", "threshold", "static"),
        default="none",
        help="binary pixels: threshold at 0.5, or one seeded Bernoulli draw [default: none]",
    )
    data.add_argument(
        "--n-train",
        type=_positive_int,
        metavar="N",
        default=None,
        help="use only the first N training images [default: all]",
    )

    model = p.add_argument_group("model")
    model.add_argument("--z-dim", type=_positive_int, default=2, help="latent size [default: 2]")
    model.add_argument(
        "--hidden",
        type=_positive_int,
        nargs="+",
        default=[128],
        metavar="H",
        help="encoder hidden widths; the decoder mirrors them [default: 128]",
    )
    model.add_argument(
        "--likelihood",
        choices=("bernoulli", "gaussian", "continuous_bernoulli", "categorical"),
        default="bernoulli",
        help="decoder p(x|z); categorical: one softmax per pixel over its grey levels (17 for "
        "digits, 256 for mnist) [default: bernoulli]",
    )
    model.add_argument(
        "--sigma",
        type=_sigma,
        default=1.0,
        help="Gaussian decoder's sigma: a number or 'learned' [default: 1.0]",
    )
    model.add_argument(
        "--beta", type=_nonneg_float, default=1.0, help="weight of the KL term [default: 1]"
    )

    run = p.add_argument_group("training")
    run.add_argument(
        "--backend",
        choices=("numpy", "torch"),
        default=None,
        help="numpy (reference) or torch [default: $VAELEARN_BACKEND, else numpy]",
    )
    run.add_argument(
        "--device",
        default=None,
        help="torch device: cpu, cuda or cuda:N [default: $VAELEARN_DEVICE, else cuda when "
        "available]; the numpy backend is cpu only",
    )
    run.add_argument("--epochs", type=_positive_int, default=10, help="[default: 10]")
    run.add_argument("--batch-size", type=_positive_int, default=128, help="[default: 128]")
    run.add_argument("--lr", type=_positive_float, default=1e-3, help="[default: 1e-3]")
    run.add_argument(
        "--optimizer", choices=("adam", "sgd"), default="adam", help="[default: adam]"
    )
    run.add_argument(
        "--seed",
        type=_nonneg_int,
        default=0,
        help="seeds weights, batch order and noise [default: 0]",
    )
    run.add_argument(
        "--mode",
        choices=("agree", "fast"),
        default="agree",
        help="agree: float64, same numbers on both backends; fast: float32 [default: agree]",
    )
    run.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG pictures")
    p.set_defaults(func=train)


def _load_data(args):
    from . import data

    binarize = None if args.binarize == "none" else args.binarize
    if args.data == "digits":
        ds = data.load_digits(seed=args.seed, binarize=binarize)
        image_shape = (8, 8)
    else:
        ds = data.load_mnist(
            data.mnist_root(args.mnist_root), download=not args.no_download, binarize=binarize,
            seed=args.seed,
        )
        image_shape = (28, 28)
    if args.n_train is not None:
        ds = ds._replace(x_train=ds.x_train[: args.n_train], y_train=ds.y_train[: args.n_train])
    return ds, image_shape


def _check_out(out: str) -> Path:
    """Validate --out without creating anything (validate everything first, then act)."""
    if not out.strip():
        raise CommandError("--out is empty; name the folder to write the run into")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise CommandError(f"--out {out!r} exists and is not a folder")
    return path


def _prepare_out(out: str) -> Path:
    path = _check_out(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create --out folder {out!r}: {exc}") from exc
    return path


def _write_history(history: dict, out: Path) -> None:
    keys = list(history)
    with (out / "history.json").open("w") as f:
        json.dump(history, f, indent=1)
    with (out / "history.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for row in zip(*(history[k] for k in keys), strict=True):
            w.writerow([repr(v) if isinstance(v, float) else v for v in row])


def _write_pictures(model, ds, image_shape, history, out: Path, seed: int) -> list[str]:
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt
    import numpy as np

    from . import latent, plotting

    rng = np.random.default_rng(seed + 1)
    x_show = ds.x_test[:10]
    written = []

    def save(fig, name):
        fig.savefig(out / name)
        plt.close(fig)
        written.append(name)

    save(plotting.loss_curves(history), "loss.png")
    save(
        plotting.sample_grid(latent.sample_prior(model, 50, rng), image_shape, ncols=10,
                             width=4.0, title="decoded samples, z ~ N(0, I)"),
        "samples.png",
    )
    save(
        plotting.reconstruction_grid(x_show, np.asarray(model.reconstruct(x_show)), image_shape),
        "reconstructions.png",
    )
    z = latent.encode_dataset(model, ds.x_test)
    if model.z_dim >= 2:
        save(plotting.latent_scatter(z, ds.y_test, title="test codes (posterior means)"),
             "latent.png")
    if model.z_dim == 2:
        n = 15
        save(
            plotting.manifold_grid(latent.decode_grid(model, n), image_shape,
                                   z_grid=latent.latent_grid(n)),
            "manifold.png",
        )
    return written


def train(args) -> int:
    """Carry out ``vaelearn train`` with parsed arguments; return the exit status."""
    backend_name = args.backend or os.environ.get("VAELEARN_BACKEND", "").strip() or "numpy"
    if args.device is not None and backend_name == "numpy" and args.device != "cpu":
        raise CommandError(
            f"--device {args.device} needs --backend torch; the numpy backend is cpu only"
        )
    if args.likelihood != "gaussian" and args.sigma != 1.0:
        raise CommandError("--sigma applies to --likelihood gaussian only")
    _check_out(args.out)

    import vaelearn

    B = vaelearn.get_backend(backend_name)
    device = B.get_device(args.device)  # validates --device (ValueError: no CUDA, bad name)
    ds, image_shape = _load_data(args)
    try:
        model = B.VAE(
            x_dim=ds.x_train.shape[1],
            hidden_dims=tuple(args.hidden),
            z_dim=args.z_dim,
            likelihood=args.likelihood,
            sigma=args.sigma,
            beta=args.beta,
            seed=args.seed,
            dtype="float64",
            # the data's grey levels: digits x = pixel / 16, mnist x = byte / 255
            n_levels=17 if args.data == "digits" else 256,
            device=device,
        )
    except (MemoryError, RuntimeError) as exc:  # numpy MemoryError; torch's allocator error
        if isinstance(exc, RuntimeError) and "alloc" not in str(exc).lower():
            raise
        raise CommandError(
            f"not enough memory for a VAE {ds.x_train.shape[1]}-"
            f"{'-'.join(map(str, args.hidden))}-{args.z_dim}; choose a smaller --z-dim/--hidden"
        ) from None
    out = _prepare_out(args.out)  # created only once everything above is valid
    print(
        f"vaelearn train: {args.data} ({ds.x_train.shape[0]} train / {ds.x_test.shape[0]} test), "
        f"VAE {ds.x_train.shape[1]}-{'-'.join(map(str, args.hidden))}-{args.z_dim} "
        f"{args.likelihood}, backend {backend_name} on {device}, mode {args.mode}"
    )
    t0 = time.perf_counter()
    history = B.fit(
        model,
        ds.x_train,
        ds.x_test,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        seed=args.seed,
        mode=args.mode,
        progress=not args.no_progress,
    )
    seconds = time.perf_counter() - t0
    B.save_checkpoint(model, out / "model.npz")
    _write_history(history, out)
    written = ["model.npz", "history.csv", "history.json"]
    if not args.no_plots:
        written += _write_pictures(model, ds, image_shape, history, out, args.seed)
    summary = {
        "args": {k: v for k, v in vars(args).items() if k != "func"},
        "backend": backend_name,
        "device": device,
        "n_train": int(ds.x_train.shape[0]),
        "n_test": int(ds.x_test.shape[0]),
        "train_seconds": seconds,
        "final_train_loss": history["train_loss"][-1],
        "final_test_loss": history["test_loss"][-1],
        "units": "nats per example (negative ELBO, summed over pixels and latent dimensions)",
    }
    with (out / "run.json").open("w") as f:
        json.dump(summary, f, indent=1)
    written.append("run.json")
    print(
        f"after {args.epochs} epochs ({seconds:.1f} s): train -ELBO "
        f"{history['train_loss'][-1]:.3f}, test -ELBO {history['test_loss'][-1]:.3f} "
        "nats per example"
    )
    print(f"wrote {', '.join(written)} to {out}")
    return 0


# ---------------------------------------------------------------------------------------------
# vaelearn bench
# ---------------------------------------------------------------------------------------------


def register_bench(subparsers) -> None:
    """Add ``vaelearn bench`` to a subparsers object (the work is in :mod:`vaelearn.bench`)."""
    from . import bench

    bench.register(subparsers)


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


_LESSONS_EPILOG = """examples:
  vaelearn lessons my-lessons/          the eight lessons, ready to open in Jupyter
  vaelearn lessons my-lessons/ --force  overwrite lessons already there (your work is lost)
"""


def register_lessons(subparsers) -> None:
    """Add ``vaelearn lessons DIR``: write the student editions shipped inside the package."""
    p = subparsers.add_parser(
        "lessons",
        help="write the eight lesson notebooks (student edition) into a folder",
        description="Write the student edition of the eight lessons (exercises to solve, no "
        "solutions) into DIR, e.g. after `pip install`. A lesson already in DIR is kept unless "
        "--force is given.",
        epilog=_LESSONS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="folder to write the notebooks into (created)")
    p.add_argument("--force", action="store_true", help="overwrite notebooks already in DIR")
    p.set_defaults(func=write_lessons)


def write_lessons(args) -> int:
    """Copy the packaged student lessons into ``args.dir``; return the exit status."""
    from importlib.resources import files

    source = files("vaelearn") / "student_lessons"
    names = sorted(e.name for e in source.iterdir() if e.name.endswith(".ipynb"))
    if not names:
        raise CommandError("this vaelearn installation has no lessons (vaelearn/student_lessons)")
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    present = [n for n in names if (out / n).exists()]
    if present and not args.force:
        raise CommandError(
            f"{out} already holds {', '.join(present)}; use --force to overwrite them"
        )
    for name in names:
        (out / name).write_bytes((source / name).read_bytes())
        print(f"wrote {out / name}")
    return 0


def register_classroom(subparsers) -> None:
    """Add ``vaelearn classroom`` (release / grade) to a subparsers object."""
    from .classroom import cli as classroom_cli

    classroom_cli.register(subparsers)


COMMANDS = (register_train, register_lessons, register_bench, register_classroom)
"""Each adds one sub-command; order is the order in ``--help``."""


def build_parser() -> argparse.ArgumentParser:
    """The ``vaelearn`` argument parser with every command of :data:`COMMANDS`."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="vaelearn",
        description="vaelearn: learn Variational Autoencoders by deriving the maths step by step. "
        "Train a VAE, benchmark the backends, or release and grade lessons.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vaelearn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vaelearn`` console script; returns the exit status.

    Bad arguments exit with status 2 and a usage message (argparse); a bad combination of
    options, missing or corrupt data, or a diverging run exits with status 1 and one line
    ``vaelearn COMMAND: error: ...`` on stderr.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # one thread unless VAELEARN_NUM_THREADS says otherwise (vaelearn.threads)
        from .threads import apply_num_threads

        apply_num_threads()
        status = args.func(args)
    except (CommandError, ValueError, OSError, FloatingPointError) as exc:
        print(f"vaelearn {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        # an optional extra is missing: one line naming it, no traceback
        from ._extras import missing_extra

        message = missing_extra(exc)
        if message is None:
            raise
        print(f"vaelearn {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0 if status is None else int(status)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
