"""Data for the lessons: the embedded 8x8 digits and MNIST from its original files.

* :func:`load_digits` -- scikit-learn's bundled 8x8 handwritten digits (1797 images), scaled to
  ``[0, 1]`` and split deterministically into 1437 training and 360 test images. It ships with
  scikit-learn, so every lesson runs offline; it is the default data set of the book.
* :func:`load_mnist` -- the 28x28 MNIST digits of LeCun et al. (1998) {cite}`lecun1998`, read from
  the four original IDX files (gzip). They are downloaded once with :mod:`pooch` into a cache
  directory and checked against their MD5 checksums; when the files are already in ``root``
  nothing is downloaded.
* :func:`binarize` / :func:`threshold` -- Bernoulli decoders model pixels in ``{0, 1}``. *Static*
  binarisation fixes one binary image per example (a threshold, or one seeded sample);
  *dynamic* binarisation draws a fresh ``x_bin ~ Bernoulli(x)`` every epoch.

Every array is a NumPy array; images are flattened to ``(n, x_dim)`` rows unless said otherwise.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "Dataset",
    "DataFileError",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "binarize",
    "threshold",
    "load_digits",
    "load_mnist",
    "fetch_mnist",
    "mnist_cache_dir",
    "read_idx",
]

DATA_ENV = "VAELEARN_DATA"
"""Environment variable naming the cache directory for downloaded data."""

BINARIZE_MODES = (None, "threshold", "static", "dynamic")


class Dataset(NamedTuple):
    """A train/test split; unpacks as ``x_train, y_train, x_test, y_test = data``.

    Attributes
    ----------
    x_train : ndarray, shape (n_train, x_dim)
        Training inputs (float, in ``[0, 1]`` for images).
    y_train : ndarray of int64, shape (n_train,)
        Training labels (the digit, 0-9, for image sets).
    x_test : ndarray, shape (n_test, x_dim)
    y_test : ndarray of int64, shape (n_test,)
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class DataFileError(ValueError):
    """A data file is corrupt, truncated, of the wrong kind, or fails its checksum.

    The message always names the file.
    """


# --------------------------------------------------------------------------------------------
# Randomness and binarisation
# --------------------------------------------------------------------------------------------


def _as_rng(seed: int | np.random.Generator, name: str = "seed") -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(
            f"argument {name!r} must be an int >= 0 or a numpy.random.Generator, got {seed!r}"
        )
    return np.random.default_rng(int(seed))


def _check_unit_interval(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise ValueError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"{name} must lie in [0, 1] (pixel intensities); got range "
            f"[{x.min():.4g}, {x.max():.4g}]"
        )
    return x


