"""vaelearn.data: the 8x8 digits, IDX/MNIST parsing, checksummed download, binarisation.

Oracles: scikit-learn's raw digits (integers 0..16), IDX headers written byte by byte with
``struct`` here (not with ``write_idx``), the MNIST label counts (tests/oracles.py), MD5 sums of
tiny files written here.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import oracles as O
import pytest

from vaelearn import data

REPO = Path(__file__).resolve().parents[1]
MNIST_ROOT = Path(os.environ.get("VAELEARN_MNIST_ROOT", REPO.parent / "shared" / "data" / "mnist"))
HAVE_MNIST = all((MNIST_ROOT / f).exists() for f, _ in data.MNIST_FILES.values())


# ------------------------------------------------------------------------------------------
# load_digits
# ------------------------------------------------------------------------------------------


def test_load_digits_shapes_dtypes_range():
    d = data.load_digits()
    assert d.x_train.shape == (1437, 64) and d.x_test.shape == (360, 64)
    assert d.y_train.shape == (1437,) and d.y_test.shape == (360,)
    assert d.x_train.dtype == np.float64 and d.y_train.dtype == np.int64
    for x in (d.x_train, d.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
        # the raw data are integers 0..16, so 16 x must be integral (exact in binary)
        assert np.array_equal(x * 16, np.round(x * 16))
    # unpacking order
    x_train, y_train, x_test, y_test = d
    assert x_train is d.x_train and y_test is d.y_test


def test_load_digits_is_a_partition_of_sklearns_digits():
    from sklearn.datasets import load_digits as sk

    raw = sk()
    d = data.load_digits()
    ours = np.concatenate([d.x_train, d.x_test]) * 16
    labels = np.concatenate([d.y_train, d.y_test])
    # same multiset of (image, label) rows as scikit-learn's: sort rows lexicographically
    a = np.column_stack([ours, labels])
    b = np.column_stack([raw.data, raw.target])
    assert np.array_equal(a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])])


def test_load_digits_deterministic_and_seeded():
    a, b = data.load_digits(), data.load_digits()
    for u, v in zip(a, b, strict=True):
        assert np.array_equal(u, v)
    c = data.load_digits(seed=1)
    assert not np.array_equal(a.y_test, c.y_test)
    e = data.load_digits(test_size=100)
    assert e.x_test.shape == (100, 64) and e.x_train.shape == (1697, 64)
    assert data.load_digits(dtype="float32").x_train.dtype == np.float32


@pytest.mark.parametrize("bad", [0, 1797, -3, 2.5, True])
def test_load_digits_rejects_bad_test_size(bad):
    with pytest.raises(ValueError, match="test_size"):
        data.load_digits(test_size=bad)


def test_load_digits_binarize_modes():
    grey = data.load_digits()
    t = data.load_digits(binarize="threshold")
    assert np.array_equal(t.x_train, (grey.x_train > 0.5).astype(float))
    s1, s2 = data.load_digits(binarize="static"), data.load_digits(binarize="static")
    assert set(np.unique(s1.x_train)) <= {0.0, 1.0}
    assert np.array_equal(s1.x_train, s2.x_train)  # static: the same draw every time
    dyn = data.load_digits(binarize="dynamic")
    assert np.array_equal(dyn.x_train, grey.x_train)  # training set stays grey
    assert set(np.unique(dyn.x_test)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="binarize"):
        data.load_digits(binarize="sometimes")


# ------------------------------------------------------------------------------------------
# binarisation
# ------------------------------------------------------------------------------------------


def test_binarize_is_bernoulli_with_mean_x():
    p = np.array([[0.0, 0.1, 0.5, 0.9, 1.0]])
    rng = np.random.default_rng(0)
    draws = np.stack([data.binarize(p, rng) for _ in range(20000)])
    assert set(np.unique(draws)) <= {0.0, 1.0}
    # mean of 20000 Bernoulli(p) draws: standard error sqrt(p(1-p)/20000) <= 0.0036; allow 5 SE
    se = np.sqrt(p * (1 - p) / 20000)
    assert np.all(np.abs(draws.mean(axis=0) - p) <= 5 * se + 1e-12)
    # p = 0 and p = 1 are deterministic
    assert np.all(draws[:, 0, 0] == 0) and np.all(draws[:, 0, 4] == 1)


def test_binarize_dynamic_draws_differ_static_seed_repeats():
    x = data.load_digits().x_train[:50]
    rng = np.random.default_rng(3)
    first, second = data.binarize(x, rng), data.binarize(x, rng)
    assert not np.array_equal(first, second)
    assert np.array_equal(
        data.binarize(x, np.random.default_rng(3)), data.binarize(x, np.random.default_rng(3))
    )


def test_binarize_and_threshold_reject_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="x must lie in"):
        data.binarize(np.array([0.5, 1.5]), rng)
    with pytest.raises(ValueError, match="NaN"):
        data.threshold(np.array([np.nan]))
    with pytest.raises(ValueError, match="rng"):
        data.binarize(np.array([0.5]), 0)
    with pytest.raises(ValueError, match="level"):
        data.threshold(np.array([0.5]), level=1.0)
    assert np.array_equal(data.threshold(np.array([0.2, 0.5, 0.7])), [0.0, 0.0, 1.0])


# ------------------------------------------------------------------------------------------
# IDX files: headers written by hand with struct
# ------------------------------------------------------------------------------------------


def _idx_bytes(magic: int, dims, payload: bytes) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def _write(path: Path, raw: bytes, compress=True) -> Path:
    path.write_bytes(gzip.compress(raw, mtime=0) if compress else raw)
    return path


def _tiny_images(n=5):
    # deterministic, distinct bytes: image k has pixel values (k * 7 + j) % 256
    return ((np.arange(n)[:, None, None] * 7 + np.arange(784).reshape(1, 28, 28)) % 256).astype(
        np.uint8
    )


def write_idx(path, array) -> Path:
    """Write ``array`` as an IDX file (gzip when ``path`` ends in ``.gz``): the inverse of
    ``data.read_idx``, for the round trip below (test-only, so it lives here)."""
    array = np.asarray(array)
    code = data._IDX_CODES[array.dtype.newbyteorder("=")]
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=data._IDX_TYPES[code]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def _write_tiny_mnist(root: Path, n_train=5, n_test=3) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        imgs = _tiny_images(n)
        labels = (np.arange(n) % 10).astype(np.uint8)
        img_name = data.MNIST_FILES[f"{split}_images"][0]
        lab_name = data.MNIST_FILES[f"{split}_labels"][0]
        out[f"{split}_images"] = _write(
            root / img_name, _idx_bytes(2051, (n, 28, 28), imgs.tobytes())
        )
        out[f"{split}_labels"] = _write(root / lab_name, _idx_bytes(2049, (n,), labels.tobytes()))
    return out


def test_read_idx_hand_written_headers(tmp_path):
    raw = _idx_bytes(0x00000803, (2, 2, 3), bytes(range(12)))
    arr = data.read_idx(_write(tmp_path / "a.gz", raw))
    assert arr.dtype == np.uint8 and arr.shape == (2, 2, 3)
    assert arr.ravel().tolist() == list(range(12))
    # plain (not gzipped) file, big-endian int32 with negative values
    vals = [-2, 70000, 5]
    raw = _idx_bytes(0x00000C01, (3,), struct.pack(">3i", *vals))
    arr = data.read_idx(_write(tmp_path / "b.idx", raw, compress=False))
    assert arr.tolist() == vals and arr.dtype == np.int32
    # float64
    raw = _idx_bytes(0x00000E02, (1, 2), struct.pack(">2d", 0.25, -1.5))
    assert data.read_idx(_write(tmp_path / "c.idx", raw, compress=False)).tolist() == [[0.25, -1.5]]


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_write_idx_read_idx_round_trip(tmp_path, dtype):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == "uint8":
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("r.idx", "r.idx.gz"):
        b = data.read_idx(write_idx(tmp_path / name, a))
        assert b.dtype == a.dtype and np.array_equal(a, b)


def test_load_mnist_tiny_files(tmp_path):
    _write_tiny_mnist(tmp_path)
    d = data.load_mnist(tmp_path, download=False, verify=False)
    assert d.x_train.shape == (5, 784) and d.x_test.shape == (3, 784)
    assert d.y_train.tolist() == [0, 1, 2, 3, 4] and d.y_test.dtype == np.int64
    assert np.allclose(d.x_train, _tiny_images(5).reshape(5, 784) / 255.0, rtol=0, atol=0)
    img = data.load_mnist(tmp_path, download=False, verify=False, flatten=False)
    assert img.x_test.shape == (3, 28, 28)
    assert data.load_mnist(tmp_path, download=False, verify=False, dtype="float32").x_train.dtype \
        == np.float32


@pytest.mark.mnist
@pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST files not in {MNIST_ROOT}")
def test_load_mnist_real_files():
    d = data.load_mnist(MNIST_ROOT, download=False)
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    # label counts of the official files (LeCun et al. 1998; tests/oracles.py)
    assert tuple(np.bincount(d.y_test)) == O.MNIST_TEST_LABEL_COUNTS
    assert tuple(np.bincount(d.y_train)) == O.MNIST_TRAIN_LABEL_COUNTS
    assert d.y_train[0] == 5 and d.y_test[0] == 7  # the famous first images


# ------------------------------------------------------------------------------------------
# corrupt files: each error names the file
# ------------------------------------------------------------------------------------------


def test_truncated_gzip_names_file(tmp_path):
    paths = _write_tiny_mnist(tmp_path)
    p = paths["test_images"]
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(data.DataFileError, match=str(p.name)) as info:
        data.load_mnist(tmp_path, download=False, verify=False)
    assert "gzip" in str(info.value)


def test_not_gzip_names_file(tmp_path):
    paths = _write_tiny_mnist(tmp_path)
    paths["train_labels"].write_bytes(b"this is not a gzip file at all")
    with pytest.raises(data.DataFileError, match="train-labels-idx1-ubyte.gz.*not a gzip"):
        data.load_mnist(tmp_path, download=False, verify=False)


def test_corrupt_gzip_body_names_file(tmp_path):
    paths = _write_tiny_mnist(tmp_path)
    p = paths["train_images"]
    raw = bytearray(p.read_bytes())
    for i in range(12, 40):  # scramble the deflate stream after the gzip header
        raw[i] ^= 0xA5
    p.write_bytes(bytes(raw))
    with pytest.raises(data.DataFileError, match="train-images-idx3-ubyte.gz"):
        data.load_mnist(tmp_path, download=False, verify=False)


def test_wrong_magic_names_file(tmp_path):
    _write_tiny_mnist(tmp_path)
    # a labels header (2049) in the images file
    p = tmp_path / data.MNIST_FILES["train_images"][0]
    _write(p, _idx_bytes(2049, (5,), bytes(5)))
    with pytest.raises(data.DataFileError, match=r"train-images-idx3-ubyte.gz.*magic.*2049"):
        data.load_mnist(tmp_path, download=False, verify=False)
    # garbage magic in a generic IDX file
    q = _write(tmp_path / "g.idx", b"\x01\x02\x03\x04" + bytes(8), compress=False)
    with pytest.raises(data.DataFileError, match=r"g\.idx.*magic"):
        data.read_idx(q)


def test_size_mismatch_names_file(tmp_path):
    _write_tiny_mnist(tmp_path)
    p = tmp_path / data.MNIST_FILES["test_images"][0]
    # header promises 3 images, data hold 2 and a half
    _write(p, _idx_bytes(2051, (3, 28, 28), bytes(784 * 2 + 392)))
    with pytest.raises(data.DataFileError, match=r"t10k-images-idx3-ubyte.gz.*truncated"):
        data.load_mnist(tmp_path, download=False, verify=False)
    _write(p, _idx_bytes(2051, (3, 28, 28), bytes(784 * 3 + 1)))
    with pytest.raises(data.DataFileError, match="trailing"):
        data.load_mnist(tmp_path, download=False, verify=False)
    # images and labels disagree in number
    _write(p, _idx_bytes(2051, (2, 28, 28), bytes(784 * 2)))
    with pytest.raises(data.DataFileError, match="2 images.*3 labels"):
        data.load_mnist(tmp_path, download=False, verify=False)


def test_bad_label_value_names_file(tmp_path):
    _write_tiny_mnist(tmp_path)
    p = tmp_path / data.MNIST_FILES["test_labels"][0]
    _write(p, _idx_bytes(2049, (3,), bytes([1, 2, 12])))
    with pytest.raises(data.DataFileError, match="t10k-labels.*12"):
        data.load_mnist(tmp_path, download=False, verify=False)


def test_checksum_mismatch_names_file(tmp_path):
    _write_tiny_mnist(tmp_path)  # not the originals, so their MD5s cannot match
    with pytest.raises(data.DataFileError, match=r"train-images-idx3-ubyte.gz: MD5 checksum"):
        data.load_mnist(tmp_path, download=False)


def test_missing_file_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        data.load_mnist(tmp_path, download=False)


# ------------------------------------------------------------------------------------------
# downloading (no network: pooch with a fake downloader serving local bytes)
# ------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_source(tmp_path, monkeypatch):
    """Tiny MNIST files in a 'server' folder, with MNIST_FILES pointing at their MD5s."""
    server = _write_tiny_mnist(tmp_path / "server")
    files = {
        part: (name, hashlib.md5(server[part].read_bytes()).hexdigest())
        for part, (name, _) in data.MNIST_FILES.items()
    }
    monkeypatch.setattr(data, "MNIST_FILES", files)
    return tmp_path / "server"


def _serving(server: Path, calls: list, corrupt: bool = False, fail_after: int | None = None):
    def downloader(url, output_file, pooch):
        calls.append(url)
        raw = (server / url.rsplit("/", 1)[1]).read_bytes()
        if corrupt:
            raw = raw[:-1] + bytes([raw[-1] ^ 1])
        with open(output_file, "wb") as f:
            if fail_after is not None:
                f.write(raw[:fail_after])
                raise ConnectionError("connection reset mid-download")
            f.write(raw)

    return downloader


def test_download_into_cache_then_never_again(tiny_source, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv(data.DATA_ENV, str(cache))
    calls = []
    d = data.load_mnist(mirrors=("https://mirror.test/mnist/",),
                        downloader=_serving(tiny_source, calls))
    assert len(calls) == 4 and all(c.startswith("https://mirror.test/mnist/") for c in calls)
    assert sorted(os.listdir(cache / "mnist")) == sorted(n for n, _ in data.MNIST_FILES.values())
    assert d.x_train.shape == (5, 784)

    def refuse(url, output_file, pooch):
        raise AssertionError(f"downloaded {url} although the file exists")

    data.load_mnist(mirrors=("https://mirror.test/mnist/",), downloader=refuse)
    data.load_mnist(cache / "mnist", download=False)


def test_mirror_fallback(tiny_source, tmp_path):
    calls = []
    ok = _serving(tiny_source, calls)

    def flaky(url, output_file, pooch):
        if url.startswith("https://down.test"):
            calls.append(url)
            raise ConnectionError("mirror down")
        ok(url, output_file, pooch)

    root = tmp_path / "root"
    data.fetch_mnist(root, mirrors=("https://down.test/", "https://up.test/"), downloader=flaky)
    assert len([c for c in calls if c.startswith("https://up.test")]) == 4


@pytest.mark.parametrize("mode", ["checksum", "interrupted"])
def test_failed_download_leaves_nothing(tiny_source, tmp_path, mode):
    root = tmp_path / "root"
    calls = []
    downloader = (
        _serving(tiny_source, calls, corrupt=True)
        if mode == "checksum"
        else _serving(tiny_source, calls, fail_after=10)
    )
    with pytest.raises(OSError, match="train-images-idx3-ubyte.gz") as info:
        data.load_mnist(root, mirrors=("https://a.test/", "https://b.test/"),
                        downloader=downloader)
    msg = str(info.value)
    assert "https://a.test/" in msg and "https://b.test/" in msg
    if mode == "checksum":
        assert "hash" in msg.lower()
    assert len(calls) == 2  # each mirror tried once
    assert list(root.iterdir()) == []  # no partial or temporary file left behind


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.mnist_cache_dir() == tmp_path / "mnist"
    monkeypatch.delenv(data.DATA_ENV)
    assert data.mnist_cache_dir().name == "mnist"
