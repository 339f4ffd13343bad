"""PCA, linear autoencoders and linear denoising in closed form (lesson 02).

Lesson 02 trains autoencoders by gradient descent and compares them with what linear algebra
gives directly:

* **PCA by the SVD.** For centred data ``X_c = X - mean`` with SVD ``X_c = U S V^T``, the top
  ``k`` right singular vectors ``V_k`` span the ``k``-dimensional subspace that keeps the most
  variance; projecting onto it costs ``sum_{j > k} lambda_j`` squared error per example, where
  ``lambda_j = s_j^2 / n`` are the eigenvalues of the covariance (Pearson 1901; for the linear
  autoencoder, Baldi & Hornik 1989).
* **Principal angles** between two subspaces measure how far a trained linear autoencoder's
  decoder subspace is from the PCA subspace. The axes themselves are not identified: any
  invertible (in particular orthogonal) ``R`` in ``x -> (x W_e R)(R^{-1} W_d)`` leaves the
  reconstruction unchanged (:func:`rotate_linear_autoencoder`).
* **The optimal decoder for a fixed encoder** is a least-squares problem (:func:`optimal_decoder`).
* **The optimal linear denoiser.** For ``x ~ N(0, s^2)`` observed as ``y = x + n`` with
  ``n ~ N(0, sigma_n^2)``, the linear map minimising ``E (x - a y)^2`` is
  ``a = s^2 / (s^2 + sigma_n^2)`` (:func:`optimal_linear_denoiser_scale`); in several dimensions
  ``A = Sigma (Sigma + sigma_n^2 I)^{-1}``. Corruption functions for ``fit(..., corrupt=...)``
  (Gaussian and masking noise, Vincent et al. 2010) are at the end.

Everything is NumPy float64. Reconstruction errors are squared errors summed over the ``x_dim``
pixels, averaged over examples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PCA",
    "fit_pca",
    "principal_angles",
    "orthonormal_basis",
    "linear_autoencoder_weights",
    "linear_autoencoder_basis",
    "rotate_linear_autoencoder",
    "optimal_decoder",
    "optimal_linear_denoiser_scale",
    "linear_gaussian_denoising_data",
    "gaussian_corruption",
    "masking_corruption",
    "cumulative_signal_fraction",
    "noise_chain",
]


# --- input checks ---------------------------------------------------------------------------------


def _matrix(name: str, value, *, ndim: int = 2) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"argument {name!r} must be a {ndim}-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"argument {name!r} contains NaN or infinite values")
    return arr


def _n_components(k, d: int, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"argument 'k' must be an integer, got {k!r}")
    k = int(k)
    if not 1 <= k <= min(d, n):
        raise ValueError(f"argument 'k' must be between 1 and min(n, x_dim) = {min(d, n)}, got {k}")
    return k


# --- PCA ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PCA:
    """The top ``k`` principal components of a data set (see :func:`fit_pca`).

    ``encode(x) = (x - mean) @ components`` and ``decode(z) = z @ components.T + mean``: PCA is
    the linear autoencoder with orthonormal, tied weights (lesson 02).

    Attributes
    ----------
    mean : ndarray
        Mean of the data PCA was fitted to, shape ``(x_dim,)``.
    components : ndarray
        Orthonormal principal directions, shape ``(x_dim, k)``, by decreasing variance. Each
        column's sign is fixed so that its entry of largest magnitude is positive (the SVD leaves
        it free).
    variances : ndarray
        All eigenvalues ``lambda_j = s_j^2 / n`` of the (biased, ``1/n``) covariance, shape
        ``(x_dim,)``, decreasing; ``variances[:k]`` belong to ``components``.
    """

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray

    @property
    def k(self) -> int:
        """Number of components kept."""
        return self.components.shape[1]

    def encode(self, x) -> np.ndarray:
        """Codes ``z = (x - mean) @ components``, shape ``(n, k)`` for ``x`` of ``(n, x_dim)``."""
        x = _matrix("x", x)
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"argument 'x' must have {self.mean.shape[0]} columns, got shape {x.shape}"
            )
        return (x - self.mean) @ self.components

    def decode(self, z) -> np.ndarray:
        """Reconstruction ``z @ components.T + mean``, shape ``(n, x_dim)`` for ``z`` ``(n, k)``."""
        z = _matrix("z", z)
        if z.shape[1] != self.k:
            raise ValueError(f"argument 'z' must have {self.k} columns, got shape {z.shape}")
        return z @ self.components.T + self.mean

    def reconstruct(self, x) -> np.ndarray:
        """Projection of ``x`` onto the principal subspace, ``decode(encode(x))``."""
        return self.decode(self.encode(x))

    def reconstruction_error(self, x) -> np.ndarray:
        """Squared error ``||x - reconstruct(x)||^2`` summed over pixels, shape ``(n,)``."""
        x = _matrix("x", x)
        return np.sum((x - self.reconstruct(x)) ** 2, axis=1)

    @property
    def residual_variance(self) -> float:
        """Mean squared reconstruction error on the fitted data, ``sum_{j > k} lambda_j``."""
        return float(np.sum(self.variances[self.k :]))


def fit_pca(x, k: int) -> PCA:
    """Principal component analysis by the SVD of the centred data.

    ``X - mean = U S V^T``; the components are the first ``k`` columns of ``V`` and the variances
    ``s_j^2 / n``. Taught in lesson 02, where a linear autoencoder trained by gradient descent
    recovers the same subspace.

    Parameters
    ----------
    x : array_like, shape (n, x_dim)
        Data, one example per row.
    k : int
        Number of components, ``1 <= k <= min(n, x_dim)``.

    Returns
    -------
    PCA

    Raises
    ------
    ValueError
        If ``x`` is not a finite 2-D array or ``k`` is out of range.
    """
    x = _matrix("x", x)
    n, d = x.shape
    k = _n_components(k, d, n)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    variances = np.zeros(d)
    variances[: s.size] = s**2 / n
    components = vt[:k].T.copy()
    # Deterministic signs: the largest-magnitude entry of each direction is positive.
    idx = np.argmax(np.abs(components), axis=0)
    components *= np.sign(components[idx, np.arange(k)])
    return PCA(mean=mean, components=components, variances=variances)


# --- subspaces ------------------------------------------------------------------------------------


def orthonormal_basis(a, *, rtol: float = 1e-10) -> np.ndarray:
    """An orthonormal basis of the column space of ``a``, shape ``(x_dim, rank)``.

    Computed from the SVD, so it is robust when the columns are nearly dependent.

    Raises
    ------
    ValueError
        If ``a`` is not a finite 2-D array or has rank 0.
    """
    a = _matrix("a", a)
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        raise ValueError("argument 'a' has rank 0: it spans no subspace")
    rank = int(np.sum(s > rtol * s[0]))
    return u[:, :rank]


def principal_angles(a, b) -> np.ndarray:
    """Principal angles (radians) between the column spaces of ``a`` and ``b``, increasing.

    With orthonormal bases ``Q_a``, ``Q_b``, the cosines of the angles are the singular values of
    ``Q_a^T Q_b`` (Bjorck & Golub 1973). Small angles are taken from the sines, the singular values
    of ``Q_b - Q_a Q_a^T Q_b``, because ``arccos`` loses half the digits near 1. Lesson 02 uses
    them to show that a trained linear autoencoder spans the PCA subspace.

    Parameters
    ----------
    a : array_like, shape (x_dim, k)
    b : array_like, shape (x_dim, l)

    Returns
    -------
    ndarray, shape (min(rank a, rank b),)
        Angles in ``[0, pi/2]``, smallest first; all zero iff one subspace contains the other.

    Raises
    ------
    ValueError
        If the arrays are not finite 2-D arrays with the same number of rows.
    """
    a = _matrix("a", a)
    b = _matrix("b", b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"arguments 'a' and 'b' must have the same number of rows, got {a.shape} and {b.shape}"
        )
    qa, qb = orthonormal_basis(a), orthonormal_basis(b)
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa
    # Now dim(qa) >= dim(qb): one angle per column of qb.
    cos = np.linalg.svd(qa.T @ qb, compute_uv=False)[: qb.shape[1]]  # decreasing
    sin = np.linalg.svd(qb - qa @ (qa.T @ qb), compute_uv=False)[::-1]  # increasing
    cos = np.clip(cos, 0.0, 1.0)
    sin = np.clip(sin, 0.0, 1.0)
    return np.where(cos**2 >= 0.5, np.arcsin(sin), np.arccos(cos))


# --- linear autoencoders --------------------------------------------------------------------------


def _layer_keys(params: Mapping, side: str) -> list[str]:
    """Layer prefixes of one side in forward order: ``side.0, side.1, ..., side.out``."""
    hidden = sorted(
        (k[: -len(".W")] for k in params if k.startswith(side + ".") and k.endswith(".W")
         and k[len(side) + 1 : -2].isdigit()),
        key=lambda k: int(k.split(".")[1]),
    )
    if f"{side}.out.W" not in params:
        raise ValueError(
            f"argument 'params' has no '{side}.out.W': not an Autoencoder's parameters "
            f"(keys {sorted(params)})"
        )
    return [*hidden, f"{side}.out"]


def _compose(params: Mapping, side: str) -> tuple[np.ndarray, np.ndarray]:
    """The affine map of a stack of linear layers: ``x -> x W + b``."""
    w = b = None
    for key in _layer_keys(params, side):
        wi = np.asarray(params[key + ".W"], dtype=np.float64)
        bi = np.asarray(params[key + ".b"], dtype=np.float64)
        w, b = (wi, bi) if w is None else (w @ wi, b @ wi + bi)
    return w, b


def linear_autoencoder_weights(params: Mapping) -> dict[str, np.ndarray]:
    """The end-to-end maps of a linear autoencoder ``x_hat = (x W_e + b_e) W_d + b_d``.

    Parameters
    ----------
    params : mapping
        ``model.get_params()`` of ``B.Autoencoder(..., linear=True)``. With hidden layers (a deep
        linear network) the layers of each side are multiplied out.

    Returns
    -------
    dict
        ``{"W_enc": (x_dim, z_dim), "b_enc": (z_dim,), "W_dec": (z_dim, x_dim), "b_dec": (x_dim,)}``
    """
    w_enc, b_enc = _compose(params, "encoder")
    w_dec, b_dec = _compose(params, "decoder")
    if w_enc.shape[::-1] != w_dec.shape:
        raise ValueError(
            f"argument 'params': encoder map {w_enc.shape} and decoder map {w_dec.shape} "
            "do not form an autoencoder"
        )
    return {"W_enc": w_enc, "b_enc": b_enc, "W_dec": w_dec, "b_dec": b_dec}


def linear_autoencoder_basis(params: Mapping) -> np.ndarray:
    """The subspace a linear autoencoder reconstructs into: the columns of ``W_dec^T``.

    Every reconstruction ``x_hat - b_d`` is a combination of the rows of ``W_dec``, so this
    ``(x_dim, z_dim)`` matrix spans the decoder subspace; compare it with
    ``PCA.components`` by :func:`principal_angles`.
    """
    return linear_autoencoder_weights(params)["W_dec"].T.copy()


def rotate_linear_autoencoder(params: Mapping, r) -> dict[str, np.ndarray]:
    """Parameters of the same autoencoder with its codes transformed by an invertible ``r``.

    The code layer ``W_e -> W_e R``, ``b_e -> b_e R`` and the first decoder layer
    ``W_d -> R^{-1} W_d``: the codes become ``z R`` and the reconstruction
    ``(z R) R^{-1} W_d + b_d`` is unchanged. For an orthogonal ``R``, ``R^{-1} = R^T``. This is
    why a linear autoencoder's latent axes are not identified (lesson 02). (The first decoder
    layer is linear in ``z`` for any autoencoder, so this holds for nonlinear ones too.)

    Parameters
    ----------
    params : mapping
        An autoencoder's parameters (``model.get_params()``).
    r : array_like, shape (z_dim, z_dim)
        Invertible matrix.

    Returns
    -------
    dict
        A copy of ``params`` (same keys) with the transformed arrays, ready for ``set_params``.
    """
    r = _matrix("r", r)
    enc = _layer_keys(params, "encoder")[-1]
    dec = _layer_keys(params, "decoder")[0]
    z_dim = np.shape(params[enc + ".W"])[1]
    if r.shape != (z_dim, z_dim):
        raise ValueError(f"argument 'r' must have shape ({z_dim}, {z_dim}), got {r.shape}")
    if np.linalg.cond(r) > 1e12:
        raise ValueError("argument 'r' must be invertible (its condition number exceeds 1e12)")
    out = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    out[enc + ".W"] = out[enc + ".W"] @ r
    out[enc + ".b"] = out[enc + ".b"] @ r
    out[dec + ".W"] = np.linalg.solve(r, out[dec + ".W"])
    return out


def optimal_decoder(z, x) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares decoder for fixed codes: ``argmin_{W, b} sum_i ||x_i - (z_i W + b)||^2``.

    With centred codes ``Z_c`` and data ``X_c``, the normal equations give
    ``W = (Z_c^T Z_c)^{-1} Z_c^T X_c`` and ``b = mean(x) - mean(z) W``
    (derived in :func:`vaelearn.derivations.autoencoders.optimal_decoder_for_fixed_encoder`).

    Parameters
    ----------
    z : array_like, shape (n, z_dim)
        Codes from any (fixed) encoder.
    x : array_like, shape (n, x_dim)
        The data to reconstruct.

    Returns
    -------
    W : ndarray, shape (z_dim, x_dim)
    b : ndarray, shape (x_dim,)

    Raises
    ------
    ValueError
        On shape mismatch, non-finite input, or codes whose covariance is singular.
    """
    z = _matrix("z", z)
    x = _matrix("x", x)
    if z.shape[0] != x.shape[0]:
        raise ValueError(
            f"arguments 'z' and 'x' must have the same number of rows, got {z.shape} and {x.shape}"
        )
    zc = z - z.mean(axis=0)
    xc = x - x.mean(axis=0)
    gram = zc.T @ zc
    if np.linalg.matrix_rank(gram) < z.shape[1]:
        raise ValueError("argument 'z': the codes' covariance is singular (codes are dependent)")
    w = np.linalg.solve(gram, zc.T @ xc)
    b = x.mean(axis=0) - z.mean(axis=0) @ w
    return w, b