def binarize(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw binary images ``x_bin ~ Bernoulli(x)``, one independent draw per pixel.

    ``x_bin[i, j] = 1`` with probability ``x[i, j]``. Called once with a fixed seed this is
    *static* binarisation; called again every epoch (a fresh draw from the same generator) it is
    *dynamic* binarisation, which acts as data augmentation for a Bernoulli decoder.

    Parameters
    ----------
    x : ndarray, shape (n, x_dim) (any shape works)
        Pixel intensities in ``[0, 1]``.
    rng : numpy.random.Generator
        The source of randomness.

    Returns
    -------
    ndarray, same shape and float dtype as ``x`` (float64 for integer input)
        Zeros and ones.
    """
    x = _check_unit_interval(x, "x")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return (rng.random(x.shape) < x).astype(dtype)


def threshold(x: np.ndarray, level: float = 0.5) -> np.ndarray:
    """Binary images by thresholding: ``x_bin = 1[x > level]``.

    Parameters
    ----------
    x : ndarray
        Pixel intensities in ``[0, 1]``.
    level : float, default 0.5
        Threshold, strictly between 0 and 1.

    Returns
    -------
    ndarray, same shape and float dtype as ``x`` (float64 for integer input)
    """
    x = _check_unit_interval(x, "x")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return (x > level).astype(dtype)


def _apply_binarize(data: Dataset, mode: str | None, seed: int) -> Dataset:
    if mode not in BINARIZE_MODES:
        raise ValueError(
            f"binarize must be one of None, 'threshold', 'static', 'dynamic'; got {mode!r}"
        )
    if mode is None:
        return data
    if mode == "threshold":
        return data._replace(x_train=threshold(data.x_train), x_test=threshold(data.x_test))
    rng = np.random.default_rng(seed)
    x_test = binarize(data.x_test, rng)
    if mode == "static":
        return data._replace(x_train=binarize(data.x_train, rng), x_test=x_test)
    # dynamic: the training images stay grey; the caller draws binarize(x_batch, rng) per epoch.
    return data._replace(x_test=x_test)


_BINARIZE_DOC = """binarize : {None, "threshold", "static", "dynamic"}, default None
        ``None`` keeps grey levels in ``[0, 1]``. ``"threshold"``: ``x > 0.5``. ``"static"``: one
        seeded draw ``x_bin ~ Bernoulli(x)`` for train and test. ``"dynamic"``: the test set gets
        one seeded draw, the training set stays grey so that the training loop can draw
        :func:`binarize` afresh every epoch."""


# --------------------------------------------------------------------------------------------
# 8x8 digits (scikit-learn)
# --------------------------------------------------------------------------------------------


def load_digits(
    *, test_size: int = 360, seed: int = 0, binarize: str | None = None, dtype: str = "float64"
) -> Dataset:
    """Scikit-learn's 8x8 handwritten digits, scaled to ``[0, 1]``, split into train and test.

    ``x = pixel / 16`` (the 1797 images have integer pixels 0..16). The split is a seeded
    permutation: ``test_size`` images form the test set and the rest the training set, each kept
    in the original order. The default gives 1437 training and 360 test images, the same on every
    machine. The data ship inside scikit-learn, so nothing is downloaded. Used from lesson 01 on.

    Parameters
    ----------
    test_size : int, default 360
        Number of test images, ``0 < test_size < 1797``.
    seed : int, default 0
        Seed of the split (and of a ``"static"``/``"dynamic"`` binarisation).
    {binarize}
    dtype : {{"float64", "float32"}}, default "float64"

    Returns
    -------
    Dataset
        ``x_train`` (1797 - test_size, 64), ``y_train`` (1797 - test_size,), ``x_test``
        (test_size, 64), ``y_test`` (test_size,); labels are int64 digits 0-9.
    """
    x, y = _raw_digits()
    n = x.shape[0]
    if isinstance(test_size, bool) or not isinstance(test_size, int | np.integer):
        raise ValueError(f"test_size must be an int, got {test_size!r}")
    if not 0 < test_size < n:
        raise ValueError(f"test_size must satisfy 0 < test_size < {n}, got {test_size}")
    perm = _as_rng(seed).permutation(n)
    test_idx = np.sort(perm[:test_size])
    train_idx = np.sort(perm[test_size:])
    data = Dataset(x[train_idx], y[train_idx], x[test_idx], y[test_idx])
    data = _apply_binarize(data, binarize, seed)
    return _cast(data, dtype)


load_digits.__doc__ = load_digits.__doc__.replace("{binarize}", _BINARIZE_DOC).replace(
    "{{", "{"
).replace("}}", "}")


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits, ``x = pixel / 16`` (read-only, cached: scikit-learn imports slowly)."""
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def _cast(data: Dataset, dtype: str) -> Dataset:
    if str(dtype) not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    return data._replace(
        x_train=data.x_train.astype(dtype, copy=False), x_test=data.x_test.astype(dtype, copy=False)
    )


# --------------------------------------------------------------------------------------------
# IDX files (the MNIST format)
# --------------------------------------------------------------------------------------------

# IDX: magic = 0x00 0x00 <type code> <ndim>, then ndim big-endian uint32 sizes, then the data.
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_TYPES.items()}


def _read_bytes(path: Path) -> bytes:
    """The (decompressed) content of ``path``; gzip is detected from the file's first bytes."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"no such data file: {path}") from None
    if raw[:2] != b"\x1f\x8b":
        if path.suffix == ".gz":
            raise DataFileError(f"{path}: not a gzip file (it does not start with 1f 8b)")
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataFileError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (plain or gzip), the format MNIST is distributed in.

    The file starts with a 4-byte magic number ``00 00 TT DD`` (``TT`` the element type, e.g.
    ``08`` for unsigned bytes; ``DD`` the number of dimensions), then ``DD`` big-endian uint32
    sizes, then the elements in C order. MNIST's images have magic 2051 (``00 00 08 03``) and its
    labels 2049 (``00 00 08 01``).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    ndarray
        Shape given by the header, native byte order.

    Raises
    ------
    DataFileError
        Corrupt or truncated gzip data, a bad magic number, or a data size that does not match
        the header; the message names the file.
    """
    path = Path(path)
    return _parse_idx(_read_bytes(path), path)


