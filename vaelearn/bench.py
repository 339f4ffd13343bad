"""``vaelearn bench``: seconds per epoch of the two backends against a bare PyTorch loop.

One run, same data, same architecture (the pytorch/examples VAE: 784-400-20, ReLU, Bernoulli
decoder, Adam lr 1e-3, batch 128, float32):

(a) ``vaelearn.numpy.fit(..., mode="fast")`` -- the NumPy reference with hand-written backward;
(b) ``vaelearn.torch.fit(..., mode="fast")`` -- the torch backend;
(c) a bare PyTorch training loop written plainly below (:func:`bare_vae`, :func:`bare_epoch`),
    the yardstick.

The three are **interleaved epoch by epoch** (a, b, c, a, b, c, ...) so that load from other
processes hits all of them alike. (a) and (b) step through the epochs of the real ``fit`` (the
epoch generator behind ``fit``, which yields where ``fit`` calls ``on_epoch_end``); only one of
the three computes at a time.

After the same number of epochs, each model's test ELBO is estimated the same way: its weights
are copied into a float64 NumPy ``VAE`` and ``elbo(x_test, eps)`` is averaged with one shared
noise draw (analytic KL), so the three numbers differ only through training.

Data: the MNIST test file (t10k) split 8000 / 2000, where :func:`vaelearn.data.mnist_root` finds it
(``--mnist-root``, ``$VAELEARN_MNIST_ROOT``, ``../shared/data/mnist`` or the download cache); the
8x8 digits when none has it (said so).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field

__all__ = ["BenchResult", "run_bench", "register", "main", "bare_vae", "bare_epoch"]

_DESCRIPTION = """\
Seconds per epoch of (a) vaelearn.numpy fit and (b) vaelearn.torch fit (both mode="fast", float32)
against (c) a bare PyTorch training loop, on the same data and architecture (784-400-20 ReLU,
Bernoulli decoder, Adam lr 1e-3, batch 128), interleaved epoch by epoch; then each model's test
-ELBO after the same epochs."""

_EPILOG = """examples:
  vaelearn bench                                  MNIST t10k if found, else the 8x8 digits
  vaelearn bench --mnist-root ../shared/data/mnist --epochs 5 --threads 1
  vaelearn bench --epochs 1 --n-train 500 --n-test 100     a quick smoke run

