"""Derivations for lesson 02: linear autoencoders, PCA and the optimal linear denoiser.

* :func:`optimal_decoder_for_fixed_encoder`: for fixed codes the squared error is least squares
  in the decoder's weights; with matrices the minimiser ``(Z^T Z)^{-1} Z^T X`` makes the
  reconstruction an orthogonal projection of the data onto the span of the codes (Baldi & Hornik
  1989).
* :func:`best_line_is_an_eigenvector`: in two dimensions, the error of projecting onto a line is
  stationary exactly when the line is an eigenvector of the covariance, and smallest on the top
  one: why a linear autoencoder spans the top principal subspace.
* :func:`codes_are_not_identified`: rotating the codes (and counter-rotating the decoder) gives
  the same reconstructions.
* :func:`linear_denoiser_scale`: for ``x ~ N(0, s^2)`` seen as ``x + n``, ``n ~ N(0, sigma_n^2)``,
  the best scale is ``s^2 / (s^2 + sigma_n^2)`` (Vincent et al. 2010 for denoising autoencoders).
* :func:`noising_twice_is_noising_once`: two noising steps of a diffusion model,
  ``x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t``, are one step with signal fraction
  ``(1 - beta_1)(1 - beta_2)`` (Sohl-Dickstein et al. 2015; Ho et al. 2020).

Each function returns an unverified :class:`vaelearn.derive.Derivation`; call ``verify()``.
"""

from __future__ import annotations

import sympy as sp
from sympy.stats import Expectation, Normal

from vaelearn.derive import Derivation

__all__ = [
    "optimal_decoder_for_fixed_encoder",
    "best_line_is_an_eigenvector",
    "codes_are_not_identified",
    "linear_denoiser_scale",
    "noising_twice_is_noising_once",
]


def optimal_decoder_for_fixed_encoder() -> Derivation:
    """For fixed codes the best decoder weight is least squares: ``w* = S_zx / S_zz``. Lesson 02.

    One pixel ``x_i`` and one code ``z_i`` per example (centred, so no bias): minimising
    ``L(w) = sum_i (x_i - w z_i)^2`` gives ``w* = sum_i z_i x_i / sum_i z_i^2`` and the error left
    ``S_xx - S_zx^2 / S_zz``. With ``k`` code dimensions and ``D`` pixels the same computation with
    matrices gives the normal equations ``Z^T Z W = Z^T X``, so ``W* = (Z^T Z)^{-1} Z^T X`` and the
    reconstruction ``Z W*`` is the orthogonal projection of the data onto the span of the codes
    (:func:`vaelearn.autoencoders.optimal_decoder` computes it; the unit tests compare the two).
    """
    i = sp.Idx("i")
    n = sp.Symbol("n", integer=True, positive=True)
    x = sp.IndexedBase("x", real=True)
    z = sp.IndexedBase("z", real=True)
    w = sp.Symbol("w", real=True)
    s_xx, s_zx = sp.symbols("S_xx S_zx", real=True)
    s_zz = sp.Symbol("S_zz", positive=True)
    loss = sp.Function("L")(w)
    sum_xx = sp.Sum(x[i] ** 2, (i, 1, n))
    sum_zx = sp.Sum(z[i] * x[i], (i, 1, n))
    sum_zz = sp.Sum(z[i] ** 2, (i, 1, n))
    d = Derivation(
        "The best decoder for a fixed encoder",
        assumptions=["one centred pixel x_i and one code z_i per example, i = 1..n",
                     "not all codes are zero, so S_zz > 0"],
    )
    d.step("The decoder's squared error over the data set, for codes that are held fixed.",
           sp.Eq(loss, sp.Sum((x[i] - w * z[i]) ** 2, (i, 1, n))), rule="definition")
    d.step("Expand the square and split the sum.",
           sp.Eq(loss, sum_xx - 2 * w * sum_zx + w**2 * sum_zz))
    d.step("Name the three sums S_xx, S_zx, S_zz: the loss is a parabola in w.",
           sp.Eq(loss, s_xx - 2 * w * s_zx + w**2 * s_zz), rule="substitute",
           subs={sum_xx: s_xx, sum_zx: s_zx, sum_zz: s_zz})
    d.step("Its only stationary point w* = S_zx / S_zz (the least-squares slope) is the minimum; "
           "the error left there is",
           sp.Eq(sp.Function("L")(s_zx / s_zz), s_xx - s_zx**2 / s_zz),
           rule="minimum", wrt=w, at=s_zx / s_zz)
    return d


