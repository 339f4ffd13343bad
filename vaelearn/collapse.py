"""Probabilistic PCA and the linear VAE in closed form (lesson 07).

Probabilistic PCA (Tipping & Bishop 1999) is the linear-Gaussian latent-variable model

    z ~ N(0, I_q),    x | z ~ N(W z + mu, sigma^2 I_d),    so  x ~ N(mu, W W^T + sigma^2 I_d).

Its maximum-likelihood fit, its exact log-likelihood and its exact posterior are closed forms.
The *linear VAE* (Lucas et al. 2019, "Don't blame the ELBO") keeps that decoder and uses the
encoder ``q(z | x) = N(V (x - mu), D)``; its ELBO is a closed form too, so we can watch it reach
the pPCA likelihood and see posterior collapse happen exactly where the eigenvalue of a direction
falls below ``sigma^2``.

All log-densities are in nats; ``*_per_example`` / mean values are per example, summed over the
``d`` data dimensions. Everything is NumPy float64 (the model is exact; no backend needed).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "PPCA",
    "LinearVAE",
    "ppca_fit",
    "ppca_log_likelihood",
    "ppca_max_log_likelihood",
    "linear_vae_elbo",
    "linear_vae_elbo_mc",
    "linear_vae_grads",
    "linear_vae_at_posterior",
    "fit_linear_vae",
    "average_pool",
    "predicted_collapsed",
    "count_collapsed",
    "kl_per_dimension",
    "diagonal_posterior_gap",
]

_LOG_2PI = float(np.log(2 * np.pi))


# --- checks ---------------------------------------------------------------------------------------


def _as_data(x, name="x"):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"argument '{name}' must have shape (n, d), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"argument '{name}' contains NaN or infinite values")
    return x


def _check_q(q, d):
    if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not 1 <= q <= d:
        raise ValueError(f"argument 'q' must be an integer in [1, {d}], got {q!r}")
    return int(q)


def _check_sigma2(sigma2, name="sigma2"):
    s = float(sigma2)
    if not np.isfinite(s) or s <= 0:
        raise ValueError(f"argument '{name}' must be a positive variance, got {sigma2!r}")
    return s


def _check_W(W, d=None):
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or (d is not None and W.shape[0] != d):
        want = f"({d}, q)" if d is not None else "(d, q)"
        raise ValueError(f"argument 'W' must have shape {want}, got {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("argument 'W' contains NaN or infinite values")
    return W


def _check_mu(mu, d):
    mu = np.asarray(mu, dtype=np.float64)
    if mu.shape != (d,):
        raise ValueError(f"argument 'mu' must have shape ({d},), got {mu.shape}")
    if not np.all(np.isfinite(mu)):
        raise ValueError("argument 'mu' contains NaN or infinite values")
    return mu


def _check_encoder(V, D, d, q):
    V = np.asarray(V, dtype=np.float64)
    if V.shape != (q, d):
        raise ValueError(f"argument 'V' must have shape ({q}, {d}), got {V.shape}")
    D = np.asarray(D, dtype=np.float64)
    if D.shape == (q,):
        if not np.all(np.isfinite(D)) or np.any(D <= 0):
            raise ValueError("argument 'D' (posterior variances) must be positive and finite")
    elif D.shape == (q, q):
        if not np.allclose(D, D.T) or np.any(np.linalg.eigvalsh(D) <= 0):
            raise ValueError(
                "argument 'D' (posterior covariance) must be symmetric positive definite"
            )
    else:
        raise ValueError(f"argument 'D' must have shape ({q},) or ({q}, {q}), got {D.shape}")
    return V, D


# --- probabilistic PCA ----------------------------------------------------------------------------


class PPCA(NamedTuple):
    """A fitted pPCA model: ``x ~ N(mu, W W^T + sigma2 I)``.

    Attributes
    ----------
    W : ndarray, shape (d, q)
    mu : ndarray, shape (d,)
    sigma2 : float
    eigenvalues : ndarray, shape (d,)
        Eigenvalues of the sample covariance (divided by ``n``), largest first.
    """

    W: np.ndarray
    mu: np.ndarray
    sigma2: float
    eigenvalues: np.ndarray


def _covariance(x):
    mu = x.mean(axis=0)
    xc = x - mu
    return mu, xc.T @ xc / x.shape[0]


def ppca_fit(x, q, sigma2=None, rotation=None):
    """Maximum-likelihood pPCA (Tipping & Bishop 1999), in closed form. Lesson 07.

    ``sigma2_ML = mean(l_{q+1}, ..., l_d)``, ``W_ML = U_q (L_q - sigma2 I)^{1/2} R``, where
    ``l_1 >= ... >= l_d`` are the eigenvalues of the sample covariance
    ``S = (1/n) sum (x-mu)(x-mu)^T`` and ``U_q`` its leading eigenvectors. With a fixed
    ``sigma2`` the maximiser is the same formula with ``(l_j - sigma2)`` replaced by
    ``max(l_j - sigma2, 0)``: directions whose eigenvalue is at most ``sigma2`` get a zero
    column (the collapse that lesson 07 measures).

    Parameters
    ----------
    x : array_like, shape (n, d)
    q : int
        Number of latent dimensions, ``1 <= q <= d``.
    sigma2 : float, optional
        Fix the noise variance instead of fitting it (``None``: ``sigma2_ML``; needs ``q < d``).
    rotation : array_like, shape (q, q), optional
        Any orthogonal ``R`` (the likelihood does not depend on it); default the identity.

    Returns
    -------
    PPCA

    Raises
    ------
    ValueError
        Bad arguments; or, fitting ``sigma2``, when the discarded eigenvalues are zero to
        round-off (data of rank <= q, e.g. fewer rows than columns): sigma2_ML would be 0.
    """
    x = _as_data(x)
    d = x.shape[1]
    q = _check_q(q, d)
    mu, S = _covariance(x)
    lam, U = np.linalg.eigh(S)
    lam, U = lam[::-1].copy(), U[:, ::-1]
    lam = np.maximum(lam, 0.0)  # round-off can make a zero eigenvalue slightly negative
    if sigma2 is None:
        if q == d:
            raise ValueError("argument 'q' must be < d to fit sigma2 (no discarded eigenvalues)")
        sigma2 = float(lam[q:].mean())
        # "zero" as numpy.linalg.matrix_rank counts it: round-off of S's eigen-decomposition
        # (with n <= q rows the discarded eigenvalues are ~1e-15, not a noise variance)
        rank_tol = float(lam[0]) * max(x.shape) * np.finfo(np.float64).eps
        if sigma2 <= rank_tol:
            raise ValueError(
                "argument 'x': the discarded eigenvalues are all zero (to round-off), so "
                f"sigma2_ML = 0; the data have rank {int((lam > rank_tol).sum())} <= q = {q} "
                "(e.g. fewer rows than columns): choose a smaller q or fix sigma2"
            )
    else:
        sigma2 = _check_sigma2(sigma2)
    W = U[:, :q] * np.sqrt(np.maximum(lam[:q] - sigma2, 0.0))
    if rotation is not None:
        R = np.asarray(rotation, dtype=np.float64)
        if R.shape != (q, q) or not np.allclose(R.T @ R, np.eye(q), atol=1e-10):
            raise ValueError(f"argument 'rotation' must be an orthogonal ({q}, {q}) matrix")
        W = W @ R
    return PPCA(W=W, mu=mu, sigma2=sigma2, eigenvalues=lam)


def ppca_max_log_likelihood(eigenvalues, q, n):
    """The maximised pPCA log-likelihood, from the eigenvalues alone. Lesson 07.

    ``log L = -n/2 [d ln 2 pi + sum_{j<=q} ln l_j + (d-q) ln sigma2_ML + d]``.

    Parameters
    ----------
    eigenvalues : array_like, shape (d,)
        Sample-covariance eigenvalues (any order).
    q : int
    n : int
        Number of examples.

    Returns
    -------
    float
        Total log-likelihood in nats (divide by ``n`` for nats per example).
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1]
    if lam.ndim != 1 or np.any(lam < 0) or not np.all(np.isfinite(lam)):
        raise ValueError("argument 'eigenvalues' must be a 1-D array of nonnegative numbers")
    d = lam.size
    q = _check_q(q, d - 1)
    sigma2 = lam[q:].mean()
    if lam[q - 1] <= 0 or sigma2 <= 0:
        raise ValueError("argument 'eigenvalues': the q largest and their tail mean must be > 0")
    return float(-n / 2 * (d * _LOG_2PI + np.log(lam[:q]).sum() + (d - q) * np.log(sigma2) + d))


