"""Measuring holes in a latent space (lesson 03).

A plain autoencoder maps the training digits to codes, but nothing makes the rest of the latent
space decode to anything sensible. Lesson 03 makes "holes" numbers, measured on a set of sampled
latent points ``z``:

* **Distance to the nearest training code**, divided by the typical spacing of the training codes
  (the median distance from a code to its nearest other code), so the number means the same for
  an autoencoder's arbitrary scale and a VAE's unit-variance prior. Far from every code the
  decoder was never trained: that is a hole.
* **What a classifier makes of the decoded samples.** A multinomial logistic regression trained on
  real digits (:class:`SoftmaxRegression`, NumPy with a hand-written gradient) labels each decoded
  sample. Two numbers: its confidence (largest class probability), and how far the decoded
  samples' class frequencies are from the training labels' (total variation): holes decode to a
  few repeated shapes.

Samples come from the codes' bounding box (:func:`uniform_box_samples`, what one would do with an
autoencoder) or from the prior ``N(0, I)`` (what a VAE is trained for). :func:`measure_holes`
puts it together and :func:`hole_map` maps a 2-D latent space.

A second, **decoder-side** view follows Li, Peng and Lin (2021, arXiv 2110.03318), whose
Tree-based Decoder-Centric (TDC) algorithm looks for holes where the *decoder*, not the encoder,
misbehaves: a hole is a discontinuity, a place where a small step in ``z`` changes the decoded
distribution abruptly. :func:`decoder_holes` and :func:`hole_tree_search` are this package's
small-scale version of that idea (our choices of divergence, step and threshold, not the paper's
exact algorithm): the Jensen-Shannon divergence between the decoded Bernoulli distributions at
``z`` and ``z + step * u`` (:func:`bernoulli_js`), a step counted as a jump when it exceeds Tukey's
upper fence (:func:`tukey_upper_fence`) of the same quantity at the training codes, and a
breadth-first tree of such steps grown from the codes that stops expanding where it finds a jump.

Everything is NumPy float64; a model enters only through a ``decode`` callable that takes and
returns NumPy arrays (both backends' ``model.decode`` do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

__all__ = [
    "SoftmaxRegression",
    "train_digit_classifier",
    "nearest_code_distance",
    "code_spacing",
    "uniform_box_samples",
    "class_frequencies",
    "total_variation",
    "HoleReport",
    "measure_holes",
    "HoleMap",
    "hole_map",
    "bernoulli_js",
    "tukey_upper_fence",
    "decoder_jump",
    "DecoderHoleReport",
    "decoder_holes",
    "HoleTree",
    "hole_tree_search",
]


def _matrix(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"argument {name!r} must be a 2-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"argument {name!r} contains NaN or infinite values")
    return arr


def _labels(name: str, value, n: int, n_classes: int) -> np.ndarray:
    y = np.asarray(value)
    if y.shape != (n,):
        raise ValueError(f"argument {name!r} must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"argument {name!r} must hold integer class labels")
        y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"argument {name!r} must hold labels in 0..{n_classes - 1}, "
            f"got {int(y.min())}..{int(y.max())}"
        )
    return y


# --- the classifier -------------------------------------------------------------------------------


class SoftmaxRegression:
    """Multinomial logistic regression ``p(y = c | x) = softmax(x W + b)_c``.

    Trained by minimising the mean cross-entropy plus an L2 penalty on ``W``,

    ``J(W, b) = -(1/n) sum_i log softmax(x_i W + b)_{y_i} + (l2 / 2) ||W||_F^2``,

    whose gradient is ``dJ/dW = x^T (P - Y) / n + l2 W`` and ``dJ/db = mean(P - Y)`` with ``P``
    the predicted probabilities and ``Y`` the one-hot labels (:meth:`loss_and_grads`). The problem
    is strictly convex for ``l2 > 0``, so the optimum is unique: :meth:`fit` finds it with
    L-BFGS on this hand-written gradient. Lesson 03 uses it to score decoded latent samples.

    Parameters
    ----------
    x_dim : int
        Input size (64 for 8x8 digits).
    n_classes : int
        Number of classes (10 digits).
    l2 : float
        Penalty on ``W`` (not on ``b``), ``> 0``.

    Attributes
    ----------
    params : dict
        ``{"W": (x_dim, n_classes), "b": (n_classes,)}``, zeros before :meth:`fit`.
    """

    def __init__(self, x_dim: int = 64, n_classes: int = 10, *, l2: float = 1e-4):
        for name, v in (("x_dim", x_dim), ("n_classes", n_classes)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"argument {name!r} must be a positive integer, got {v!r}")
        if n_classes < 2:
            raise ValueError(f"argument 'n_classes' must be at least 2, got {n_classes}")
        l2 = float(l2)
        if not np.isfinite(l2) or l2 <= 0:
            raise ValueError(f"argument 'l2' must be positive, got {l2!r}")
        self.x_dim, self.n_classes, self.l2 = int(x_dim), int(n_classes), l2
        self.params = {"W": np.zeros((self.x_dim, self.n_classes)), "b": np.zeros(self.n_classes)}

    def _x(self, x) -> np.ndarray:
        x = _matrix("x", x)
        if x.shape[1] != self.x_dim:
            raise ValueError(f"argument 'x' must have {self.x_dim} columns, got shape {x.shape}")
        return x

    def logits(self, x) -> np.ndarray:
        """``x @ W + b``, shape ``(n, n_classes)``."""
        return self._x(x) @ self.params["W"] + self.params["b"]

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities ``softmax(x W + b)``, shape ``(n, n_classes)``, rows sum to 1."""
        return special.softmax(self.logits(x), axis=1)

    def predict(self, x) -> np.ndarray:
        """Most probable class, shape ``(n,)``."""
        return np.argmax(self.logits(x), axis=1)

    def confidence(self, x) -> np.ndarray:
        """Largest class probability ``max_c p(c | x)``, shape ``(n,)``, in ``[1/n_classes, 1]``."""
        return self.predict_proba(x).max(axis=1)

    def accuracy(self, x, y) -> float:
        """Fraction of examples whose predicted class is ``y``."""
        x = self._x(x)
        y = _labels("y", y, x.shape[0], self.n_classes)
        return float(np.mean(self.predict(x) == y))

    def loss_and_grads(self, x, y) -> tuple[float, dict[str, np.ndarray]]:
        """Objective ``J`` (nats per example, plus the penalty) and its gradient.

        Parameters
        ----------
        x : array_like, shape (n, x_dim)
        y : array_like of int, shape (n,)

        Returns
        -------
        loss : float
        grads : dict
            ``{"W": (x_dim, n_classes), "b": (n_classes,)}``, the keys of ``params``.
        """
        x = self._x(x)
        n = x.shape[0]
        y = _labels("y", y, n, self.n_classes)
        w, b = self.params["W"], self.params["b"]
        logits = x @ w + b
        log_p = logits - special.logsumexp(logits, axis=1, keepdims=True)
        loss = -np.mean(log_p[np.arange(n), y]) + 0.5 * self.l2 * np.sum(w**2)
        delta = np.exp(log_p)  # P - Y, built in place
        delta[np.arange(n), y] -= 1.0
        grads = {"W": x.T @ delta / n + self.l2 * w, "b": delta.mean(axis=0)}
        return float(loss), grads

    def fit(self, x, y, *, max_iter: int = 1000, tol: float = 1e-10) -> SoftmaxRegression:
        """Minimise ``J`` with L-BFGS (scipy) on :meth:`loss_and_grads`; returns ``self``.

        Raises
        ------
        ValueError
            On bad input, or if L-BFGS stops without converging.
        """
        x = self._x(x)
        y = _labels("y", y, x.shape[0], self.n_classes)
        shape_w = self.params["W"].shape

        def fun(theta):
            self.params = {"W": theta[: -self.n_classes].reshape(shape_w),
                           "b": theta[-self.n_classes :]}
            loss, g = self.loss_and_grads(x, y)
            return loss, np.concatenate([g["W"].ravel(), g["b"]])

        theta0 = np.concatenate([self.params["W"].ravel(), self.params["b"]])
        res = optimize.minimize(fun, theta0, jac=True, method="L-BFGS-B",
                                options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-15})
        if not res.success and res.nit >= max_iter:
            raise ValueError(f"SoftmaxRegression.fit did not converge in max_iter={max_iter}")
        fun(res.x)
        return self


