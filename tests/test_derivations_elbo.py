"""The derivations of lessons 04-05 agree with independent numbers (that each verifies: the
catalogue, tests/test_derivations.py)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import oracles as O
import pytest
import sympy as sp

from vaelearn import elbo, likelihoods
from vaelearn.derivations import elbo as D


def _value(d, **values):
    """Evaluate the last step's running value with symbols (by name) replaced by numbers."""
    expr = d.steps[-1].value
    subs = {s: values[s.name] for s in expr.free_symbols if s.name in values}
    return float(expr.subs(subs).evalf())


def test_exact_decomposition_matches_fact_numbers():
    # x = 1, q = N(0, 1): ELBO + KL = log p(x) = -(1/2) ln(4 pi) - 1/4 (x ~ N(0, 2)),
    # typed to 7 decimals in tests/oracles.py
    d = D.elbo_decomposition_exact()
    assert abs(_value(d, x=1.0, m=0.0, v=1.0) - O.LOG_EVIDENCE_X1) < 1e-7
    # and agrees with the library's closed forms for other guides
    model = elbo.LinearGaussian()
    for x, m, v in [(1.0, 0.3, 0.2), (-2.0, 1.0, 3.0)]:
        assert abs(_value(d, x=x, m=m, v=v) - model.log_evidence(x)) < 1e-12


def test_posterior_factorisation_numerically():
    d = D.linear_gaussian_posterior()
    rhs = d.steps[-1].value
    x, z = sorted(rhs.free_symbols, key=lambda s: s.name)
    for xv, zv in [(1.0, 0.2), (-0.7, 1.5)]:
        val = float(rhs.subs({x: xv, z: zv}))
        model = elbo.LinearGaussian()
        assert abs(math.log(val) - model.log_joint(xv, zv)) < 1e-12


def test_kl_result_matches_library_and_fact():
    d = D.kl_to_standard_normal()
    # KL(N(0, 1/4) || N(0, 1)) = (1/4 - 1 + ln 4) / 2 (tests/oracles.py)
    assert abs(_value(d, mu=0.0, sigma=0.5) - O.KL_QUARTER_NATS) < 1e-7
    mu, lv = np.array([[0.7]]), np.array([[-0.4]])
    oracle = likelihoods.kl_std_normal(mu, lv)[0]
    assert abs(_value(d, mu=0.7, sigma=math.exp(-0.2)) - oracle) < 1e-12


def test_gaussian_nll_result_matches_library():
    d = D.gaussian_decoder_nll()
    xs, ms = [0.1, 0.9, 0.4], [0.3, 0.5, 0.5]
    vals = {f"x_{i + 1}": xs[i] for i in range(3)} | {f"m_{i + 1}": ms[i] for i in range(3)}
    got = _value(d, sigma=0.3, **vals)
    assert abs(got - likelihoods.gaussian_nll([xs], [ms], 0.09)[0]) < 1e-12


def test_optimal_sigma2_result_is_minimum_value():
    d = D.optimal_shared_sigma2()
    # at S = 12, N = 2, D = 3 the minimum of S/(2s) + N D/2 ln(2 pi s) is at s = 2
    expected = 12 / 4 + 3 * math.log(2 * math.pi * 2)
    assert abs(_value(d, S=12.0, N=2, D=3) - expected) < 1e-12


def test_beta_equivalence_has_beta_and_no_sigma_in_front_of_kl():
    d = D.mse_beta_equivalence()
    last = d.steps[-1].value
    beta = next(s for s in last.free_symbols if s.name == "beta")
    kl = next(s for s in last.free_symbols if s.name == r"\mathrm{KL}")
    assert sp.simplify(sp.diff(last, kl) - beta) == 0


def test_a_wrong_step_is_caught():
    """The checks can fail: a KL with the wrong sign of the 1/2 does not verify."""
    from vaelearn.derive import DerivationError

    d = D.kl_to_standard_normal()
    mu = next(s for s in d.steps[-1].value.free_symbols if s.name == "mu")
    sigma = next(s for s in d.steps[-1].value.free_symbols if s.name == "sigma")
    lhs = d.steps[-1].expr.lhs
    d.step("A wrong simplification.", sp.Eq(lhs, -(1 + sp.log(sigma**2) - mu**2 - sigma**2)))
    with pytest.raises(DerivationError, match="step 5"):
        d.verify()


def test_posterior_split_checks_the_normalising_constants():
    # the last step is a product of two explicit normal densities; one with the wrong variance
    # (and so the wrong constant) must be rejected

    from vaelearn.derivations.elbo import _normal
    from vaelearn.derive import DerivationError

    d = D.linear_gaussian_posterior().verify()
    last = d.steps[-1].expr.rhs
    assert isinstance(last, sp.Mul) and len(last.args) == 2
    bad = D.linear_gaussian_posterior()
    x, z = sp.symbols("x z", real=True)
    wrong = sp.Eq(bad.steps[-1].expr.lhs,
                  sp.Mul(_normal(x, 0, 2), _normal(z, x / 2, 1), evaluate=False))
    bad.steps[-1] = dataclasses.replace(bad.steps[-1], expr=wrong)
    with pytest.raises(DerivationError, match="step 4"):
        bad.verify()
