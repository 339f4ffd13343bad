"""The derivation catalogue: every public function of every ``vaelearn.derivations.<family>``
module, and how it is verified. One place lists them all; a coverage test fails when a new
public function of a derivations module is missing here.

A :class:`vaelearn.derive.Derivation` is verified by its own ``verify()`` (sympy checks every step
against the one before), must render (LaTeX with one ``\\text`` row per step, markdown with each
sentence), and must reject a corrupted result: adding 1/7 to its last checked step makes
``verify()`` raise, naming that step (for the families where sympy is quick at it, every checked
step is corrupted in turn), so a passing ``verify()`` means something. The two series helpers of
the continuous Bernoulli (not derivations, lists of Taylor coefficients) are verified against the
function they expand, evaluated by mpmath at 50 digits.

The comparisons of derivation results with independent numbers (the library's closed forms,
scipy, Monte Carlo) stay with the topic's tests (test_info, test_autoencoders,
test_derivations_autoencoders, test_derivations_elbo, test_estimators, test_collapse,
test_likelihoods_grey).
"""

from __future__ import annotations

import importlib
import inspect

import mpmath
import pytest
import sympy as sp

from vaelearn import derivations
from vaelearn.derivations import reparam
from vaelearn.derive import Derivation, DerivationError

# family -> {public name: [(case id, zero-argument builder)]}
CATALOGUE: dict[str, dict[str, list[tuple[str, object]]]] = {
    "info": {
        **{n: [(n, n)] for n in ("bernoulli_entropy_maximum", "gibbs_inequality", "kl_gaussians",
                                 "optimal_code_lengths", "mutual_information_identities",
                                 "rate_as_mutual_information")},
        "normal_pdf": [("normal_pdf", None)],  # a sympy density the derivations use
    },
    "autoencoders": {n: [(n, n)] for n in (
        "optimal_decoder_for_fixed_encoder", "best_line_is_an_eigenvector",
        "codes_are_not_identified", "linear_denoiser_scale", "noising_twice_is_noising_once")},
    "elbo": {n: [(n, n)] for n in (
        "linear_gaussian_posterior", "elbo_decomposition", "elbo_decomposition_exact",
        "elbo_two_terms", "kl_to_standard_normal", "gaussian_decoder_nll",
        "mse_beta_equivalence", "optimal_shared_sigma2", "em_e_step", "em_m_step",
        "em_fixed_point", "sgld_stationary_variance")},
    "likelihoods": {
        **{n: [(n, n)] for n in ("log_norm", "mean", "log_norm_gradient")},
        "log_norm_series": [("log_norm_series(6)", None)],
        "langevin_series": [("langevin_series(6)", None)],
    },
    "reparam": {
        "single_sample_variance": [
            (f"single_sample_variance({e}, {p})", (e, p))
            for e in reparam.ESTIMATORS for p in reparam.PARAMETERS],
        "score_baseline_variance": [("score_baseline_variance", "score_baseline_variance")],
        "expected_cost_gradient": [("expected_cost_gradient", "expected_cost_gradient")],
        # constants, not functions: the names the derivation above accepts
        "ESTIMATORS": [], "PARAMETERS": [],
    },
    "collapse": {n: [(n, n)] for n in (
        "ppca_sigma2_ml", "collapse_condition", "kl_collapsed_dimension", "iwae_above_elbo",
        "ignoring_decoder_optimum")},
    "disentanglement": {n: [(n, n)] for n in ("mixed_code_information",)},
}
HELPERS = {"log_norm_series", "langevin_series", "normal_pdf"}  # not Derivations


def _builder(family, name, spec):
    module = importlib.import_module(f"vaelearn.derivations.{family}")
    fn = getattr(module, name)
    if isinstance(spec, tuple):
        return lambda: fn(*spec)
    return fn


DERIVATIONS = [
    pytest.param(_builder(family, name, spec), id=f"{family}.{case_id}")
    for family, names in CATALOGUE.items()
    for name, cases in names.items() if name not in HELPERS
    for case_id, spec in cases
]


