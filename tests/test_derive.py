"""vaelearn.derive: the verifier accepts right steps and rejects wrong ones.

Each rule gets a correct step (accepted) and a deliberately wrong one (rejected with a
DerivationError that names the step), so a passing derivation means something. The results of the
lesson 01 derivations are also compared with vaelearn.info numerically (independent code paths:
sympy's symbolic result vs the NumPy formula). That every shipped derivation verifies, renders and
rejects a corrupted step is checked in one place: the catalogue, tests/test_derivations.py.
"""

from __future__ import annotations

import numpy as np
import oracles as O
import pytest
import sympy as sp

from vaelearn import info
from vaelearn.derivations import info as dinfo
from vaelearn.derive import RULES, Derivation, DerivationError

x = sp.Symbol("x", real=True)
t = sp.Symbol("t", positive=True)
a = sp.Symbol("a", positive=True)
f = sp.Symbol("f")

def test_kl_gaussians_result_matches_info_kl_normal():
    d = dinfo.kl_gaussians().verify()
    rel = d.conclusion
    syms = {s.name: s for s in rel.rhs.free_symbols}
    fn = sp.lambdify([syms[k] for k in ("mu_q", "sigma_q", "mu_p", "sigma_p")], rel.rhs)
    rng = np.random.default_rng(0)
    for _ in range(10):
        mq, mp = rng.normal(size=2)
        sq, sp_ = rng.uniform(0.2, 3.0, size=2)
        assert abs(fn(mq, sq, mp, sp_) - info.kl_normal(mq, sq**2, mp, sp_**2)) < 1e-12
    # KL(N(0, 1/4) || N(0, 1)), typed from its closed form (tests/oracles.py)
    assert abs(fn(0.0, 0.5, 0.0, 1.0) - O.KL_QUARTER_NATS) <= O.tol("KL_QUARTER_NATS")


def test_bernoulli_maximum_is_one_bit():
    d = dinfo.bernoulli_entropy_maximum().verify()
    assert d.steps[2].value == sp.log(2)
    assert abs(info.entropy([0.5, 0.5], base=2) - 1.0) < 1e-15


def test_gibbs_conclusion_is_kl_nonnegative():
    c = dinfo.gibbs_inequality().verify().conclusion
    assert isinstance(c, sp.GreaterThan) and c.rhs == 0


def test_optimal_code_lengths_are_minus_log2_p():
    d = dinfo.optimal_code_lengths().verify()
    p = sp.Symbol("p_i", positive=True)
    assert d.result.lhs.args[0].equals(-sp.log(p, 2))
    # the multiplier is solved by a checked step: a wrong lambda breaks Kraft's equality
    solve = d.steps[4]
    assert solve.rule == "substitute" and solve.expr.rhs == 1
    wrong = dinfo.optimal_code_lengths()
    lam = sp.Symbol("lambda", positive=True)
    wrong.steps[4].options["subs"] = {lam: 2 / sp.log(2)}
    with pytest.raises(DerivationError, match="step 5"):
        wrong.verify()


# -- each rule accepts a right step and rejects a wrong one ----------------------------------
def check(steps):
    d = Derivation("test")
    for text, expr, kw in steps:
        d.step(text, expr, **kw)
    return d.verify()


def rejects(steps, step_number):
    with pytest.raises(DerivationError, match=f"step {step_number} "):
        check(steps)


START = ("start", sp.Eq(f, (x + 1) ** 2), {"rule": "given"})


def test_equal_rule():
    check([START, ("expand", sp.Eq(f, x**2 + 2 * x + 1), {})])
    check([START, ("value only", x**2 + 2 * x + 1, {})])
    rejects([START, ("wrong expansion", sp.Eq(f, x**2 + 1), {})], 2)
    rejects([START, ("wrong value", x**2 + x + 1, {})], 2)
    # The same equation scaled by a nonzero constant is accepted; by a variable it is not.
    check([START, ("halve", sp.Eq(f / 2, (x + 1) ** 2 / 2), {})])
    rejects([START, ("times x", sp.Eq(f * x, (x + 1) ** 2 * x), {})], 2)


def test_equal_rule_evaluates_integrals():
    gauss = sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)
    good = [("integral", sp.Integral(gauss * x**2, (x, -sp.oo, sp.oo)), {}), ("value", 1, {})]
    check(good)
    rejects([good[0], ("wrong value", 2, {})], 2)


def test_substitute_rule():
    s = ("sum", sp.Symbol("S") + a, {"rule": "given"})
    check([s, ("S is 1", 1 + a, {"rule": "substitute", "subs": {sp.Symbol("S"): 1}})])
    rejects([s, ("S is 1", 2 + a, {"rule": "substitute", "subs": {sp.Symbol("S"): 1}})], 2)