def ppca_log_likelihood(x, W, mu, sigma2):
    """Exact ``log p(x)`` under pPCA, per example: ``log N(x; mu, C)``, ``C = W W^T + sigma2 I``.

    Lesson 07. Works for any ``W``, ``mu``, ``sigma2`` (not only the maximum-likelihood ones).

    Parameters
    ----------
    x : array_like, shape (n, d)
    W : array_like, shape (d, q)
    mu : array_like, shape (d,)
    sigma2 : float

    Returns
    -------
    ndarray, shape (n,)
        Nats per example.
    """
    x = _as_data(x)
    d = x.shape[1]
    W, mu, sigma2 = _check_W(W, d), _check_mu(mu, d), _check_sigma2(sigma2)
    C = W @ W.T + sigma2 * np.eye(d)
    try:
        L = np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"arguments 'W' and 'sigma2': W W^T + sigma2 I is not positive definite in float64 "
            f"(sigma2 = {sigma2:.3g} is too small next to W's scale)"
        ) from None
    r = np.linalg.solve(L, (x - mu).T)  # (d, n)
    logdet = 2 * np.log(np.diag(L)).sum()
    return -0.5 * (d * _LOG_2PI + logdet + (r**2).sum(axis=0))


# --- the linear VAE -------------------------------------------------------------------------------