# --- linear denoising -----------------------------------------------------------------------------


def optimal_linear_denoiser_scale(signal_var, noise_var):
    """``s^2 / (s^2 + sigma_n^2)``: the best linear estimate of ``x`` from ``y = x + n``.

    For ``x ~ N(0, s^2)`` and independent ``n ~ N(0, sigma_n^2)``, ``E (x - a y)^2`` is smallest
    at this ``a`` (and it is also the posterior mean ``E[x | y] = a y``). Derived in
    :func:`vaelearn.derivations.autoencoders.linear_denoiser_scale`; lesson 02 shows a trained
    linear denoising autoencoder finds it.

    Parameters
    ----------
    signal_var : float or array_like
        ``s^2 > 0``.
    noise_var : float or array_like
        ``sigma_n^2 >= 0``.

    Returns
    -------
    float or ndarray
        Broadcast shape of the inputs, values in ``(0, 1]``.
    """
    s2 = np.asarray(signal_var, dtype=np.float64)
    n2 = np.asarray(noise_var, dtype=np.float64)
    if not (np.all(np.isfinite(s2)) and np.all(s2 > 0)):
        raise ValueError(f"argument 'signal_var' must be positive and finite, got {signal_var!r}")
    if not (np.all(np.isfinite(n2)) and np.all(n2 >= 0)):
        raise ValueError(f"argument 'noise_var' must be non-negative and finite, got {noise_var!r}")
    a = s2 / (s2 + n2)
    return float(a) if a.ndim == 0 else a


