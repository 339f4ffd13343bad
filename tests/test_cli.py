"""The ``vaelearn`` command: ``train`` writes every file, errors are clear, ``bench`` prints its
table. Oracles: the files' contents against each other and against the checkpoint, the other
backend's run of the same command (agreement mode), and torch's own bare VAE loss."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vaelearn
from vaelearn import bench, cli, data

REPO = Path(__file__).resolve().parents[1]
MNIST_ROOT = Path(os.environ.get("VAELEARN_MNIST_ROOT", REPO.parent / "shared" / "data" / "mnist"))
HAVE_MNIST = (MNIST_ROOT / data.MNIST_FILES["test_images"][0]).exists()

TRAIN_FILES = {
    "model.npz",
    "history.csv",
    "history.json",
    "run.json",
    "loss.png",
    "samples.png",
    "reconstructions.png",
    "latent.png",
    "manifold.png",
}


@pytest.fixture(autouse=True)
def _agg(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _train(out, *extra):
    return cli.main(
        ["train", "--data", "digits", "--epochs", "2", "--no-progress", "--out", str(out), *extra]
    )


@pytest.fixture(scope="module")
def numpy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run_numpy")
    assert _train(out, "--backend", "numpy") == 0
    return out


def test_train_writes_every_file(numpy_run):
    assert {p.name for p in numpy_run.iterdir()} == TRAIN_FILES
    for name in TRAIN_FILES:
        assert (numpy_run / name).stat().st_size > 0
    assert (numpy_run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_history_files_agree(numpy_run):
    h = json.loads((numpy_run / "history.json").read_text())
    assert h["epoch"] == [1, 2]
    with (numpy_run / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    for key in ("train_loss", "test_loss", "train_kl", "test_rec"):
        assert [float(r[key]) for r in rows] == h[key]  # repr round-trips floats exactly
    # a Bernoulli VAE's -ELBO is positive, and finite
    assert all(0 < v < math.inf for v in h["test_loss"])
    run = json.loads((numpy_run / "run.json").read_text())
    assert run["final_test_loss"] == h["test_loss"][-1]
    assert run["n_train"] == 1437 and run["n_test"] == 360 and "nats" in run["units"]


def test_train_checkpoint_reproduces_test_loss(numpy_run):
    B = vaelearn.get_backend("numpy")
    model = B.load_checkpoint(numpy_run / "model.npz")
    assert model.z_dim == 2 and model.hidden_dims == (128,)
    # fit's last test loss used the next draws of default_rng(seed) after training; recompute it
    # with the checkpoint and a loss evaluation that must land near it (a different noise draw:
    # one-sample ELBO on 360 images has a standard error well below 1 nat)
    d = data.load_digits()
    h = json.loads((numpy_run / "history.json").read_text())
    eps = model.sample_eps(360, np.random.default_rng(123))
    neg_elbo = -float(model.elbo(d.x_test, eps).elbo.mean())
    assert abs(neg_elbo - h["test_loss"][-1]) < 1.0


def test_train_torch_backend_same_history(numpy_run, tmp_path):
    """Agreement mode: the torch backend's run of the same command gives the same numbers."""
    pytest.importorskip("torch")
    assert _train(tmp_path, "--backend", "torch", "--device", "cpu", "--no-plots") == 0
    a = json.loads((numpy_run / "history.json").read_text())
    b = json.loads((tmp_path / "history.json").read_text())
    assert a.keys() == b.keys()
    for key in a:
        # training histories: RTOL_FIT = 1e-8 of tests/test_parity.py (reasoned there)
        np.testing.assert_allclose(b[key], a[key], rtol=1e-8)