def _parse_idx(buf: bytes, path: Path) -> np.ndarray:
    if len(buf) < 4:
        raise DataFileError(f"{path}: too short for an IDX header ({len(buf)} bytes)")
    zero, code, ndim = buf[:2], buf[2], buf[3]
    magic = int.from_bytes(buf[:4], "big")
    if zero != b"\x00\x00" or code not in _IDX_TYPES or ndim == 0:
        raise DataFileError(
            f"{path}: bad IDX magic number {magic} (0x{magic:08x}); expected 00 00 <type> <ndim>, "
            "e.g. 2051 for images or 2049 for labels"
        )
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataFileError(f"{path}: truncated IDX header ({len(buf)} of {header} bytes)")
    shape = tuple(int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(buf) - header
    if found != expected:
        kind = "truncated" if found < expected else "has trailing bytes"
        raise DataFileError(
            f"{path}: IDX data {kind}: header says shape {shape} ({expected} bytes of data), "
            f"file holds {found} bytes"
        )
    arr = np.frombuffer(buf, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


# --------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------

MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}
"""part -> (file name, MD5 of the original gzip file)."""

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
"""Base URLs tried in order; each serves the four original files under their original names."""


MNIST_ROOT_ENV = "VAELEARN_MNIST_ROOT"
"""Environment variable naming a folder that holds the MNIST files."""


def mnist_root(root: str | os.PathLike | None = None, *, search_shared: bool = False) -> Path:
    """Where MNIST lives: the one place every command asks.

    In order: ``root`` if given; else ``$VAELEARN_MNIST_ROOT``; else (with ``search_shared``) a
    ``shared/data/mnist`` folder next to the working directory or to this checkout that holds
    the test images; else :func:`mnist_cache_dir` (where :func:`load_mnist` downloads them).

    Parameters
    ----------
    root : path-like, optional
    search_shared : bool, default False
        Also look in ``../shared/data/mnist`` (``vaelearn bench`` does, to find a copy shared by
        several checkouts without downloading).

    Returns
    -------
    pathlib.Path
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(MNIST_ROOT_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    if search_shared:
        for base in (Path.cwd().parent, Path(__file__).resolve().parents[1].parent):
            folder = base / "shared" / "data" / "mnist"
            if (folder / MNIST_FILES["test_images"][0]).exists():
                return folder
    return mnist_cache_dir()


def mnist_cache_dir() -> Path:
    """Where downloaded MNIST files live: ``$VAELEARN_DATA/mnist`` or the platform's user cache.

    Returns
    -------
    pathlib.Path
        E.g. ``~/.cache/vaelearn/mnist`` on Linux.
    """
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser() / "mnist"
    import pooch

    return Path(pooch.os_cache("vaelearn")) / "mnist"


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, md5: str) -> None:
    got = _md5(path)
    if got != md5:
        raise DataFileError(
            f"{path}: MD5 checksum mismatch (expected {md5}, got {got}); the file is corrupt or "
            "not the original; delete it to download it again"
        )


def fetch_mnist(
    root: str | os.PathLike | None = None,
    download: bool = True,
    *,
    verify: bool = True,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    downloader: Callable | None = None,
) -> dict[str, Path]:
    """Make sure the four MNIST files are in ``root`` (downloading what is missing); return paths.

    A file already in ``root`` is never downloaded again (with ``verify`` its MD5 is checked).
    A missing file is fetched with :func:`pooch.retrieve`, which streams it into a temporary file
    in ``root``, checks the MD5 and only then renames it, so a failed or corrupt download leaves
    nothing behind. The mirrors are tried in order.

    Parameters
    ----------
    root : path-like, optional
        Directory holding (or to hold) the files. ``None`` means :func:`mnist_cache_dir`.
    download : bool, default True
        If False, a missing file raises :class:`FileNotFoundError`.
    verify : bool, default True
        Check the MD5 of files already present (downloads are always checked).
    mirrors : sequence of str
        Base URLs, each ending in ``/``.
    downloader : callable, optional
        A pooch downloader ``downloader(url, output_file, pooch)``; default chooses by protocol.

    Returns
    -------
    dict
        ``{"train_images": Path, "train_labels": ..., "test_images": ..., "test_labels": ...}``.

    Raises
    ------
    DataFileError
        A present file fails its checksum.
    OSError
        Every mirror failed for a missing file (the message names the file and each error).
    """
    root = mnist_cache_dir() if root is None else Path(root).expanduser()
    paths = {}
    for part, (fname, md5) in MNIST_FILES.items():
        path = root / fname
        if path.exists():
            if verify:
                _verify(path, md5)
        elif not download:
            raise FileNotFoundError(
                f"MNIST file {path} is missing and download=False; put the original "
                f"{fname} there or call with download=True"
            )
        else:
            _download(path, md5, mirrors, downloader)
        paths[part] = path
    return paths


def _download(path: Path, md5: str, mirrors: Sequence[str], downloader: Callable | None) -> None:
    import pooch

    if not mirrors:
        raise ValueError("mirrors must name at least one base URL")
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + path.name
        try:
            pooch.retrieve(
                url,
                known_hash=f"md5:{md5}",
                fname=path.name,
                path=path.parent,
                downloader=downloader,
                progressbar=False,
            )
            return
        except Exception as exc:  # noqa: BLE001 - any failure: try the next mirror
            errors.append(f"  {url}: {type(exc).__name__}: {exc}")
    raise OSError(
        f"could not download MNIST file {path.name} into {path.parent}; tried:\n"
        + "\n".join(errors)
        + "\nPut the original file there by hand to use load_mnist offline."
    )


def load_mnist(
    root: str | os.PathLike | None = None,
    download: bool = True,
    *,
    binarize: str | None = None,
    seed: int = 0,
    flatten: bool = True,
    dtype: str = "float64",
    verify: bool = True,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    downloader: Callable | None = None,
) -> Dataset:
    """MNIST (60,000 training and 10,000 test 28x28 digits), from the original IDX files.

    Pixels are scaled to ``[0, 1]`` (``x = byte / 255``). The files are found (or downloaded, see
    :func:`fetch_mnist`) in ``root``; each is checked: MD5 checksum, gzip integrity, IDX magic
    number (2051 images, 2049 labels), and sizes (header vs data, images vs labels).

    Parameters
    ----------
    root : path-like, optional
        Directory with the four ``*-ubyte.gz`` files. ``None`` means :func:`mnist_cache_dir`.
    download : bool, default True
        Download missing files (never needed when they are in ``root``).
    {binarize}
    seed : int, default 0
        Seed of a ``"static"``/``"dynamic"`` binarisation.
    flatten : bool, default True
        Images as rows ``(n, 784)``; ``False`` keeps ``(n, 28, 28)``.
    dtype : {{"float64", "float32"}}, default "float64"
    verify : bool, default True
        Check MD5 checksums of the files found in ``root``. Set False only for files that are
        not the originals (e.g. a tiny test file).
    mirrors, downloader
        See :func:`fetch_mnist`.

    Returns
    -------
    Dataset
        ``x_train`` (60000, 784), ``y_train`` (60000,), ``x_test`` (10000, 784), ``y_test``
        (10000,); labels int64.

    Raises
    ------
    DataFileError
        A file is corrupt, truncated, has the wrong magic number or sizes, or fails its checksum.
    """
    paths = fetch_mnist(root, download, verify=verify, mirrors=mirrors, downloader=downloader)
    parts = {}
    for split in ("train", "test"):
        img_path, lab_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        images = _read_mnist_part(img_path, ndim=3, magic=2051)
        labels = _read_mnist_part(lab_path, ndim=1, magic=2049)
        if images.shape[0] != labels.shape[0]:
            raise DataFileError(
                f"{img_path} holds {images.shape[0]} images but {lab_path} holds "
                f"{labels.shape[0]} labels"
            )
        if labels.size and labels.max() > 9:
            raise DataFileError(f"{lab_path}: label {int(labels.max())} is not a digit 0-9")
        x = images.astype(dtype if str(dtype) in ("float32", "float64") else np.float64) / 255.0
        if flatten:
            x = x.reshape(x.shape[0], -1)
        parts[split] = (x, labels.astype(np.int64))
    data = Dataset(*parts["train"], *parts["test"])
    data = _apply_binarize(data, binarize, seed)
    return _cast(data, dtype)


load_mnist.__doc__ = load_mnist.__doc__.replace("{binarize}", _BINARIZE_DOC).replace(
    "{{", "{"
).replace("}}", "}")


def _read_mnist_part(path: Path, *, ndim: int, magic: int) -> np.ndarray:
    buf = _read_bytes(path)
    got = int.from_bytes(buf[:4], "big") if len(buf) >= 4 else None
    if got != magic:
        shown = "none (file too short)" if got is None else f"{got} (0x{got:08x})"
        raise DataFileError(
            f"{path}: wrong magic number {shown}; expected {magic} (0x{magic:08x}, "
            f"{'images' if magic == 2051 else 'labels'} of unsigned bytes, {ndim}-D)"
        )
    return _parse_idx(buf, path)


# --------------------------------------------------------------------------------------------
# Images with known generative factors (disentanglement, lesson 08)
# --------------------------------------------------------------------------------------------

FACTOR_NAMES = ("x-position", "y-position", "width")
"""The columns of the factor array :func:`factor_images` returns, in order."""

__all__ += ["FACTOR_NAMES", "factor_images"]


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return int(n)


def factor_images(
    n: int = 1000,
    *,
    size: int = 8,
    positions: int = 6,
    widths: Sequence[float] = (0.6, 1.0),
    seed: int | np.random.Generator = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pictures of a Gaussian blob whose generative factors are known: position and width.

    Each image is a ``size x size`` picture of one blob,
    ``x[i, j] = exp(-((j - c_x)^2 + (i - c_y)^2) / (2 w^2))`` (row ``i``, column ``j``, pixel
    values in ``(0, 1]``), with three factors drawn independently and uniformly from finite sets:
    the centre's column ``c_x`` and row ``c_y``, each one of ``positions`` evenly spaced values in
    ``[1, size - 2]`` (the blob stays inside the picture), and the width ``w``, one of
    ``widths``. Knowing the factors that made every image is what a disentanglement measure needs
    (Higgins et al. 2017 and Chen et al. 2018 use dSprites, a larger set of the same kind); the
    factors are discrete, as there, so that their entropy and mutual information are plain sums.

    Parameters
    ----------
    n : int, default 1000
        Number of images.
    size : int, default 8
        Side of the picture in pixels, >= 4 (``size=8`` matches the 8x8 digits: 64 pixels).
    positions : int, default 6
        Number of distinct centre positions along each axis, >= 2.
    widths : sequence of float, default (0.6, 1.0)
        The distinct blob widths (standard deviations, in pixels), each finite and > 0, no
        repeats; a single width removes the third factor's variation.
    seed : int or numpy.random.Generator, default 0
        The only source of randomness.

    Returns
    -------
    x : ndarray, shape (n, size * size)
        Flattened images, row-major (``x.reshape(n, size, size)[k, i, j]``), float64 in ``(0, 1]``.
    factors : ndarray, shape (n, 3)
        ``(c_x, c_y, w)`` of every image, in pixels (:data:`FACTOR_NAMES`).

    Raises
    ------
    ValueError
        If an argument is out of range; the message names it.

    Notes
    -----
    Lesson 08 trains β-VAEs on these images and measures the mutual information gap
    (:func:`vaelearn.disentanglement.mig`).
    """
    n = _check_n(n)
    for name, value, least in (("size", size, 4), ("positions", positions, 2)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise ValueError(f"argument {name!r} must be an int >= {least}, got {value!r}")
    try:
        width_values = np.asarray(widths, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"argument 'widths' must be numbers, got {widths!r}") from None
    if (
        width_values.size == 0
        or not np.all(np.isfinite(width_values))
        or np.any(width_values <= 0)
        or np.unique(width_values).size != width_values.size
    ):
        raise ValueError(
            f"argument 'widths' must be distinct finite numbers > 0, at least one, got {widths!r}"
        )
    rng = _as_rng(seed)
    centres = np.linspace(1.0, size - 2.0, int(positions))
    factors = np.column_stack(
        [
            centres[rng.integers(0, positions, size=n)],
            centres[rng.integers(0, positions, size=n)],
            width_values[rng.integers(0, width_values.size, size=n)],
        ]
    )
    grid = np.arange(size, dtype=np.float64)
    dx2 = (grid[None, None, :] - factors[:, 0, None, None]) ** 2  # (n, 1, size): columns
    dy2 = (grid[None, :, None] - factors[:, 1, None, None]) ** 2  # (n, size, 1): rows
    x = np.exp(-(dx2 + dy2) / (2.0 * factors[:, 2, None, None] ** 2))
    return x.reshape(n, size * size), factors
