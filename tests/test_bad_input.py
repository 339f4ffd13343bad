"""Bad input is named or refused at every public entry point (issue 13, item 9): one table.

Each row calls an entry point (constructor, fit, loader, checkpoint I/O, information-theory
helper, command line) with one bad value and expects a ValueError (or, for the command line,
exit status 1 or 2 and a one-line message without a traceback) whose message names the
argument. Rows marked per backend run for both ``vaelearn.numpy`` and ``vaelearn.torch``.
"""

from __future__ import annotations

import json
import tracemalloc
import zipfile

import numpy as np
import pytest

import vaelearn.numpy as N
from vaelearn import data, info
from vaelearn.cli import main

X = np.full((4, 6), 0.5)

# (id, call(B), match): ValueError whose message matches, for each backend B
PER_BACKEND = [
    ("vae-hidden-str", lambda B: B.VAE(6, hidden_dims="128"), "hidden_dims"),
    ("vae-hidden-float", lambda B: B.VAE(6, hidden_dims=(2.5,)), "hidden_dims"),
    ("vae-hidden-zero", lambda B: B.VAE(6, hidden_dims=(0,)), "hidden_dims"),
    ("vae-x_dim-float", lambda B: B.VAE(6.5), "x_dim"),
    ("vae-z_dim-bool", lambda B: B.VAE(6, z_dim=True), "z_dim"),
    ("vae-seed-negative", lambda B: B.VAE(6, seed=-1), "seed"),
    ("vae-seed-float", lambda B: B.VAE(6, seed=1.5), "seed"),
    ("vae-beta-negative", lambda B: B.VAE(6, beta=-1.0), "beta"),
    ("vae-beta-string", lambda B: B.VAE(6, beta="big"), "beta"),
    ("ae-hidden-str", lambda B: B.Autoencoder(6, hidden_dims="12"), "hidden_dims"),
    ("ae-seed-negative", lambda B: B.Autoencoder(6, seed=-3), "seed"),
    ("vqvae-seed-negative", lambda B: B.VQVAE(seed=-1), "seed"),
    ("vqvae-hidden-zero", lambda B: B.VQVAE(hidden_dims=(0,)), "hidden_dims"),
    ("fit-empty", lambda B: B.fit(B.VAE(6), np.zeros((0, 6)), epochs=1, progress=False),
     "x_train"),
    ("fit-empty-test", lambda B: B.fit(B.VAE(6), X, np.zeros((0, 6)), epochs=1, progress=False),
     "x_test"),
    ("fit-seed-negative", lambda B: B.fit(B.VAE(6), X, epochs=1, seed=-1, progress=False), "seed"),
    ("fit-seed-float", lambda B: B.fit(B.VAE(6), X, epochs=1, seed=0.5, progress=False), "seed"),
    ("fit-fast-float32-overflow",
     lambda B: B.fit(B.VAE(6, likelihood="gaussian"), np.full((4, 6), 1e39), epochs=1,
                     mode="fast", progress=False), "x_train"),
    ("fit_vqvae-empty", lambda B: B.fit_vqvae(B.VQVAE(x_dim=6), np.zeros((0, 6)), epochs=1),
     "x_train"),
    ("fit_vqvae-seed", lambda B: B.fit_vqvae(B.VQVAE(x_dim=6), X, epochs=1, seed=-2), "seed"),
    ("set_params-float32-overflow",
     lambda B: B.VAE(6, dtype="float32").set_params(
         {k: np.full(v.shape, 1e40) for k, v in B.VAE(6, dtype="float32").get_params().items()}),
     "float32"),
    ("set_params-complex",
     lambda B: B.VAE(6).set_params(
         {k: v.astype(complex) for k, v in B.VAE(6).get_params().items()}), "complex"),
    ("vqvae-set_params-complex",
     lambda B: B.VQVAE().set_params(
         {k: v.astype(complex) for k, v in B.VQVAE().get_params().items()}), "complex"),
    ("save_checkpoint-not-a-model", lambda B: B.save_checkpoint(object(), "unused.npz"), "model"),
    ("kl_normal-zero-variance", lambda B: B.kl_normal(0.0, 0.0), "var_q"),
    ("entropy-not-a-distribution", lambda B: B.entropy([0.5, 0.6]), "'p'"),
]