def linear_gaussian_denoising_data(n: int, signal_std, rng: np.random.Generator) -> np.ndarray:
    """Clean data for the linear-Gaussian denoising problem: ``x_j ~ N(0, s_j^2)`` independently.

    Parameters
    ----------
    n : int
        Number of examples.
    signal_std : array_like, shape (x_dim,)
        Standard deviation ``s_j > 0`` of each coordinate.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (n, x_dim)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"argument 'n' must be a positive integer, got {n!r}")
    s = _matrix("signal_std", signal_std, ndim=1)
    if np.any(s <= 0):
        raise ValueError(f"argument 'signal_std' must be positive, got {signal_std!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("argument 'rng' must be a numpy.random.Generator")
    return rng.standard_normal((int(n), s.size)) * s


# --- corruption for denoising autoencoders --------------------------------------------------------


def _like(x, noise: np.ndarray):
    """``noise`` as the same kind of array as ``x`` (NumPy, or a torch tensor on x's device)."""
    if isinstance(x, np.ndarray):
        return noise.astype(x.dtype, copy=False)
    if type(x).__module__.startswith("torch"):
        import torch

        return torch.as_tensor(noise, dtype=x.dtype, device=x.device)
    return noise


def gaussian_corruption(noise_std: float) -> Callable:
    """``corrupt(x, rng) = x + noise_std * eps``, ``eps ~ N(0, I)`` from ``rng``.

    For ``B.fit(..., corrupt=gaussian_corruption(0.3))``: additive isotropic Gaussian noise
    (Vincent et al. 2010). The noise comes from the NumPy ``Generator`` that ``fit`` passes, so
    both backends see the same corrupted batches; a torch batch gets a torch result.
    """
    noise_std = float(noise_std)
    if not np.isfinite(noise_std) or noise_std < 0:
        raise ValueError(f"argument 'noise_std' must be non-negative, got {noise_std!r}")

    def corrupt(x, rng: np.random.Generator):
        eps = rng.standard_normal(tuple(x.shape))
        return x + _like(x, noise_std * eps)

    corrupt.__doc__ = f"x + {noise_std} * N(0, I) noise"
    return corrupt


def masking_corruption(drop_prob: float) -> Callable:
    """``corrupt(x, rng) = x * m`` with ``m_ij ~ Bernoulli(1 - drop_prob)``: pixels set to 0.

    Masking noise of Vincent et al. (2010): each input pixel is independently zeroed with
    probability ``drop_prob``; the autoencoder must fill it in from the others.
    """
    drop_prob = float(drop_prob)
    if not 0 <= drop_prob < 1:
        raise ValueError(f"argument 'drop_prob' must be in [0, 1), got {drop_prob!r}")

    def corrupt(x, rng: np.random.Generator):
        keep = (rng.random(tuple(x.shape)) >= drop_prob).astype(np.float64)
        return x * _like(x, keep)

    corrupt.__doc__ = f"zero each pixel with probability {drop_prob}"
    return corrupt


# --- from stacked denoisers to diffusion (lesson 02) ----------------------------------------------


def _betas(betas) -> np.ndarray:
    b = np.asarray(betas, dtype=np.float64)
    if b.ndim != 1 or b.size == 0 or not np.all(np.isfinite(b)) or np.any(b <= 0) \
            or np.any(b >= 1):
        raise ValueError("argument 'betas' must be a non-empty 1-D array of numbers in (0, 1)")
    return b


def cumulative_signal_fraction(betas) -> np.ndarray:
    """``alpha_bar_t = prod_{s <= t} (1 - beta_s)`` for ``t = 1..T``: the signal left after t steps.

    The noising step of a diffusion model (Sohl-Dickstein et al. 2015; Ho et al. 2020) is
    ``x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t``. Composing ``t`` such steps gives
    ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps`` with one standard normal ``eps``
    (:func:`vaelearn.derivations.autoencoders.noising_twice_is_noising_once` derives it for two
    steps; :func:`noise_chain` simulates it). Lesson 02.

    Parameters
    ----------
    betas : array_like, shape (T,)
        Noise variances per step, each in ``(0, 1)``.

    Returns
    -------
    ndarray, shape (T,)
        Decreasing, in ``(0, 1)``. Computed as ``exp(cumsum(log1p(-beta)))``, accurate for tiny
        ``beta`` and long chains.
    """
    return np.exp(np.cumsum(np.log1p(-_betas(betas))))


def noise_chain(x0, betas, rng: np.random.Generator) -> np.ndarray:
    """Run the noising chain step by step: ``x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t``.

    Parameters
    ----------
    x0 : array_like, shape (n, d)
        The data (``x_0``).
    betas : array_like, shape (T,)
        Noise variances per step, each in ``(0, 1)``.
    rng : numpy.random.Generator
        Source of the fresh ``eps_t ~ N(0, I)`` at every step.

    Returns
    -------
    ndarray, shape (T, n, d)
        ``x_1, ..., x_T``.
    """
    x = _matrix("x0", x0)
    b = _betas(betas)
    if not isinstance(rng, np.random.Generator):
        raise ValueError("argument 'rng' must be a numpy.random.Generator")
    out = np.empty((b.size, *x.shape))
    for t, beta in enumerate(b):
        x = np.sqrt(1.0 - beta) * x + np.sqrt(beta) * rng.standard_normal(x.shape)
        out[t] = x
    return out