def train_digit_classifier(x_train, y_train, *, l2: float = 1e-4) -> SoftmaxRegression:
    """A :class:`SoftmaxRegression` fitted to real digits: the judge of decoded samples.

    Parameters
    ----------
    x_train : array_like, shape (n, x_dim)
        Images in ``[0, 1]``.
    y_train : array_like of int, shape (n,)
        Labels ``0..9``.
    """
    x_train = _matrix("x_train", x_train)
    y = np.asarray(y_train)
    n_classes = max(10, int(np.max(y)) + 1) if y.size else 10
    return SoftmaxRegression(x_train.shape[1], n_classes, l2=l2).fit(x_train, y_train)


# --- distances in latent space --------------------------------------------------------------------


def nearest_code_distance(z, codes, *, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance from each ``z_i`` to its nearest training code, and that code's index.

    Parameters
    ----------
    z : array_like, shape (n, z_dim)
    codes : array_like, shape (m, z_dim)

    Returns
    -------
    distance : ndarray, shape (n,)
    index : ndarray of int, shape (n,)
    """
    z = _matrix("z", z)
    codes = _matrix("codes", codes)
    if z.shape[1] != codes.shape[1]:
        raise ValueError(
            f"arguments 'z' and 'codes' must have the same z_dim, got {z.shape} and {codes.shape}"
        )
    if codes.shape[0] == 0:
        raise ValueError("argument 'codes' is empty")
    dist = np.empty(z.shape[0])
    idx = np.empty(z.shape[0], dtype=np.int64)
    for start in range(0, z.shape[0], chunk):
        d2 = np.sum((z[start : start + chunk, None, :] - codes[None, :, :]) ** 2, axis=2)
        j = np.argmin(d2, axis=1)
        idx[start : start + chunk] = j
        dist[start : start + chunk] = np.sqrt(d2[np.arange(j.size), j])
    return dist, idx


def code_spacing(codes) -> float:
    """Median distance from a training code to its nearest *other* code.

    The typical gap between neighbouring codes: dividing distances by it makes them comparable
    between latent spaces of different scale.
    """
    codes = _matrix("codes", codes)
    if codes.shape[0] < 2:
        raise ValueError("argument 'codes' needs at least 2 codes")
    d2 = np.sum((codes[:, None, :] - codes[None, :, :]) ** 2, axis=2)
    np.fill_diagonal(d2, np.inf)
    return float(np.median(np.sqrt(d2.min(axis=1))))


def uniform_box_samples(codes, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points drawn uniformly from the axis-aligned bounding box of ``codes``.

    Returns
    -------
    ndarray, shape (n, z_dim)
    """
    codes = _matrix("codes", codes)
    if codes.shape[0] == 0:
        raise ValueError("argument 'codes' is empty")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"argument 'n' must be a positive integer, got {n!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("argument 'rng' must be a numpy.random.Generator")
    lo, hi = codes.min(axis=0), codes.max(axis=0)
    return lo + (hi - lo) * rng.random((int(n), codes.shape[1]))


# --- the hole measure -----------------------------------------------------------------------------


def class_frequencies(labels, n_classes: int = 10) -> np.ndarray:
    """Fraction of each class among ``labels``, shape ``(n_classes,)``, sums to 1."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"argument 'labels' must be a 1-D array, got shape {y.shape}")
    y = _labels("labels", y, y.shape[0], n_classes)
    if y.size == 0:
        raise ValueError("argument 'labels' is empty")
    return np.bincount(y, minlength=n_classes) / y.size


def total_variation(p, q) -> float:
    """Total variation distance ``(1/2) sum_c |p_c - q_c|`` between two distributions, in [0, 1]."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    for name, v in (("p", p), ("q", q)):
        if v.ndim != 1 or not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(f"argument {name!r} must be a 1-D array of non-negative numbers")
        if abs(v.sum() - 1.0) > 1e-9:
            raise ValueError(f"argument {name!r} must sum to 1, got {v.sum()!r}")
    if p.shape != q.shape:
        raise ValueError(f"arguments 'p' and 'q' differ in shape: {p.shape} and {q.shape}")
    return float(0.5 * np.abs(p - q).sum())


@dataclass(frozen=True)
class HoleReport:
    """Hole measurements for latent samples ``z`` (see :func:`measure_holes`).

    Attributes
    ----------
    z : ndarray
        The sampled latent points, shape ``(n, z_dim)``.
    distance : ndarray
        Distance from each ``z`` to the nearest training code, in units of ``spacing``, shape
        ``(n,)``.
    spacing : float
        :func:`code_spacing` of the training codes.
    confidence : ndarray
        The classifier's largest class probability for each decoded sample, shape ``(n,)``.
    predicted : ndarray
        The classifier's class (int) for each decoded sample, shape ``(n,)``.
    reference_frequencies : ndarray
        Class frequencies of the training labels, shape ``(n_classes,)``: what the decoded
        samples' classes should match.
    far_threshold : float
        A sample farther than this many code spacings from every training code lies in a hole.
    """

    z: np.ndarray
    distance: np.ndarray
    spacing: float
    confidence: np.ndarray
    predicted: np.ndarray
    reference_frequencies: np.ndarray
    far_threshold: float

    @property
    def far_fraction(self) -> float:
        """Fraction of samples in a hole, i.e. with ``distance > far_threshold``."""
        return float(np.mean(self.distance > self.far_threshold))

    @property
    def median_distance(self) -> float:
        """Median distance to the nearest training code, in code spacings."""
        return float(np.median(self.distance))

    @property
    def mean_confidence(self) -> float:
        """Mean classifier confidence of the decoded samples."""
        return float(np.mean(self.confidence))

    @property
    def class_frequencies(self) -> np.ndarray:
        """Fraction of decoded samples the classifier puts in each class."""
        return np.bincount(self.predicted, minlength=self.reference_frequencies.size) / len(
            self.predicted
        )

    @property
    def class_tv(self) -> float:
        """Total variation between the decoded samples' classes and the training labels'."""
        return total_variation(self.class_frequencies, self.reference_frequencies)

    def summary(self) -> dict[str, float]:
        """The numbers lesson 03 compares between an autoencoder and a VAE."""
        return {
            "median_distance": self.median_distance,
            "far_fraction": self.far_fraction,
            "class_tv": self.class_tv,
            "mean_confidence": self.mean_confidence,
        }


def measure_holes(
    z,
    decode: Callable[[np.ndarray], np.ndarray],
    codes,
    classifier: SoftmaxRegression,
    y_train,
    *,
    far_threshold: float = 2.0,
) -> HoleReport:
    """Decode latent samples and measure how many fall into holes of the latent space.

    Three numbers (:meth:`HoleReport.summary`):

    * ``median_distance``: distance from a sample to the nearest training code, divided by the
      codes' typical spacing (:func:`code_spacing`); ``far_fraction``: fraction farther than
      ``far_threshold`` spacings, i.e. where the decoder never saw a training code;
    * ``class_tv``: total variation between the classes the classifier gives the decoded samples
      and the training labels' frequencies; holes decode to a few repeated shapes, so sampling
      them over-produces some classes;
    * ``mean_confidence``: the classifier's mean largest probability. A linear classifier is also
      confident on saturated, stroke-like images a decoder extrapolates to, so on its own this is
      a weak judge of "digit-ness" (lesson 03 shows it).

    Parameters
    ----------
    z : array_like, shape (n, z_dim)
        Latent samples, e.g. :func:`uniform_box_samples` or draws from the prior.
    decode : callable
        ``decode(z) -> x``, NumPy in and out, shape ``(n, x_dim)`` (``model.decode``).
    codes : array_like, shape (m, z_dim)
        Codes of the training data (an autoencoder's ``encode``, a VAE's ``z_mean``).
    classifier : SoftmaxRegression
        Trained on real data (:func:`train_digit_classifier`).
    y_train : array_like of int, shape (m_labels,)
        Training labels; their class frequencies are the reference for ``class_tv``.
    far_threshold : float
        In code spacings, ``> 0``.

    Returns
    -------
    HoleReport
    """
    z = _matrix("z", z)
    codes = _matrix("codes", codes)
    far_threshold = float(far_threshold)
    if not np.isfinite(far_threshold) or far_threshold <= 0:
        raise ValueError(f"argument 'far_threshold' must be positive, got {far_threshold!r}")
    reference = class_frequencies(y_train, classifier.n_classes)
    x = np.asarray(decode(z), dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != z.shape[0]:
        raise ValueError(
            f"argument 'decode' must return shape ({z.shape[0]}, x_dim), got {x.shape}"
        )
    proba = classifier.predict_proba(x)
    spacing = code_spacing(codes)
    dist, _ = nearest_code_distance(z, codes)
    return HoleReport(
        z=z,
        distance=dist / spacing,
        spacing=spacing,
        confidence=proba.max(axis=1),
        predicted=proba.argmax(axis=1),
        reference_frequencies=reference,
        far_threshold=far_threshold,
    )


@dataclass(frozen=True)
class HoleMap:
    """Hole measurements on an ``n x n`` grid of a 2-D latent box (see :func:`hole_map`).

    ``distance[i, j]``, ``predicted[i, j]`` and ``confidence[i, j]`` belong to the point
    ``(z1[j], z2[i])`` (image convention: rows follow the second latent axis).
    """

    z1: np.ndarray
    z2: np.ndarray
    distance: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """``(z1_min, z1_max, z2_min, z2_max)`` for ``matplotlib``'s ``imshow(extent=...)``."""
        return (float(self.z1[0]), float(self.z1[-1]), float(self.z2[0]), float(self.z2[-1]))


def hole_map(
    decode: Callable[[np.ndarray], np.ndarray],
    codes,
    classifier: SoftmaxRegression,
    *,
    lo=None,
    hi=None,
    n: int = 40,
) -> HoleMap:
    """The hole map of a 2-D latent space: distance to the codes and the decoded class on a grid.

    Parameters
    ----------
    decode : callable
        ``decode(z) -> x`` for ``z`` of shape ``(n*n, 2)``.
    codes : array_like, shape (m, 2)
        Training codes; distances are in units of their :func:`code_spacing`.
    classifier : SoftmaxRegression
    lo, hi : array_like, shape (2,), optional
        Corners of the box; default the codes' bounding box.
    n : int
        Grid points per axis, ``>= 2``.

    Returns
    -------
    HoleMap
    """
    codes = _matrix("codes", codes)
    if codes.shape[1] != 2:
        raise ValueError(f"argument 'codes' must have 2 columns (a 2-D latent), got {codes.shape}")
    lo = codes.min(axis=0) if lo is None else np.asarray(lo, dtype=np.float64)
    hi = codes.max(axis=0) if hi is None else np.asarray(hi, dtype=np.float64)
    if lo.shape != (2,) or hi.shape != (2,) or np.any(hi <= lo):
        raise ValueError(f"arguments 'lo' and 'hi' must be 2-vectors with lo < hi, got {lo}, {hi}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"argument 'n' must be an integer >= 2, got {n!r}")
    z1 = np.linspace(lo[0], hi[0], n)
    z2 = np.linspace(lo[1], hi[1], n)
    g1, g2 = np.meshgrid(z1, z2)
    z = np.column_stack([g1.ravel(), g2.ravel()])
    proba = classifier.predict_proba(np.asarray(decode(z), dtype=np.float64))
    dist, _ = nearest_code_distance(z, codes)
    return HoleMap(
        z1=z1,
        z2=z2,
        distance=(dist / code_spacing(codes)).reshape(n, n),
        predicted=proba.argmax(axis=1).reshape(n, n),
        confidence=proba.max(axis=1).reshape(n, n),
    )


# --- the decoder-side view (after Li, Peng and Lin 2021) ------------------------------------------


def bernoulli_js(p, q) -> np.ndarray:
    """The per-pixel Bernoulli Jensen-Shannon divergences of two decoded images, summed, in nats.

    ``sum_j JS(p_j, q_j) = sum_j [ KL(p_j || m_j) + KL(q_j || m_j) ] / 2`` with
    ``m_j = (p_j + q_j) / 2``, where ``p_j`` is the probability that pixel ``j`` is on (a Bernoulli
    decoder's output) and the KL is between Bernoulli distributions. This is not the JS divergence
    of the two images' joint distributions (which never exceeds ``log 2``; JS does not add up over
    independent pixels as KL does). Symmetric, ``0`` iff ``p = q``, at most ``log 2`` per
    pixel. Terms with a zero probability are taken as their limit ``0 log 0 = 0``
    (:func:`scipy.special.xlogy`).

    Parameters
    ----------
    p, q : array_like, shape (n, x_dim)
        Pixel probabilities in ``[0, 1]``.

    Returns
    -------
    ndarray, shape (n,)
        Nats per example, summed over pixels.

    Raises
    ------
    ValueError
        If the shapes differ or a value lies outside ``[0, 1]``.
    """
    p = _matrix("p", p)
    q = _matrix("q", q)
    if p.shape != q.shape:
        raise ValueError(f"arguments 'p' and 'q' differ in shape: {p.shape} and {q.shape}")
    for name, v in (("p", p), ("q", q)):
        if np.any(v < 0) or np.any(v > 1):
            raise ValueError(f"argument {name!r} must hold probabilities in [0, 1]")
    m = 0.5 * (p + q)

    def kl_to_m(a):
        return (special.xlogy(a, a) - special.xlogy(a, m)
                + special.xlogy(1 - a, 1 - a) - special.xlogy(1 - a, 1 - m))

    return np.maximum(0.5 * (kl_to_m(p) + kl_to_m(q)).sum(axis=1), 0.0)


def tukey_upper_fence(values, k: float = 1.5) -> float:
    """Tukey's upper fence ``Q3 + k (Q3 - Q1)`` of a sample: values above it are outliers.

    ``Q1`` and ``Q3`` are the 25th and 75th percentiles (NumPy's default linear interpolation).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError("argument 'values' must be a non-empty 1-D array of finite numbers")
    k = float(k)
    if not np.isfinite(k) or k < 0:
        raise ValueError(f"argument 'k' must be non-negative, got {k!r}")
    q1, q3 = np.percentile(v, [25, 75])
    return float(q3 + k * (q3 - q1))


def _unit_directions(directions, n_directions, z_dim, rng) -> np.ndarray:
    if directions is not None:
        u = _matrix("directions", directions)
        if u.shape[1] != z_dim:
            raise ValueError(f"argument 'directions' must have {z_dim} columns, got {u.shape}")
        norms = np.linalg.norm(u, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError("argument 'directions' contains a zero vector")
        return u / norms
    if isinstance(n_directions, bool) or not isinstance(n_directions, (int, np.integer)) \
            or n_directions < 1:
        raise ValueError(
            f"argument 'n_directions' must be a positive integer, got {n_directions!r}"
        )
    if not isinstance(rng, np.random.Generator):
        raise ValueError("argument 'rng' must be a numpy.random.Generator")
    u = rng.standard_normal((int(n_directions), z_dim))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def _decode_probs(decode, z) -> np.ndarray:
    x = np.asarray(decode(z), dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != z.shape[0]:
        raise ValueError(
            f"argument 'decode' must return shape ({z.shape[0]}, x_dim), got {x.shape}"
        )
    return x


def decoder_jump(decode, z, step: float, *, directions=None, n_directions: int = 8,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """The largest change of the decoded distribution over one step from each ``z``.

    ``jump(z) = max_u JS(p(x | z), p(x | z + step * u))`` over unit directions ``u``
    (:func:`bernoulli_js`, nats). A smooth decoder changes little over a short step; a jump far
    above what the decoder does at the training codes marks a discontinuity, a hole in the sense of
    Li, Peng and Lin (2021).

    Parameters
    ----------
    decode : callable
        ``decode(z) -> x``, pixel probabilities in ``[0, 1]``, shape ``(n, x_dim)``.
    z : array_like, shape (n, z_dim)
    step : float
        Length of the step in latent units, ``> 0``.
    directions : array_like, shape (k, z_dim), optional
        The directions ``u`` (normalised here); default ``n_directions`` random ones from ``rng``,
        the same for every ``z``.
    n_directions : int
    rng : numpy.random.Generator, optional
        Needed when ``directions`` is not given.

    Returns
    -------
    ndarray, shape (n,)
        Nats.
    """
    z = _matrix("z", z)
    step = float(step)
    if not np.isfinite(step) or step <= 0:
        raise ValueError(f"argument 'step' must be positive, got {step!r}")
    u = _unit_directions(directions, n_directions, z.shape[1], rng)
    p0 = _decode_probs(decode, z)
    best = np.zeros(z.shape[0])
    for direction in u:
        best = np.maximum(best, bernoulli_js(p0, _decode_probs(decode, z + step * direction)))
    return best


@dataclass(frozen=True)
class DecoderHoleReport:
    """Decoder-side hole flags for latent samples (see :func:`decoder_holes`).

    Attributes
    ----------
    jump : ndarray
        :func:`decoder_jump` at each sample, nats, shape ``(n,)``.
    code_jump : ndarray
        The same at the training codes, shape ``(m,)``.
    fence : float
        Tukey's upper fence of ``code_jump``: a sample whose jump exceeds it is in a hole.
    step : float
        The step, latent units.
    """

    jump: np.ndarray
    code_jump: np.ndarray
    fence: float
    step: float

    @property
    def flagged(self) -> np.ndarray:
        """Boolean, shape ``(n,)``: the decoder jumps more here than at almost any code."""
        return self.jump > self.fence

    @property
    def hole_fraction(self) -> float:
        """Fraction of samples flagged."""
        return float(np.mean(self.flagged))


def decoder_holes(z, decode, codes, *, step: float, k: float = 1.5, n_directions: int = 8,
                  directions=None, rng: np.random.Generator | None = None) -> DecoderHoleReport:
    """Flag latent samples where the decoder is discontinuous, judged against the training codes.

    The decoder-centric test of Li, Peng and Lin (2021) in a small version: the jump of the decoded
    distribution over one ``step`` (:func:`decoder_jump`, the same directions for samples and
    codes) is computed at the training codes, whose Tukey upper fence ``Q3 + k IQR``
    (:func:`tukey_upper_fence`) is what counts as normal; samples whose jump exceeds it are flagged.
    Unlike :func:`measure_holes`, nothing here looks at where the codes are, only at what the
    decoder does.

    Parameters
    ----------
    z : array_like, shape (n, z_dim)
    decode : callable
    codes : array_like, shape (m, z_dim)
    step : float
        Latent units; lesson 03 uses half the :func:`code_spacing`.
    k : float
        Tukey's multiplier (1.5: "outlier").
    n_directions, directions, rng
        As in :func:`decoder_jump`.

    Returns
    -------
    DecoderHoleReport
    """
    z = _matrix("z", z)
    codes = _matrix("codes", codes)
    if z.shape[1] != codes.shape[1]:
        raise ValueError(
            f"arguments 'z' and 'codes' must have the same z_dim, got {z.shape} and {codes.shape}"
        )
    u = _unit_directions(directions, n_directions, z.shape[1], rng)
    jump = decoder_jump(decode, z, step, directions=u)
    code_jump = decoder_jump(decode, codes, step, directions=u)
    return DecoderHoleReport(jump=jump, code_jump=code_jump,
                             fence=tukey_upper_fence(code_jump, k), step=float(step))


@dataclass(frozen=True)
class HoleTree:
    """The tree grown by :func:`hole_tree_search`.

    Node ``i`` sits at ``z[i]``; ``parent[i]`` is its parent's index (``-1`` for a root),
    ``depth[i]`` its number of steps from the root, ``jump[i]`` the Jensen-Shannon divergence (nats)
    between its decoded distribution and its parent's (0 for a root), and ``hole[i]`` whether that
    jump exceeds ``fence``. Hole nodes are leaves: the search does not expand them.
    """

    z: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    jump: np.ndarray
    hole: np.ndarray
    fence: float

    @property
    def n_edges(self) -> int:
        """Number of steps taken (nodes that are not roots)."""
        return int(np.sum(self.parent >= 0))

    @property
    def hole_fraction(self) -> float:
        """Fraction of steps that jumped: holes found per step explored."""
        return float(np.sum(self.hole) / max(self.n_edges, 1))


def hole_tree_search(decode, roots, *, step: float, fence: float, depth: int,
                     branching: int, rng: np.random.Generator,
                     max_nodes: int = 20_000) -> HoleTree:
    """Grow a breadth-first tree of latent steps from ``roots``, stopping where the decoder jumps.

    Each unexpanded node spawns ``branching`` children at ``node + step * u`` (``u`` random unit
    vectors). Space is cut into square cells of side ``step / 2``; a child that lands in a cell
    already holding a node, or in the same cell as an earlier child, is dropped (that region is
    explored), so the tree spreads outward. A child whose decoded distribution differs
    from its parent's by more than ``fence`` nats (:func:`bernoulli_js`) is a *hole* and is not
    expanded: the search maps the region it can reach from the roots without crossing a
    discontinuity, and marks the border where it meets one. This is the tree-based,
    decoder-centric idea of Li, Peng and Lin (2021) at the scale of lesson 03, not their exact
    algorithm.

    Parameters
    ----------
    decode : callable
        ``decode(z) -> x``, pixel probabilities.
    roots : array_like, shape (r, z_dim)
        Where the search starts (training codes).
    step : float
        Latent units, ``> 0``.
    fence : float
        Jump threshold in nats, ``>= 0`` (e.g. :attr:`DecoderHoleReport.fence`).
    depth : int
        Levels to grow, ``>= 1``.
    branching : int
        Children per expanded node, ``>= 1``.
    rng : numpy.random.Generator
    max_nodes : int
        The search stops growing once the tree holds this many nodes.

    Returns
    -------
    HoleTree
    """
    roots = _matrix("roots", roots)
    step = float(step)
    fence = float(fence)
    if not np.isfinite(step) or step <= 0:
        raise ValueError(f"argument 'step' must be positive, got {step!r}")
    if not np.isfinite(fence) or fence < 0:
        raise ValueError(f"argument 'fence' must be non-negative, got {fence!r}")
    for name, v in (("depth", depth), ("branching", branching), ("max_nodes", max_nodes)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"argument {name!r} must be a positive integer, got {v!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("argument 'rng' must be a numpy.random.Generator")
    z_dim = roots.shape[1]
    zs, parents, depths, jumps, holes_ = [roots], [np.full(len(roots), -1)], \
        [np.zeros(len(roots), dtype=np.int64)], [np.zeros(len(roots))], \
        [np.zeros(len(roots), dtype=bool)]
    frontier = np.arange(len(roots))
    frontier_probs = _decode_probs(decode, roots)
    n_nodes = len(roots)
    for level in range(1, int(depth) + 1):
        if frontier.size == 0 or n_nodes >= max_nodes:
            break
        all_z = np.concatenate(zs)
        u = rng.standard_normal((frontier.size * int(branching), z_dim))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        par = np.repeat(frontier, int(branching))
        par_rows = np.repeat(np.arange(frontier.size), int(branching))
        child = all_z[par] + step * u
        # drop children in explored regions: one node per grid cell of side step / 2
        cell = np.floor(np.concatenate([all_z, child]) / (step / 2)).astype(np.int64)
        _, first = np.unique(cell, axis=0, return_index=True)
        keep = np.zeros(len(cell), dtype=bool)
        keep[first] = True
        keep = keep[len(all_z):]  # a cell's first entry is an old node if it holds one
        keep &= np.cumsum(keep) <= max_nodes - n_nodes
        child, par, par_rows = child[keep], par[keep], par_rows[keep]
        if child.shape[0] == 0:
            break
        probs = _decode_probs(decode, child)
        jump = bernoulli_js(frontier_probs[par_rows], probs)
        hole = jump > fence
        zs.append(child)
        parents.append(par)
        depths.append(np.full(child.shape[0], level))
        jumps.append(jump)
        holes_.append(hole)
        frontier = n_nodes + np.flatnonzero(~hole)
        frontier_probs = probs[~hole]
        n_nodes += child.shape[0]
    return HoleTree(z=np.concatenate(zs), parent=np.concatenate(parents),
                    depth=np.concatenate(depths), jump=np.concatenate(jumps),
                    hole=np.concatenate(holes_), fence=fence)