class LinearVAE(NamedTuple):
    """Parameters of a linear VAE: decoder ``N(W z + mu, sigma2 I)``, encoder ``N(V (x-mu), D)``.

    ``D`` has shape ``(q,)`` (diagonal posterior covariance, as a VAE's encoder gives) or
    ``(q, q)`` (full covariance).
    """

    W: np.ndarray
    V: np.ndarray
    D: np.ndarray
    mu: np.ndarray
    sigma2: float


def _elbo_parts(x, W, V, D, mu, sigma2):
    """Per-example reconstruction term and KL per latent dimension (or total for full D).

    ``D`` is the encoder's covariance, Psi in lesson 07 (the argument keeps Lucas et al.'s name);
    ``x_dim`` is the pixel count, the lesson's D; the latent size is d.
    """
    xc = x - mu
    x_dim = x.shape[1]
    m = xc @ V.T  # (n, d) posterior means
    resid = xc - m @ W.T
    Psi = np.diag(D) if D.ndim == 1 else D
    trace_w_psi_w = np.trace(W @ Psi @ W.T)
    rec = -0.5 * x_dim * np.log(2 * np.pi * sigma2) - ((resid**2).sum(axis=1) + trace_w_psi_w) / (
        2 * sigma2
    )
    if D.ndim == 1:
        kl = 0.5 * (D + m**2 - 1.0 - np.log(D))  # (n, d)
    else:
        kl = 0.5 * (np.trace(D) + (m**2).sum(axis=1) - D.shape[0] - np.linalg.slogdet(D)[1])
    return rec, kl


def linear_vae_elbo(x, W, V, D, mu, sigma2):
    """Exact ELBO of the linear VAE (Lucas et al. 2019), per example. Lesson 07.

    With ``x~ = x - mu``, ``m = V x~`` and ``q(z|x) = N(m, D)``:

    ``E_q log p(x|z) = -d/2 ln(2 pi sigma2) - (||x~ - W m||^2 + tr(W D W^T)) / (2 sigma2)``,
    ``KL(q || N(0, I)) = 1/2 (tr D + ||m||^2 - q - ln det D)``.

    Parameters
    ----------
    x : array_like, shape (n, d)
    W : array_like, shape (d, q)
    V : array_like, shape (q, d)
    D : array_like, shape (q,) or (q, q)
        Posterior variances (diagonal) or covariance (full).
    mu : array_like, shape (d,)
    sigma2 : float

    Returns
    -------
    ndarray, shape (n,)
        ELBO in nats per example.
    """
    x = _as_data(x)
    d = x.shape[1]
    W, mu, sigma2 = _check_W(W, d), _check_mu(mu, d), _check_sigma2(sigma2)
    V, D = _check_encoder(V, D, d, W.shape[1])
    rec, kl = _elbo_parts(x, W, V, D, mu, sigma2)
    return rec - (kl.sum(axis=1) if kl.ndim == 2 else kl)