Prints the median seconds per epoch of (a) vaelearn.numpy fit, (b) vaelearn.torch fit and (c) a
bare PyTorch loop, the ratios a/c and b/c, and each model's test -ELBO (nats per example).
Timings depend on the machine's load: the three are interleaved so that load affects all alike.
"""


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def load_bench_data(mnist_root=None, n_train=8000, n_test=2000):
    """``(x_train, x_test, description)`` as float32: MNIST t10k split, or the 8x8 digits.

    With an explicit ``mnist_root`` the MNIST files must be there (else ``FileNotFoundError``).
    """
    import numpy as np

    from . import data

    root = data.mnist_root(mnist_root, search_shared=True)
    img = root / data.MNIST_FILES["test_images"][0]
    if img.exists():
        data._verify(img, data.MNIST_FILES["test_images"][1])
        x = data.read_idx(img).reshape(-1, 784).astype(np.float32) / np.float32(255)
        if n_train + n_test > x.shape[0]:
            raise ValueError(
                f"n_train + n_test = {n_train + n_test} exceeds the {x.shape[0]} images of {img}"
            )
        desc = f"MNIST t10k from {root}: {n_train} train / {n_test} test, 784 pixels"
        return x[:n_train], x[n_train : n_train + n_test], desc
    if mnist_root is not None:
        raise FileNotFoundError(
            f"--mnist-root {mnist_root}: no {data.MNIST_FILES['test_images'][0]} there"
        )
    ds = data.load_digits(dtype="float32")
    x_train, x_test = ds.x_train[:n_train], ds.x_test[:n_test]
    desc = (
        f"MNIST not found, so the 8x8 digits instead: {x_train.shape[0]} train / "
        f"{x_test.shape[0]} test, 64 pixels"
    )
    return x_train, x_test, desc


# ---------------------------------------------------------------------------------------------
# (c) the yardstick: a bare PyTorch VAE, written the plain way (as pytorch/examples vae/main.py)
# ---------------------------------------------------------------------------------------------


def bare_vae(x_dim=784, hidden=400, z_dim=20):
    """A plain ``torch.nn.Module`` VAE: x -> 400 ReLU -> (mu, logvar); z -> 400 ReLU -> logits."""
    import torch
    from torch import nn

    class _BareVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(x_dim, hidden)
            self.fc21 = nn.Linear(hidden, z_dim)
            self.fc22 = nn.Linear(hidden, z_dim)
            self.fc3 = nn.Linear(z_dim, hidden)
            self.fc4 = nn.Linear(hidden, x_dim)

        def forward(self, x):
            h = torch.relu(self.fc1(x))
            mu, logvar = self.fc21(h), self.fc22(h)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = self.fc4(torch.relu(self.fc3(z)))
            return logits, mu, logvar

    return _BareVAE()


def bare_loss(logits, x, mu, logvar):
    """Negative ELBO summed over the batch: BCE-with-logits (sum) + analytic KL (sum)."""
    import torch
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def bare_epoch(model, optimizer, x, batch_size, generator):
    """One epoch of the plain loop over a float32 tensor ``x``; returns the mean loss per image."""
    import torch

    model.train()
    perm = torch.randperm(x.shape[0], generator=generator)
    total = 0.0
    for start in range(0, x.shape[0], batch_size):
        xb = x[perm[start : start + batch_size]]
        optimizer.zero_grad()
        logits, mu, logvar = model(xb)
        loss = bare_loss(logits, xb, mu, logvar)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / x.shape[0]


def _bare_params(model):
    """The bare model's weights under vaelearn's parameter keys (``W`` as ``(in, out)``)."""
    names = {
        "fc1": "encoder.0",
        "fc21": "encoder.mean",
        "fc22": "encoder.logvar",
        "fc3": "decoder.0",
        "fc4": "decoder.out",
    }
    out = {}
    for mod, key in names.items():
        layer = getattr(model, mod)
        out[f"{key}.W"] = layer.weight.detach().cpu().double().numpy().T.copy()
        out[f"{key}.b"] = layer.bias.detach().cpu().double().numpy().copy()
    return out


# ---------------------------------------------------------------------------------------------
# runners: one epoch per step()
# ---------------------------------------------------------------------------------------------


class _FitRunner:
    """``B.fit(model, x, epochs=E, mode="fast")``, one epoch per :meth:`step`.

    Runs the epochs of ``fit`` itself (the generator that ``fit`` consumes, whose per-epoch yield
    is where ``fit`` calls ``on_epoch_end``), so the training is exactly ``fit``'s; the set-up
    (checks, dtype conversion) happens here and is not timed.
    """

    def __init__(self, B, model, x, *, epochs, batch_size, lr, seed):
        self.model, self.history = model, None
        self._epochs = B.train._fit_epochs(
            model, x, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, mode="fast",
            progress=False,
        )
        next(self._epochs)  # fit's set-up (dtype conversion, checks) is not timed

    def step(self) -> float:
        t0 = time.perf_counter()
        _, self.history = next(self._epochs)
        return time.perf_counter() - t0

    def finish(self):
        for _, history in self._epochs:  # the epochs not stepped (none when all were)
            self.history = history

    def params(self):
        return {k: v.astype("float64") for k, v in self.model.get_params().items()}


class _BareRunner:
    def __init__(self, x, *, hidden, z_dim, batch_size, lr, seed, device):
        import torch

        torch.manual_seed(seed)
        self.model = bare_vae(x.shape[1], hidden, z_dim).to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.x = torch.from_numpy(x).to(device)
        self.gen = torch.Generator().manual_seed(seed)
        self.batch_size, self.device = batch_size, device

    def step(self) -> float:
        import torch

        t0 = time.perf_counter()
        bare_epoch(self.model, self.opt, self.x, self.batch_size, self.gen)
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    def finish(self):
        pass

    def params(self):
        return _bare_params(self.model)


# ---------------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------------

LABELS = {
    "a": "(a) vaelearn.numpy fit, fast fp32",
    "b": "(b) vaelearn.torch fit, fast fp32",
    "c": "(c) bare PyTorch loop, fp32",
}


@dataclass
class BenchResult:
    """What :func:`run_bench` measured. Times in seconds, ELBOs in nats per example."""

    data: str
    epochs: int
    threads: str
    device: str
    seconds: dict = field(default_factory=dict)  # name -> list of per-epoch seconds
    test_neg_elbo: dict = field(default_factory=dict)  # name -> float
    skipped: dict = field(default_factory=dict)  # name -> reason

    def median(self, name):
        return statistics.median(self.seconds[name])

    def ratio(self, name, ref="c"):
        if name not in self.seconds or ref not in self.seconds:
            return math.nan
        return self.median(name) / self.median(ref)

    def table(self) -> str:
        """The result as a text table."""
        lines = [
            f"data: {self.data}",
            f"model: VAE x-400-20, ReLU, Bernoulli decoder, Adam lr 1e-3, batch 128, float32; "
            f"{self.epochs} epoch(s) each, interleaved a, b, c; {self.threads}; "
            f"device {self.device}",
            "",
            f"{'':36s} {'s/epoch (median)':>17s} {'ratio to (c)':>13s} {'test -ELBO':>11s}",
        ]
        for name, label in LABELS.items():
            if name in self.skipped:
                lines.append(f"{label:36s} skipped: {self.skipped[name]}")
                continue
            lines.append(
                f"{label:36s} {self.median(name):17.3f} {self.ratio(name):13.2f} "
                f"{self.test_neg_elbo[name]:11.2f}"
            )
        lines.append("")
        lines.append("test -ELBO: nats per example (one shared noise draw, analytic KL, float64)")
        for name in LABELS:
            if name in self.seconds:
                times = ", ".join(f"{s:.3f}" for s in self.seconds[name])
                lines.append(f"per-epoch seconds {name}: {times}")
        return "\n".join(lines)


def _pin_threads(threads):
    """Limit torch's and the BLAS libraries' thread pools; return a description.

    Through :func:`vaelearn.threads.set_num_threads`, so that ``fit`` keeps the choice; ``None``
    leaves the pools as the libraries (and ``OMP_NUM_THREADS``) set them.
    """
    import torch

    from .threads import set_num_threads

    if threads is not None:
        set_num_threads(threads)
        return f"threads: torch {threads}, BLAS {threads}"
    set_num_threads("auto")
    return f"threads: torch {torch.get_num_threads()}, BLAS as the libraries chose"


def run_bench(
    mnist_root=None,
    *,
    epochs=3,
    n_train=8000,
    n_test=2000,
    threads=None,
    batch_size=128,
    lr=1e-3,
    hidden=400,
    z_dim=20,
    seed=0,
    device="cpu",
    only=("a", "b", "c"),
) -> BenchResult:
    """Run the interleaved benchmark; return a :class:`BenchResult` (``.table()`` prints it)."""
    import numpy as np

    import vaelearn

    if epochs < 1:
        raise ValueError(f"argument 'epochs' must be >= 1, got {epochs}")
    unknown = set(only) - set(LABELS)
    if unknown or not only:
        raise ValueError(f"argument 'only' must name some of a, b, c; got {only!r}")
    threads_desc = _pin_threads(threads)
    x_train, x_test, desc = load_bench_data(mnist_root, n_train, n_test)
    result = BenchResult(data=desc, epochs=epochs, threads=threads_desc, device=device)
    x_dim = x_train.shape[1]
    runners = {}
    for name in LABELS:
        if name not in only:
            result.skipped[name] = "not requested"
            continue
        try:
            if name == "c":
                runners[name] = _BareRunner(
                    x_train, hidden=hidden, z_dim=z_dim, batch_size=batch_size, lr=lr,
                    seed=seed, device=device,
                )
                continue
            B = vaelearn.get_backend("numpy" if name == "a" else "torch")
            model = B.VAE(
                x_dim=x_dim, hidden_dims=(hidden,), z_dim=z_dim, likelihood="bernoulli",
                seed=seed, dtype="float32", device=device if name == "b" else None,
            )
            runners[name] = _FitRunner(
                B, model, x_train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed
            )
        except (ImportError, AttributeError, NotImplementedError) as exc:
            result.skipped[name] = f"{type(exc).__name__}: {exc}"
    for _epoch in range(epochs):
        for name, runner in runners.items():
            result.seconds.setdefault(name, []).append(runner.step())
    ref = vaelearn.get_backend("numpy").VAE(
        x_dim=x_dim, hidden_dims=(hidden,), z_dim=z_dim, likelihood="bernoulli", seed=seed
    )
    eps = ref.sample_eps(x_test.shape[0], np.random.default_rng(seed + 12345))
    x_eval = x_test.astype(np.float64)
    for name, runner in runners.items():
        runner.finish()
        ref.set_params(runner.params())
        result.test_neg_elbo[name] = -float(np.mean(ref.elbo(x_eval, eps).elbo))
    return result


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def _threads(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def register(subparsers) -> None:
    """Add ``vaelearn bench`` to a subparsers object."""
    p = subparsers.add_parser(
        "bench",
        help="seconds per epoch: NumPy backend and torch backend vs a bare PyTorch loop",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--mnist-root",
        metavar="DIR",
        default=None,
        help="folder with t10k-images-idx3-ubyte.gz [default: $VAELEARN_MNIST_ROOT, "
        "../shared/data/mnist or the cache; else the 8x8 digits]",
    )
    p.add_argument("--epochs", type=_threads, default=3, help="epochs of each [default: 3]")
    p.add_argument("--n-train", type=_threads, default=8000, help="[default: 8000]")
    p.add_argument("--n-test", type=_threads, default=2000, help="[default: 2000]")
    p.add_argument(
        "--threads",
        type=_threads,
        default=1,
        help="pin torch and BLAS to this many threads [default: 1: NumPy and torch share this "
        "process, and with more threads their pools compete and epochs swing several-fold]",
    )
    p.add_argument("--batch-size", type=_threads, default=128, help="[default: 128]")
    p.add_argument("--seed", type=int, default=0, help="[default: 0]")
    p.add_argument(
        "--device", default="cpu", help="torch device for (b) and (c): cpu or cuda [default: cpu]"
    )
    p.add_argument(
        "--only",
        default="abc",
        help="which of a, b, c to run, e.g. 'ac' [default: abc]",
    )
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    result = run_bench(
        args.mnist_root,
        epochs=args.epochs,
        n_train=args.n_train,
        n_test=args.n_test,
        threads=args.threads,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        only=tuple(args.only),
    )
    print(result.table())
    return 0


def main(argv=None) -> int:
    """``python -m vaelearn.bench``: ``vaelearn bench`` without the rest of the command line."""
    parser = argparse.ArgumentParser(prog="python -m vaelearn")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    try:
        status = args.func(args)
    except (ValueError, OSError, FloatingPointError) as exc:
        print(f"vaelearn bench: error: {exc}", file=sys.stderr)
        return 1
    return 0 if status is None else int(status)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