# (id, call(), match): backend-free entry points
SHARED = [
    ("load_digits-seed-negative", lambda: data.load_digits(seed=-1), "seed"),
    ("load_digits-seed-float", lambda: data.load_digits(seed=0.5), "seed"),
    ("fit_normal_by_kl-zero-density",
     lambda: info.fit_normal_by_kl(np.linspace(-1, 1, 11), np.zeros(11), "forward"), "p_density"),
    ("fit_normal_by_kl-inf-density",
     lambda: info.fit_normal_by_kl(np.linspace(-1, 1, 11), np.full(11, np.inf), "forward"),
     "p_density"),
    ("sample_message-negative", lambda: info.sample_message([1.0], -1, np.random.default_rng()),
     "n_symbols"),
]


@pytest.mark.parametrize(("call", "match"), [pytest.param(c, m, id=i) for i, c, m in PER_BACKEND])
def test_bad_input_is_named(backend, call, match):
    with pytest.raises(ValueError, match=match):
        call(backend)


@pytest.mark.parametrize(("call", "match"), [pytest.param(c, m, id=i) for i, c, m in SHARED])
def test_bad_input_is_named_shared(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _checkpoint(tmp_path, tamper):
    """A valid VAE checkpoint whose arrays ``tamper(arrays)`` changes."""
    m = N.VAE(6, (4,), 2)
    arrays = dict(m.get_params())
    arrays["__config__"] = np.array(json.dumps(m.config))
    tamper(arrays)
    path = tmp_path / "m.npz"
    np.savez(path, **arrays)
    return path


def test_load_checkpoint_refuses_complex_and_extra_arrays(backend, tmp_path):
    def to_complex(a):
        a["decoder.out.b"] = a["decoder.out.b"] + 1j

    with pytest.raises(ValueError, match=r"decoder\.out\.b.*complex"):
        backend.load_checkpoint(_checkpoint(tmp_path, to_complex))

    def extra(a):
        a["surprise"] = np.zeros(3)

    with pytest.raises(ValueError, match="surprise"):
        backend.load_checkpoint(_checkpoint(tmp_path, extra))


def test_load_checkpoint_refuses_a_zip_bomb_unread(backend, tmp_path):
    # a 256 MiB array of zeros deflates to ~250 KiB; its declared size is refused before reading
    m = N.VAE(6, (4,), 2)
    path = tmp_path / "bomb.npz"
    n = 32 * 2**20  # float64 elements
    header = {"descr": "<f8", "fortran_order": False, "shape": (n,)}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__config__.npy", _npy_bytes(np.array(json.dumps(m.config))))
        for k, v in m.get_params().items():
            if k != "decoder.out.W":
                zf.writestr(f"{k}.npy", _npy_bytes(v))
        with zf.open("decoder.out.W.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            chunk = bytes(2**20)
            for _ in range(n * 8 // len(chunk)):
                f.write(chunk)
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"decoder\.out\.W.*declares .* refused unread"):
            backend.load_checkpoint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # nothing near the 256 MiB the entry inflates to


def _npy_bytes(a):
    import io

    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


# the command line: (id, argv, exit status, text the one-line error contains)
CLI = [
    ("out-empty", ["--out", ""], 1, "--out"),
    ("seed-negative", ["--seed", "-1", "--out", "{tmp}"], 2, "--seed"),
    ("z-dim-huge", ["--z-dim", "100000000", "--out", "{tmp}"], 1, "memory"),
    ("z-dim-zero", ["--z-dim", "0", "--out", "{tmp}"], 2, "--z-dim"),
]


@pytest.mark.parametrize(("argv", "status", "text"),
                         [pytest.param(a, s, t, id=i) for i, a, s, t in CLI])
def test_cli_bad_input_is_one_line(argv, status, text, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", "digits", "--epochs", "1", "--backend", "numpy"] + [
        a.replace("{tmp}", str(out)) for a in argv
    ]
    if status == 2:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    else:
        assert main(argv) == status
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err
    assert not out.exists()  # nothing is created for a refused run