def kl_per_dimension(x, V, D, mu):
    """Batch-mean ``KL(q(z_j|x) || N(0, 1))`` of each latent dimension, diagonal ``D``. Lesson 07.

    ``1/2 (D_j + mean_x m_j^2 - 1 - ln D_j)``; a collapsed dimension has KL = 0
    (``V_j = 0``, ``D_j = 1``: the posterior equals the prior).

    Returns
    -------
    ndarray, shape (q,)
        Nats per example.
    """
    x = _as_data(x)
    d = x.shape[1]
    mu = _check_mu(mu, d)
    V, D = _check_encoder(V, D, d, np.asarray(V).shape[0])
    if D.ndim != 1:
        raise ValueError("argument 'D' must be diagonal, shape (q,), for a KL per dimension")
    m = (x - mu) @ V.T
    return 0.5 * (D + (m**2).mean(axis=0) - 1.0 - np.log(D))


def linear_vae_elbo_mc(x, W, V, D, mu, sigma2, eps):
    """Monte Carlo ELBO of the linear VAE with the reparameterisation ``z = m + D^{1/2} eps``.

    The estimator a nonlinear VAE would use, to check :func:`linear_vae_elbo` against (lesson 07):
    ``log N(x; W z + mu, sigma2 I) - KL`` averaged over the samples (the KL stays analytic).

    Parameters
    ----------
    eps : array_like, shape (L, n, q)
        Standard-normal noise.

    Returns
    -------
    ndarray, shape (L, n)
        One single-sample ELBO estimate per noise draw and example, in nats.
    """
    x = _as_data(x)
    n, d = x.shape
    W, mu, sigma2 = _check_W(W, d), _check_mu(mu, d), _check_sigma2(sigma2)
    q = W.shape[1]
    V, D = _check_encoder(V, D, d, q)
    eps = np.asarray(eps, dtype=np.float64)
    if eps.ndim != 3 or eps.shape[1:] != (n, q):
        raise ValueError(f"argument 'eps' must have shape (L, {n}, {q}), got {eps.shape}")
    m = (x - mu) @ V.T
    if D.ndim == 1:
        z = m + np.sqrt(D) * eps
    else:
        z = m + eps @ np.linalg.cholesky(D).T
    resid = x - mu - z @ W.T
    log_px = -0.5 * d * np.log(2 * np.pi * sigma2) - (resid**2).sum(axis=-1) / (2 * sigma2)
    _, kl = _elbo_parts(x, W, V, D, mu, sigma2)
    return log_px - (kl.sum(axis=1) if kl.ndim == 2 else kl)


def linear_vae_grads(x, W, V, log_D, mu, log_sigma2):
    """Mean ELBO of the linear VAE and its gradients, written by hand. Lesson 07.

    With the sample covariance ``S`` about ``mu`` (the data mean) and ``A = I - W V``:

    ``ELBO = -d/2 ln(2 pi sigma2) - [tr(A S A^T) + tr(W D W^T)] / (2 sigma2)
    - 1/2 [tr D + tr(V S V^T) - q - sum ln D]``;

    ``dW = (A S V^T - W D) / sigma2``,  ``dV = W^T A S / sigma2 - V S``,
    ``d log D_j = D_j (1/D_j - 1 - (W^T W)_jj / sigma2) / 2``,
    ``d log sigma2 = -d/2 + R / (2 sigma2)`` with ``R`` the bracketed reconstruction error.

    Parameters
    ----------
    x : array_like, shape (n, d)
    W : (d, q); V : (q, d); log_D : (q,); mu : (d,) (use the data mean); log_sigma2 : float

    Returns
    -------
    elbo : float
        Mean ELBO, nats per example.
    grads : dict
        ``{"W", "V", "log_D", "log_sigma2"}``: gradients of the mean ELBO (ascent directions).
    """
    x = _as_data(x)
    d = x.shape[1]
    W, mu = _check_W(W, d), _check_mu(mu, d)
    log_D = np.asarray(log_D, dtype=np.float64)
    V, _ = _check_encoder(V, np.exp(log_D), d, W.shape[1])
    xc = x - mu
    return _grads_from_covariance(xc.T @ xc / x.shape[0], W, V, log_D, log_sigma2)