def _public(module) -> set[str]:
    return set(getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")]))


def uncovered(catalogue) -> set[str]:
    """``family.name`` of every public name of a derivations module missing from ``catalogue``."""
    missing = set()
    for family in derivations.LESSON_MODULES:
        module = importlib.import_module(f"vaelearn.derivations.{family}")
        listed = set(catalogue.get(family, {}))
        missing |= {f"{family}.{n}" for n in _public(module) - listed}
    return missing


# ------------------------------------------------------------------------------- coverage


def test_every_derivation_is_in_the_catalogue():
    assert set(CATALOGUE) == set(derivations.LESSON_MODULES)
    assert not uncovered(CATALOGUE), sorted(uncovered(CATALOGUE))
    for family, names in CATALOGUE.items():
        module = importlib.import_module(f"vaelearn.derivations.{family}")
        assert set(names) <= _public(module), (family, set(names) - _public(module))
        for name, cases in names.items():
            # every public function has at least one case; only constants have none
            assert cases or not callable(getattr(module, name)), f"{family}.{name} has no case"


def test_coverage_check_fails_on_a_missing_name():
    """Taking a function out of the catalogue, or a family, is reported by name."""
    without = {**CATALOGUE, "collapse": {k: v for k, v in CATALOGUE["collapse"].items()
                                         if k != "iwae_above_elbo"}}
    assert uncovered(without) == {"collapse.iwae_above_elbo"}
    assert "elbo.kl_to_standard_normal" in uncovered({k: v for k, v in CATALOGUE.items()
                                                      if k != "elbo"})


# ------------------------------------------------------------------------------- derivations


@pytest.mark.parametrize("make", DERIVATIONS)
def test_derivation_verifies_and_renders(make):
    d = make()
    assert isinstance(d, Derivation)
    assert not d.verified
    assert d.verify() is d and d.verified
    assert len(d) >= 2
    latex = d.latex()
    assert latex.startswith(r"\begin{aligned}") and "False" not in latex and "True" not in latex
    assert latex.count(r"\text{") == len(d)  # one row per step
    md = d._repr_markdown_()
    assert d.title in md and all(s.text in md for s in d.steps)
    assert f"{len(d)}. " in str(d)


def _corrupt(expr):
    """Wrong by a constant: 1/7 added to the value (to the right side of an equation)."""
    if isinstance(expr, sp.Equality):
        return sp.Eq(expr.lhs, expr.rhs + sp.Rational(1, 7))
    return expr + sp.Rational(1, 7)


def _corrupted_at(good, k):
    """Steps 1..k+1 of ``good``, the last one wrong (later steps add nothing to the check)."""
    bad = Derivation(good.title)
    for j, s in enumerate(good.steps[: k + 1]):
        bad.step(s.text, _corrupt(s.expr) if j == k else s.expr, rule=s.rule, **s.options)
    return bad


def _checked(d):
    return [k for k, st in enumerate(d.steps) if k > 0 and st.rule not in ("given", "definition")]


@pytest.mark.parametrize("make", DERIVATIONS)
def test_a_wrong_result_is_rejected(make):
    """The result (the last checked step that is not a bound, the formula a lesson quotes) made
    wrong by 1/7: the verifier must reject it and name that step. (A bound "le"/"ge" shifted by
    1/7 can stay true, so it is corrupted only in a derivation made of bounds alone.)"""
    good = make()
    equalities = [k for k in _checked(good) if good.steps[k].rule not in ("le", "ge")]
    k = (equalities or _checked(good))[-1]
    with pytest.raises(DerivationError, match=f"step {k + 1} "):
        _corrupted_at(good, k).verify()


# Every checked step, corrupted one at a time, for the families where sympy refutes a wrong step
# quickly. Elsewhere some single refutations take sympy more than 20 s (measured on the
# development machine: steps 2-4 of likelihoods.log_norm, step 2 of reparam.expected_cost_gradient,
# a wrong equality between hyperbolic or exponential forms), so there only the result is
# corrupted (above) and the topic files break chosen steps (test_derivations_autoencoders,
# test_derivations_elbo).
EXHAUSTIVE = [p for p in DERIVATIONS if p.id.startswith(("info.", "collapse."))]


@pytest.mark.parametrize("make", EXHAUSTIVE)
def test_corrupting_any_checked_step_is_rejected(make):
    """Perturb each checked step of a derivation: the verifier must notice, except that a bound
    ("le"/"ge") may survive a shift that keeps it true."""
    good = make()
    rejected = 0
    for k in _checked(good):
        try:
            _corrupted_at(good, k).verify()
        except DerivationError as exc:
            assert f"step {k + 1} " in str(exc)
            rejected += 1
            continue
        rule = good.steps[k].rule
        assert rule in ("le", "ge"), f"corrupted step {k + 1} ({rule}) still verifies"
    assert rejected >= 1


# ------------------------------------------------------------------------------- the series


def _series_value(coeffs, u, power):
    return sum(c * u ** power(k) for k, c in enumerate(coeffs, start=1))


@pytest.mark.parametrize("name,function,power", [
    ("log_norm_series", lambda u: mpmath.log(u * mpmath.coth(u)), lambda k: 2 * k),
    ("langevin_series", lambda u: mpmath.coth(u) - 1 / u, lambda k: 2 * k - 1),
])
def test_series_match_the_function_they_expand(name, function, power):
    """Six terms at u = 0.1: the remainder is O(u^13) or O(u^14) ~ 1e-13, far above 50-digit
    round-off and far below any wrong coefficient (the smallest term, k = 6, is ~1e-12 * c_6)."""
    coeffs = getattr(derivations.likelihoods, name)(6)
    assert len(coeffs) == 6 and all(isinstance(c, sp.Rational) for c in coeffs)
    with mpmath.workdps(50):
        u = mpmath.mpf(1) / 10
        got = _series_value([mpmath.mpf(c.p) / c.q for c in coeffs], u, power)
        err = abs(got - function(u))
        assert err < 1e-13, err
        # dropping the last coefficient is seen: the check can fail
        short = _series_value([mpmath.mpf(c.p) / c.q for c in coeffs[:-1]], u, power)
        assert abs(short - function(u)) > 10 * err


def test_normal_pdf_is_the_gaussian_density():
    """Integrates to 1, has the given mean and variance, and equals scipy's density."""
    from scipy import stats

    x = sp.Symbol("x", real=True)
    m, s = sp.Rational(3, 10), sp.Rational(7, 5)
    pdf = derivations.info.normal_pdf(x, m, s)
    assert sp.simplify(sp.integrate(pdf, (x, -sp.oo, sp.oo))) == 1
    assert sp.simplify(sp.integrate(x * pdf, (x, -sp.oo, sp.oo)) - m) == 0
    assert sp.simplify(sp.integrate((x - m) ** 2 * pdf, (x, -sp.oo, sp.oo)) - s**2) == 0
    assert float(pdf.subs(x, 1.1)) == pytest.approx(stats.norm(0.3, 1.4).pdf(1.1), rel=1e-14)


def test_catalogue_entries_are_functions_of_the_module():
    for family, names in CATALOGUE.items():
        module = importlib.import_module(f"vaelearn.derivations.{family}")
        for name, cases in names.items():
            if cases:
                assert inspect.isfunction(getattr(module, name)), f"{family}.{name}"