def test_inequality_rules():
    lemma = sp.Le(sp.log(t), t - 1)
    s = ("start", sp.log(a), {"rule": "given"})
    check(
        [s, ("log a <= a - 1", a - 1, {"rule": "le", "condition": lemma, "gap": a - 1 - sp.log(a)})]
    )
    check(
        [
            ("start", a - 1, {"rule": "given"}),
            ("reverse", sp.log(a), {"rule": "ge", "condition": lemma}),
        ]
    )
    # Wrong direction: log a >= a - 1 is false.
    rejects([s, ("wrong way", a - 1, {"rule": "ge", "condition": lemma})], 2)
    # A false lemma is not proven.
    rejects([s, ("false lemma", a - 1, {"rule": "le", "condition": sp.Ge(sp.log(t), t - 1)})], 2)
    # A gap that is not the difference.
    rejects([s, ("bad gap", a - 1, {"rule": "le", "condition": lemma, "gap": a - sp.log(a)})], 2)
    # Without a lemma the sign is not evident.
    rejects([s, ("no reason", a - 1, {"rule": "le"})], 2)
    # Evident from assumptions: a <= a + a**2.
    check([("start", a, {"rule": "given"}), ("add a square", a + a**2, {"rule": "le"})])


def test_diff_limit_and_extremum_rules():
    g = ("g", x**3 - 3 * x, {"rule": "given"})
    check([g, ("derivative", 3 * x**2 - 3, {"rule": "diff", "wrt": x})])
    rejects([g, ("wrong derivative", 3 * x**2, {"rule": "diff", "wrt": x})], 2)
    h = ("h", sp.sin(x) / x, {"rule": "given"})
    check([h, ("limit", 1, {"rule": "limit", "wrt": x, "at": 0})])
    rejects([h, ("wrong limit", 0, {"rule": "limit", "wrt": x, "at": 0})], 2)
    b = ("b", -(x**2) + 2 * x, {"rule": "given"})
    check([b, ("max", 1, {"rule": "maximum", "wrt": x, "at": 1})])
    rejects([b, ("wrong point", 0, {"rule": "maximum", "wrt": x, "at": 0})], 2)
    rejects([b, ("wrong value", 2, {"rule": "maximum", "wrt": x, "at": 1})], 2)
    rejects([b, ("not a minimum", 1, {"rule": "minimum", "wrt": x, "at": 1})], 2)
    # Two critical points in the domain: not a global claim.
    rejects([g, ("max", 2, {"rule": "maximum", "wrt": x, "at": -1})], 2)


def test_ref_checks_against_an_earlier_step():
    steps = [
        START,
        ("expand", sp.Eq(f, x**2 + 2 * x + 1), {}),
        ("derivative of step 1", 2 * x + 2, {"rule": "diff", "wrt": x, "ref": 1}),
    ]
    check(steps)
    steps[2] = ("derivative of step 1", 2 * x, {"rule": "diff", "wrt": x, "ref": 1})
    rejects(steps, 3)


# -- API errors ---------------------------------------------------------------------------
def test_step_argument_errors():
    d = Derivation("t")
    with pytest.raises(ValueError, match="rule"):
        d.step("x", x, rule="because")
    with pytest.raises(ValueError, match="text"):
        d.step("  ", x)
    with pytest.raises(ValueError, match="definition"):
        d.step("x", x, rule="definition")
    with pytest.raises(ValueError, match="subs"):
        d.step("x", x, rule="substitute")
    with pytest.raises(ValueError, match="wrt"):
        d.step("x", x, rule="diff")
    with pytest.raises(ValueError, match="at"):
        d.step("x", x, rule="limit", wrt=x)
    with pytest.raises(ValueError, match="ref"):
        d.step("x", x, ref=1)
    with pytest.raises(DerivationError, match="no steps"):
        Derivation("empty").verify()
    assert set(RULES) >= {"given", "definition", "equal", "substitute", "le", "ge"}


def test_first_step_is_taken_as_given_and_rendering_is_plain():
    d = Derivation("one step", assumptions=[sp.Gt(x, 0), "a is a length"]).step("a", a)
    assert d.verify().result == a
    assert "$x > 0$" in d._repr_markdown_()
    assert d._repr_latex_().startswith("$$") and "<Derivation" in repr(d)


def test_a_relation_sympy_already_decided_is_refused():
    """Eq(x, Matrix) evaluates to False at once; two such steps must not 'verify' each other."""
    import sympy as sp

    from vaelearn.derive import Derivation

    x = sp.Symbol("x")
    d = Derivation("decided too early")
    with pytest.raises(ValueError, match="constant False"):
        d.step("a relation sympy evaluates on construction", sp.Eq(x, sp.Matrix([[1, 2]])))


def test_hyperbolic_forms_are_accepted_and_wrong_ones_rejected():
    # tanh against its exponential form: the simplifier alone misses it, the rewrite finds it
    ell = sp.Symbol("ell", positive=True)
    c = sp.Symbol("C")
    d = Derivation("hyperbolic")
    d.step("start", sp.Eq(c, ell * (1 + sp.exp(ell)) / (sp.exp(ell) - 1)), rule="given")
    d.step("the same as l / tanh(l/2)", sp.Eq(c, ell / sp.tanh(ell / 2)))
    assert d.verify().verified
    bad = Derivation("hyperbolic, wrong")
    bad.step("start", sp.Eq(c, ell * (1 + sp.exp(ell)) / (sp.exp(ell) - 1)), rule="given")
    bad.step("not l / tanh(l)", sp.Eq(c, ell / sp.tanh(ell)))
    with pytest.raises(DerivationError, match="step 2"):
        bad.verify()