def best_line_is_an_eigenvector() -> Derivation:
    """In 2-D, the error of projecting onto ``u = (cos t, sin t)`` is least on the top eigenvector.

    For centred data with covariance ``Sigma = [[a, b], [b, c]]``, projecting onto the line through
    a unit vector ``u`` costs ``E ||x - u u^T x||^2 = tr Sigma - u^T Sigma u``. Its derivative in
    ``t`` is twice the 2-D cross product of ``Sigma u`` and ``u``, zero exactly when ``u`` is an
    eigenvector; in the eigenbasis (``b = 0``, ``a = c + delta``, ``delta > 0``) the error is
    ``c + delta sin^2 t``: stationary at ``t = 0`` (the top eigenvector, the minimum ``c``) and at
    ``t = +-pi/2`` (the other eigenvector, the maximum ``c + delta``). Both are checked, each on an
    open interval, and the two intervals together hold every line; the last step shows
    ``E >= c`` for every angle without any interval. Lesson 02.
    """
    t = sp.Symbol("alpha", real=True)
    a, b = sp.symbols("a b", real=True)
    c, delta = sp.symbols("c delta", positive=True)
    err = sp.Function("E")(t)
    d_err = sp.Derivative(err, t)
    u = sp.Matrix([sp.cos(t), sp.sin(t)])
    sigma = sp.Matrix([[a, b], [b, c]])
    sigma_u = sigma * u
    d = Derivation(
        "The best line is an eigenvector",
        assumptions=["centred 2-D data with covariance [[a, b], [b, c]]",
                     "the line through u = (cos alpha, sin alpha)"],
    )
    d.step("Mean squared error of projecting onto the line: total variance minus the variance "
           "u^T Sigma u that the line keeps.",
           sp.Eq(err, a + c - (a * sp.cos(t) ** 2 + 2 * b * sp.sin(t) * sp.cos(t)
                               + c * sp.sin(t) ** 2)), rule="definition")
    d.step("Using cos^2 + sin^2 = 1 and 2 sin cos = sin 2alpha:",
           sp.Eq(err, a * sp.sin(t) ** 2 + c * sp.cos(t) ** 2 - b * sp.sin(2 * t)))
    d.step("Differentiate with respect to the angle.",
           sp.Eq(d_err, (a - c) * sp.sin(2 * t) - 2 * b * sp.cos(2 * t)), rule="diff", wrt=t)
    d.step("This is twice the cross product of Sigma u and u: zero exactly when Sigma u is "
           "parallel to u, i.e. when u is an eigenvector of Sigma.",
           sp.Eq(d_err, 2 * (sigma_u[0] * u[1] - sigma_u[1] * u[0])))
    d.step("In the eigenbasis the covariance is diagonal (b = 0); let the first eigenvalue be the "
           "larger one, a = c + delta with delta > 0.",
           sp.Eq(err, (c + delta) * sp.sin(t) ** 2 + c * sp.cos(t) ** 2),
           rule="substitute", subs={b: 0, a: c + delta}, ref=2)
    d.step("Since cos^2 = 1 - sin^2, the error is the smaller eigenvalue plus delta sin^2 alpha.",
           sp.Eq(err, c + delta * sp.sin(t) ** 2))
    d.step("Differentiate: the slope delta sin 2alpha vanishes where sin 2alpha = 0, which on the "
           "half-turn [-pi/2, pi/2] of distinct lines is alpha = 0 (the top eigenvector) and "
           "alpha = +-pi/2 (one line, the other eigenvector): two stationary lines.",
           sp.Eq(d_err, delta * sp.sin(2 * t)), rule="diff", wrt=t)
    d.step("On (0, pi) the only stationary point is alpha = pi/2, the other eigenvector, and the "
           "second derivative 2 delta cos 2alpha = -2 delta < 0 there: the worst line, leaving "
           "the larger eigenvalue.",
           sp.Eq(sp.Function("E")(sp.pi / 2), c + delta), rule="maximum", wrt=t, at=sp.pi / 2,
           domain=sp.Interval.open(0, sp.pi), ref=6)
    d.step("On (-pi/2, pi/2) the only stationary point is alpha = 0, the top eigenvector, and "
           "2 delta > 0 there: the best line, leaving the smaller eigenvalue. The two intervals "
           "together hold every line, so these are all the stationary lines.",
           sp.Eq(sp.Function("E")(0), c), rule="minimum", wrt=t, at=0,
           domain=sp.Interval.open(-sp.pi / 2, sp.pi / 2), ref=6)
    d.step("Without any interval: E(alpha) - c = delta sin^2 alpha >= 0 for every angle, so no "
           "line does better than the top eigenvector.",
           c, rule="ge", gap=delta * sp.sin(t) ** 2, ref=6)
    return d


def codes_are_not_identified() -> Derivation:
    """Codes ``z R`` decoded by ``R^T W_d`` reconstruct exactly as ``z`` by ``W_d``. Lesson 02.

    Two code dimensions, one output pixel with decoder weights ``(w_1, w_2)`` and the rotation
    ``R = [[cos phi, -sin phi], [sin phi, cos phi]]`` (``R^{-1} = R^T``); every pixel is the same
    computation, and any invertible ``R`` works the same way with ``R^{-1}``.
    """
    phi = sp.Symbol("phi", real=True)
    z1, z2, w1, w2 = sp.symbols("z_1 z_2 w_1 w_2", real=True)
    c, s = sp.cos(phi), sp.sin(phi)
    x_hat = sp.Symbol(r"\hat{x}'")
    rotated_codes = (z1 * c + z2 * s, -z1 * s + z2 * c)  # z R
    rotated_weights = (c * w1 + s * w2, -s * w1 + c * w2)  # R^T (w_1, w_2)
    d = Derivation("Rotated codes reconstruct the same",
                   assumptions=["codes (z_1, z_2)", "decoder weights (w_1, w_2) of one pixel"])
    d.step("Encoder weights W_e R give codes z R; decoder weights R^T W_d decode them to",
           sp.Eq(x_hat, rotated_codes[0] * rotated_weights[0]
                 + rotated_codes[1] * rotated_weights[1]), rule="definition")
    d.step("cos^2 + sin^2 = 1 (R R^T = I): the reconstruction is z W_d, whatever the angle.",
           sp.Eq(x_hat, z1 * w1 + z2 * w2))
    return d


