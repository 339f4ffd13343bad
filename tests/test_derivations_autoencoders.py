"""vaelearn.derivations.autoencoders: lesson 02's derivations say the right thing and fail when a
step is wrong (that each verifies and renders: the catalogue, tests/test_derivations.py).

Besides ``verify()``, each result is compared with an independent oracle: the decoder weight
with vaelearn.autoencoders.optimal_decoder (numpy), the rotation with numpy, the denoiser's
scale with vaelearn.autoencoders and a Monte Carlo risk, the best line with numpy's
eigendecomposition.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from vaelearn.autoencoders import optimal_decoder, optimal_linear_denoiser_scale
from vaelearn.derivations import autoencoders as A
from vaelearn.derive import DerivationError


def _break(d, index, expr):
    """The derivation with step ``index`` (0-based) given a different expression."""
    d.steps[index] = dataclasses.replace(d.steps[index], expr=expr)
    return d


def test_a_wrong_denoiser_scale_fails():
    d = A.linear_denoiser_scale()
    a_wrong = sp.Symbol("s", positive=True) / 2
    step = d.steps[-1]
    d.steps[-1] = dataclasses.replace(step, options={**step.options, "at": a_wrong})
    with pytest.raises(DerivationError, match="step 4"):
        d.verify()


def test_a_wrong_expectation_fails():
    d = A.linear_denoiser_scale()
    risk, a = d.steps[1].expr.lhs, sp.Symbol("a", real=True)
    s = sp.Symbol("s", positive=True)
    # Forgetting the noise term a^2 sigma_n^2 must not pass: the expectation is really computed.
    with pytest.raises(DerivationError, match="step 2"):
        _break(d, 1, sp.Eq(risk, (1 - a) ** 2 * s**2)).verify()


def test_a_wrong_decoder_fails():
    d = A.optimal_decoder_for_fixed_encoder()
    step = d.steps[-1]
    s_zx, s_zz = sp.Symbol("S_zx", real=True), sp.Symbol("S_zz", positive=True)
    assert step.options["at"] == s_zx / s_zz
    d.steps[-1] = dataclasses.replace(step, options={**step.options, "at": s_zx / (2 * s_zz)})
    with pytest.raises(DerivationError, match="step 4"):
        d.verify()
    # Dropping the factor 2 of the cross term when expanding the square must not pass either.
    d = A.optimal_decoder_for_fixed_encoder()
    w = sp.Symbol("w", real=True)
    lhs, rhs = d.steps[1].expr.lhs, d.steps[1].expr.rhs
    cross = [t for t in rhs.args if t.has(sp.Sum) and sp.degree(t.subs({s: 1 for s in
             t.atoms(sp.Sum)}), w) == 1][0]
    with pytest.raises(DerivationError, match="step 2"):
        _break(d, 1, sp.Eq(lhs, rhs - cross / 2)).verify()


def test_a_wrong_rotation_fails():
    d = A.codes_are_not_identified()
    z1, z2, w1, w2 = sp.symbols("z_1 z_2 w_1 w_2", real=True)
    with pytest.raises(DerivationError, match="step 2"):
        _break(d, 1, sp.Eq(d.steps[1].expr.lhs, z1 * w1 - z2 * w2)).verify()


def test_a_wrong_minimum_of_the_line_fails():
    d = A.best_line_is_an_eigenvector()
    step = d.steps[8]
    assert step.rule == "minimum"
    d.steps[8] = dataclasses.replace(step, options={**step.options, "at": sp.pi / 4})
    with pytest.raises(DerivationError, match="step 9"):
        d.verify()


def test_the_line_derivation_names_both_stationary_lines():
    # Lesson 02 once said "the only stationary point is theta = 0" and passed only because the
    # domain (-pi/2, pi/2) left out theta = pi/2, the other eigenvector (a maximum). Both must be
    # checked, and the global bound E >= c must not rely on any interval.
    d = A.best_line_is_an_eigenvector().verify()
    rules = [s.rule for s in d.steps]
    assert rules[-3:] == ["maximum", "minimum", "ge"]
    assert d.steps[-3].options["at"] == sp.pi / 2 and d.steps[-2].options["at"] == 0
    assert "domain" not in d.steps[-1].options
    c, delta = sp.Symbol("c", positive=True), sp.Symbol("delta", positive=True)
    assert d.steps[-3].expr.rhs == c + delta and d.steps[-2].expr.rhs == c
    assert d.conclusion.rhs == c
    # a false global bound (E >= c + delta) is rejected
    bad = A.best_line_is_an_eigenvector()
    bad.steps[-1] = dataclasses.replace(bad.steps[-1], expr=c + delta, options={"ref": 6})
    with pytest.raises(DerivationError, match="step 10"):
        bad.verify()


def test_decoder_result_matches_least_squares_per_pixel():
    # The derivation's w* = S_zx / S_zz and error S_xx - S_zx^2 / S_zz, on centred data, against
    # vaelearn.autoencoders.optimal_decoder (numpy.linalg.solve) and a direct evaluation of the
    # error.
    d = A.optimal_decoder_for_fixed_encoder().verify()
    s_xx, s_zx = sp.symbols("S_xx S_zx", real=True)
    s_zz = sp.Symbol("S_zz", positive=True)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 1))
    x = 0.7 * z + rng.normal(size=(40, 1))
    zc, xc = z - z.mean(), x - x.mean()
    sums = {s_xx: float(np.sum(xc * xc)), s_zx: float(np.sum(zc * xc)),
            s_zz: float(np.sum(zc * zc))}
    w_star = float(d.steps[-1].options["at"].subs(sums))
    w_lib, _ = optimal_decoder(z, x)
    assert w_star == pytest.approx(w_lib[0, 0], rel=1e-12)
    error = float(d.steps[-1].expr.rhs.subs(sums))
    assert error == pytest.approx(float(np.sum((xc - w_star * zc) ** 2)), rel=1e-12)


def test_rotation_result_matches_numpy():
    rng = np.random.default_rng(3)
    z, w = rng.normal(size=(1, 2)), rng.normal(size=(2, 5))
    phi = 0.9
    r = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
    np.testing.assert_allclose((z @ r) @ (r.T @ w), z @ w, atol=1e-14)


def test_denoiser_result_matches_library_and_monte_carlo():
    d = A.linear_denoiser_scale().verify()
    s, sigma_n = sp.symbols("s sigma_n", positive=True)
    a_star = d.steps[-1].options["at"]
    for sv, nv in ((1.0, 1.0), (2.0, 0.5), (0.3, 1.7)):
        value = float(a_star.subs({s: sv, sigma_n: nv}))
        assert value == pytest.approx(optimal_linear_denoiser_scale(sv**2, nv**2), rel=1e-14)
    # Minimum risk s^2 sigma^2 / (s^2 + sigma^2) against a Monte Carlo estimate (s = 2, sigma =
    # 0.5): 200000 draws give a relative standard error of ~0.3%; allow 2%.
    rng = np.random.default_rng(1)
    x = 2.0 * rng.standard_normal(200000)
    y = x + 0.5 * rng.standard_normal(200000)
    mc = np.mean((x - optimal_linear_denoiser_scale(4.0, 0.25) * y) ** 2)
    exact = float(d.steps[-1].expr.rhs.subs({s: 2.0, sigma_n: 0.5}))
    assert mc == pytest.approx(exact, rel=0.02)


def test_best_line_is_the_top_eigenvector_numerically():
    rng = np.random.default_rng(2)
    m = rng.normal(size=(2, 2))
    cov = m @ m.T
    theta = np.linspace(-np.pi / 2, np.pi / 2, 200001)
    u = np.stack([np.cos(theta), np.sin(theta)])
    err = np.trace(cov) - np.einsum("in,ij,jn->n", u, cov, u)  # the derivation's step 1
    evals, evecs = np.linalg.eigh(cov)
    best = u[:, np.argmin(err)]
    # Grid step 1.6e-5 rad: the best grid line is within that of the top eigenvector.
    assert abs(abs(best @ evecs[:, 1]) - 1) < 1e-8
    assert err.min() == pytest.approx(evals[0], rel=1e-8)