def test_train_z3_has_no_manifold(tmp_path, capsys):
    assert _train(tmp_path, "--z-dim", "3", "--hidden", "32", "16") == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert names == TRAIN_FILES - {"manifold.png"}
    out = capsys.readouterr().out
    assert "VAE 64-32-16-3" in out and "nats per example" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "--epochs: expected a positive integer"),
        (["--lr", "nan"], "--lr: expected a positive number"),
        (["--likelihood", "poisson"], "invalid choice: 'poisson'"),
        (["--data", "cifar"], "invalid choice: 'cifar'"),
        (["--sigma", "-1"], "--sigma: expected a positive number or 'learned'"),
    ],
)
def test_train_bad_arguments_exit_2(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        _train(tmp_path / "o", *argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_train_missing_out_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--data", "digits"])
    assert info.value.code == 2 and "--out" in capsys.readouterr().err


@pytest.mark.parametrize("likelihood", ["continuous_bernoulli", "categorical"])
def test_train_grey_level_likelihoods(tmp_path, capsys, likelihood):
    # the new decoders train from the CLI and their checkpoint loads into both backends
    assert _train(tmp_path, "--likelihood", likelihood, "--hidden", "16") == 0
    assert likelihood in capsys.readouterr().out
    import vaelearn
    from vaelearn.data import load_digits

    x = load_digits().x_test[:5]
    eps = np.zeros((5, 2))
    elbos = []
    for name in ("numpy", "torch"):
        B = vaelearn.get_backend(name)
        m = B.load_checkpoint(next(tmp_path.glob("*.npz")))
        assert m.likelihood == likelihood
        elbos.append(np.asarray(m.elbo(x, eps).elbo))
    np.testing.assert_allclose(elbos[1], elbos[0], rtol=1e-10)
    if likelihood == "categorical":
        assert m.n_levels == 17


def test_train_bad_combinations_exit_1(tmp_path, capsys):
    assert _train(tmp_path / "a", "--backend", "numpy", "--device", "cuda") == 1
    assert "numpy backend is cpu only" in capsys.readouterr().err
    assert _train(tmp_path / "b", "--sigma", "0.5") == 1
    assert "--sigma applies to --likelihood gaussian" in capsys.readouterr().err
    assert _train(tmp_path / "b2", "--sigma", "0.5", "--likelihood", "categorical") == 1
    assert "--sigma applies to --likelihood gaussian" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert _train(a_file) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_train_missing_mnist_names_file(tmp_path, capsys):
    status = cli.main(
        ["train", "--data", "mnist", "--mnist-root", str(tmp_path / "empty"), "--no-download",
         "--out", str(tmp_path / "o"), "--no-progress"]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("vaelearn train: error:") and "train-images-idx3-ubyte.gz" in err


@pytest.mark.mnist
@pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST files not in {MNIST_ROOT}")
def test_train_mnist_small(tmp_path):
    status = cli.main(
        ["train", "--data", "mnist", "--mnist-root", str(MNIST_ROOT), "--no-download",
         "--n-train", "256", "--epochs", "1", "--z-dim", "2", "--hidden", "64", "--mode", "fast",
         "--no-progress", "--out", str(tmp_path)]
    )
    assert status == 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["n_train"] == 256 and run["n_test"] == 10000
    # after one epoch on 256 images it is still bad, but it must beat nothing: 784 ln 2 nats
    # (Bernoulli(1/2) per pixel) is an upper reference an initialised VAE starts near
    assert 0 < run["final_test_loss"] < 784 * math.log(2) + 50


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "vaelearn train --data digits --epochs 3" in out
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("train", "bench", "classroom"):
        assert command in out
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2


def test_acceptance_command_line(tmp_path):
    """`vaelearn train --data digits --epochs 3 --out DIR` as a separate process."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-m", "vaelearn", "train", "--data", "digits", "--epochs", "3",
         "--out", str(tmp_path), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in tmp_path.iterdir()} == TRAIN_FILES
    assert "test -ELBO" in proc.stdout


# ------------------------------------------------------------------------------------------
# bench
# ------------------------------------------------------------------------------------------


def test_bare_params_map_onto_vaelearn_keys():
    """The yardstick's weights, copied into a vaelearn VAE, give the same loss as torch does."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = bench.bare_vae(64, 16, 3).double()
    x = data.load_digits().x_test[:20]
    eps = np.random.default_rng(0).standard_normal((20, 3))
    with torch.no_grad():
        xt = torch.from_numpy(x)
        h = torch.relu(model.fc1(xt))
        mu, logvar = model.fc21(h), model.fc22(h)
        z = mu + torch.exp(0.5 * logvar) * torch.from_numpy(eps)
        logits = model.fc4(torch.relu(model.fc3(z)))
        torch_loss = float(bench.bare_loss(logits, xt, mu, logvar)) / 20
    ref = vaelearn.get_backend("numpy").VAE(x_dim=64, hidden_dims=(16,), z_dim=3)
    ref.set_params(bench._bare_params(model))
    ours = -float(ref.elbo(x, eps).elbo.mean())
    assert ours == pytest.approx(torch_loss, rel=1e-10)  # float64 both: rounding only


def test_bench_smoke_prints_table(capsys):
    pytest.importorskip("torch")
    status = cli.main(["bench", "--epochs", "1", "--n-train", "256", "--n-test", "64"])
    assert status == 0
    out = capsys.readouterr().out
    for label in bench.LABELS.values():
        assert label in out
    assert "s/epoch (median)" in out and "nats per example" in out
    assert "skipped" not in out


def test_bench_result_numbers():
    pytest.importorskip("torch")
    r = bench.run_bench(epochs=2, n_train=128, n_test=32, hidden=32, z_dim=4, only="ac")
    assert r.skipped == {"b": "not requested"}
    assert len(r.seconds["a"]) == 2 and len(r.seconds["c"]) == 2
    assert r.ratio("c") == 1.0 and math.isnan(r.ratio("b"))
    for v in r.test_neg_elbo.values():
        assert 0 < v < math.inf


def test_bench_bad_arguments(capsys, tmp_path):
    assert cli.main(["bench", "--only", "xyz"]) == 1
    assert "only" in capsys.readouterr().err
    assert cli.main(["bench", "--mnist-root", str(tmp_path)]) == 1
    assert "t10k-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_fit_runner_reports_fit_errors_instead_of_hanging():
    """A fit that fails before its first epoch raises in the caller (no deadlock)."""
    B = vaelearn.get_backend("numpy")
    model = B.VAE(x_dim=64, hidden_dims=(8,), z_dim=2, dtype="float32")
    x = np.full((10, 64), np.nan, dtype=np.float32)
    with pytest.raises(ValueError, match="x_train"):
        bench._FitRunner(B, model, x, epochs=2, batch_size=4, lr=1e-3, seed=0)


def test_fit_runner_trains_like_fit():
    """Stepping fit epoch by epoch through the runner gives fit's own result, bit for bit."""
    B = vaelearn.get_backend("numpy")
    x = data.load_digits().x_train[:200].astype(np.float32)
    kwargs = dict(x_dim=64, hidden_dims=(16,), z_dim=2, dtype="float32", seed=3)
    direct = B.VAE(**kwargs)
    B.fit(direct, x, epochs=3, batch_size=32, seed=1, mode="fast", progress=False)
    stepped = B.VAE(**kwargs)
    runner = bench._FitRunner(B, stepped, x, epochs=3, batch_size=32, lr=1e-3, seed=1)
    times = [runner.step() for _ in range(3)]
    runner.finish()
    assert all(t > 0 for t in times)
    for key, value in direct.get_params().items():
        assert np.array_equal(stepped.get_params()[key], value), key


def test_device_option_leaves_environment_alone(tmp_path, monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    monkeypatch.delenv("VAELEARN_DEVICE", raising=False)
    assert _train(tmp_path / "a", "--backend", "torch", "--device", "cpu", "--epochs", "1",
                  "--no-plots") == 0
    assert "VAELEARN_DEVICE" not in os.environ
    if not torch.cuda.is_available():
        assert _train(tmp_path / "b", "--backend", "torch", "--device", "cuda") == 1
        assert "no CUDA device" in capsys.readouterr().err