def linear_denoiser_scale() -> Derivation:
    """``argmin_a E (x - a (x + n))^2 = s^2 / (s^2 + sigma_n^2)``. Lesson 02.

    ``x ~ N(0, s^2)`` and ``n ~ N(0, sigma_n^2)`` independent. The expectation is computed by
    ``sympy.stats`` when the step is checked, so step 2 is verified, not assumed. The minimum risk
    is ``s^2 sigma_n^2 / (s^2 + sigma_n^2)``.
    """
    a = sp.Symbol("a", real=True)
    s, sigma_n = sp.symbols("s sigma_n", positive=True)
    x = Normal("x", 0, s)
    n = Normal("n", 0, sigma_n)
    risk = sp.Function("R")(a)
    a_star = s**2 / (s**2 + sigma_n**2)
    d = Derivation(
        "The optimal linear denoiser",
        assumptions=["x ~ N(0, s^2) and n ~ N(0, sigma_n^2) independent",
                     "we observe y = x + n and estimate x by a y"],
    )
    d.step("The mean squared error (risk) of the estimate a y.",
           sp.Eq(risk, Expectation((x - a * (x + n)) ** 2)), rule="definition")
    d.step("Expand the square and take expectations: E[x^2] = s^2, E[n^2] = sigma_n^2, and "
           "E[x n] = 0 by independence.",
           sp.Eq(risk, (1 - a) ** 2 * s**2 + a**2 * sigma_n**2))
    d.step("The risk is a parabola in a; its derivative is",
           sp.Eq(sp.Derivative(risk, a), 2 * a * (s**2 + sigma_n**2) - 2 * s**2),
           rule="diff", wrt=a)
    d.step("The only stationary point, a = s^2 / (s^2 + sigma_n^2), is the minimum; the risk "
           "there is", sp.Eq(sp.Function("R")(a_star), s**2 * sigma_n**2 / (s**2 + sigma_n**2)),
           rule="minimum", wrt=a, at=a_star, ref=2)
    return d


def noising_twice_is_noising_once() -> Derivation:
    """Two noising steps are one: signal ``sqrt((1 - b_1)(1 - b_2)) x_0``, noise variance
    ``1 - (1 - b_1)(1 - b_2)``. Lesson 02.

    The forward process of a diffusion model takes ``x_t = sqrt(1 - b_t) x_{t-1} + sqrt(b_t) e_t``
    with independent ``e_t ~ N(0, 1)``. Substituting the first step into the second, the noise
    part is a sum of two independent centred Gaussians, so it is Gaussian with the sum of their
    variances (the mean square is computed by ``sympy.stats`` when the step is checked). By
    induction ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) e`` with
    ``alpha_bar_t = prod_s (1 - b_s)`` (:func:`vaelearn.autoencoders.cumulative_signal_fraction`).
    """
    b1, b2 = sp.symbols("beta_1 beta_2", positive=True)
    x0, x1, x2, v = sp.symbols("x_0 x_1 x_2 V", real=True)
    e1 = Normal("epsilon_1", 0, 1)
    e2 = Normal("epsilon_2", 0, 1)
    first = sp.sqrt(1 - b1) * x0 + sp.sqrt(b1) * e1
    noise = sp.sqrt(1 - b2) * sp.sqrt(b1) * e1 + sp.sqrt(b2) * e2
    d = Derivation(
        "Two noising steps are one",
        assumptions=["0 < beta_1, beta_2 < 1",
                     "epsilon_1, epsilon_2 ~ N(0, 1) independent, and independent of x_0"],
    )
    d.step("The first step.", sp.Eq(x1, first), rule="definition")
    d.step("The second step, applied to x_1.",
           sp.Eq(x2, sp.sqrt(1 - b2) * x1 + sp.sqrt(b2) * e2), rule="given")
    d.step("Substitute the first step: the signal is scaled by both factors, and two noise terms "
           "add up.", sp.Eq(x2, sp.sqrt(1 - b1) * sp.sqrt(1 - b2) * x0 + noise), rule="substitute",
           subs={x1: first})
    d.step("The noise part, a sum of independent centred Gaussians, is a centred Gaussian; its "
           "variance is its mean square.", sp.Eq(v, Expectation(noise**2)), rule="definition")
    d.step("Variances of independent terms add.", sp.Eq(v, (1 - b2) * b1 + b2))
    d.step("Which is one minus the signal fraction (1 - beta_1)(1 - beta_2).",
           sp.Eq(v, 1 - (1 - b1) * (1 - b2)))
    return d