def _grads_from_covariance(S, W, V, log_D, log_sigma2):
    """:func:`linear_vae_grads` given the second-moment matrix ``S`` of ``x - mu``."""
    d, q = W.shape
    D = np.exp(log_D)
    sigma2 = float(np.exp(log_sigma2))
    A = np.eye(d) - W @ V
    AS = A @ S
    R = np.sum(AS * A) + np.sum((W * D) * W)  # tr(A S A^T) + tr(W D W^T)
    VS = V @ S
    kl = 0.5 * (D.sum() + np.sum(VS * V) - q - log_D.sum())
    elbo = -0.5 * d * np.log(2 * np.pi * sigma2) - R / (2 * sigma2) - kl
    grads = {
        "W": (AS @ V.T - W * D) / sigma2,
        "V": W.T @ AS / sigma2 - VS,
        "log_D": 0.5 * (1.0 - D - D * (W * W).sum(axis=0) / sigma2),
        "log_sigma2": -0.5 * d + R / (2 * sigma2),
    }
    return float(elbo), grads


def linear_vae_at_posterior(model):
    """The linear VAE whose encoder is pPCA's exact posterior (full covariance). Lesson 07.

    ``V = M^-1 W^T``, ``D = sigma2 M^-1``. Its ELBO equals the pPCA log-likelihood, because
    the gap ``KL(q || p(z|x))`` is zero.

    Parameters
    ----------
    model : PPCA

    Returns
    -------
    LinearVAE
    """
    W, sigma2 = model.W, model.sigma2
    M = W.T @ W + sigma2 * np.eye(W.shape[1])
    Minv = np.linalg.inv(M)
    return LinearVAE(W=W, V=Minv @ W.T, D=sigma2 * Minv, mu=model.mu, sigma2=sigma2)


def fit_linear_vae(x, q, *, sigma2=None, method="coordinate", seed=0, max_iter=20000, tol=1e-12):
    """Train a linear VAE (diagonal ``D``) by maximising its exact mean ELBO. Lesson 07.

    Full batch; ``mu`` is the data mean (its optimum). Initial ``W`` is a small draw from
    ``numpy.random.default_rng(seed)``. Two methods:

    ``"coordinate"`` (default)
        Block coordinate ascent. The ELBO is concave in each block with the others fixed, and
        setting each gradient of :func:`linear_vae_grads` to zero gives the update in closed form:
        ``V = M^-1 W^T`` (``M = W^T W + sigma2 I``), ``D_j = sigma2 / (sigma2 + ||w_j||^2)``,
        ``W = S V^T (V S V^T + D)^-1``, ``sigma2 = R / d``. The ELBO never decreases.
    ``"lbfgs"``
        ``scipy.optimize.minimize`` (L-BFGS-B) on all parameters with the hand-written gradients.

    Parameters
    ----------
    x : array_like, shape (n, d)
    q : int
    sigma2 : float, optional
        Fixed decoder variance; ``None`` learns it.
    method : {"coordinate", "lbfgs"}
    seed : int
    max_iter : int
    tol : float
        Stop when the mean ELBO rises by less than ``tol`` nats over 10 sweeps (coordinate), or
        ``gtol``/``ftol`` (L-BFGS).

    Returns
    -------
    model : LinearVAE
    elbo : float
        Final mean ELBO, nats per example.
    """
    x = _as_data(x)
    d = x.shape[1]
    q = _check_q(q, d)
    if method not in ("coordinate", "lbfgs"):
        raise ValueError(f"argument 'method' is {method!r}; expected 'coordinate' or 'lbfgs'")
    learn_sigma = sigma2 is None
    s2 = 1.0 if learn_sigma else _check_sigma2(sigma2)
    mu = x.mean(axis=0)
    xc = x - mu
    S = xc.T @ xc / x.shape[0]
    rng = np.random.default_rng(seed)
    W = 0.1 * rng.standard_normal((d, q))
    if method == "coordinate":
        prev = -np.inf
        eye_q, eye_d = np.eye(q), np.eye(d)
        for it in range(max_iter):
            V = np.linalg.solve(W.T @ W + s2 * eye_q, W.T)
            D = s2 / (s2 + (W * W).sum(axis=0))
            VS = V @ S
            W = np.linalg.solve(VS @ V.T + np.diag(D), VS).T
            if learn_sigma:
                A = eye_d - W @ V
                s2 = float(np.sum((A @ S) * A) + np.sum((W * D) * W)) / d
            if it % 10 == 9 or it == max_iter - 1:
                elbo, _ = _grads_from_covariance(S, W, V, np.log(D), np.log(s2))
                if elbo - prev < tol:
                    break
                prev = elbo
        fit_linear_vae.n_iter = it + 1
        return LinearVAE(W=W, V=V, D=D, mu=mu, sigma2=s2), float(elbo)

    from scipy.optimize import minimize

    V0 = 0.1 * rng.standard_normal((q, d))
    theta0 = np.concatenate([W.ravel(), V0.ravel(), np.zeros(q), [np.log(s2)]])

    def unpack(theta):
        W = theta[: d * q].reshape(d, q)
        V = theta[d * q : 2 * d * q].reshape(q, d)
        log_D = theta[2 * d * q : 2 * d * q + q]
        return W, V, log_D, theta[-1]

    def objective(theta):
        W, V, log_D, ls2 = unpack(theta)
        elbo, g = _grads_from_covariance(S, W, V, log_D, ls2)
        gs2 = g["log_sigma2"] if learn_sigma else 0.0
        flat = np.concatenate([g["W"].ravel(), g["V"].ravel(), g["log_D"], [gs2]])
        return -elbo, -flat

    res = minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": tol, "maxcor": 30},
    )
    W, V, log_D, ls2 = unpack(res.x)
    fit_linear_vae.n_iter = int(res.nit)
    model = LinearVAE(W=W, V=V, D=np.exp(log_D), mu=mu, sigma2=float(np.exp(ls2)))
    return model, float(-res.fun)


def average_pool(x, image_shape=(8, 8), factor=2):
    """Average ``factor x factor`` blocks of pixels: 8x8 digits -> 4x4 (``(n, 64) -> (n, 16)``).

    Lesson 07 uses the 16-pixel digits where an exact model is optimised many times.
    """
    x = _as_data(x)
    h, w = image_shape
    if x.shape[1] != h * w or h % factor or w % factor:
        raise ValueError(
            f"argument 'x' must have shape (n, {h * w}) with image sides divisible by {factor}"
        )
    n = x.shape[0]
    out = x.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))
    return out.reshape(n, -1)


# --- collapse -------------------------------------------------------------------------------------


def predicted_collapsed(eigenvalues, q, sigma2):
    """How many of the ``q`` latent dimensions collapse: ``#{j <= q : l_j <= sigma2}``. Lesson 07.

    At the optimum with a fixed decoder variance ``sigma2``, latent direction ``j`` carries the
    ``j``-th largest data eigenvalue ``l_j``; its column of ``W`` is ``sqrt(max(l_j - sigma2, 0))``
    times an eigenvector, so it is zero (the dimension collapses) when ``l_j <= sigma2``.
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1]
    if lam.ndim != 1 or not 1 <= q <= lam.size:
        raise ValueError(f"argument 'q' must be in [1, {lam.size}], got {q!r}")
    return int(np.sum(lam[:q] <= _check_sigma2(sigma2)))


def count_collapsed(kl_per_dim, threshold=1e-2):
    """Number of latent dimensions whose KL (nats per example) is below ``threshold``. Lesson 07.

    The complement is the number of *active units* (Burda et al. 2015 use a variance criterion;
    for the linear VAE the KL criterion is exact: collapsed means KL = 0).
    """
    kl = np.asarray(kl_per_dim, dtype=np.float64)
    if kl.ndim != 1 or not np.all(np.isfinite(kl)):
        raise ValueError("argument 'kl_per_dim' must be a finite 1-D array")
    if threshold <= 0:
        raise ValueError(f"argument 'threshold' must be positive, got {threshold!r}")
    return int(np.sum(kl < threshold))


def diagonal_posterior_gap(W, sigma2):
    """ELBO lost by a diagonal (mean-field) posterior on pPCA, nats per example. Lesson 07.

    The exact posterior is ``N(m, Sigma)`` with precision ``P = Sigma^-1 = M / sigma2``. The best
    diagonal Gaussian keeps the mean and has variances ``1 / P_jj``; its ELBO is below
    ``log p(x)`` by ``KL(q_diag || p(z|x)) = 1/2 [sum_j ln P_jj - ln det P]`` (>= 0 by Hadamard's
    inequality; 0 exactly when ``W^T W`` is diagonal).

    Returns
    -------
    gap : float
    D_best : ndarray, shape (q,)
        The optimal diagonal variances ``1 / P_jj``.
    """
    W = _check_W(W)
    sigma2 = _check_sigma2(sigma2)
    P = (W.T @ W + sigma2 * np.eye(W.shape[1])) / sigma2
    gap = 0.5 * (np.log(np.diag(P)).sum() - np.linalg.slogdet(P)[1])
    return float(gap), 1.0 / np.diag(P)
