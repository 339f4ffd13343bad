r"""Derivations for lesson 06: the variance of single-sample gradient estimators.

The setting of Mohamed et al. (2020, Fig. 2): :math:`x \sim \mathcal N(\mu, \sigma^2)`,
:math:`f(x) = (x - k)^2`, evaluated at :math:`\mu = \sigma = 1`, with :math:`a = 1 - k`. Writing
:math:`x = \mu + \sigma\varepsilon` turns each single-sample estimate into a polynomial in
:math:`\varepsilon \sim \mathcal N(0, 1)`, and its mean and variance into sums of Gaussian moments
:math:`\mathbb E\varepsilon^{2j} = (2j-1)!!`, odd moments zero. The results:

- pathwise: :math:`\partial_\mu` 4, :math:`\partial_\sigma` :math:`4a^2 + 8`;
- score function: :math:`\partial_\mu` :math:`a^4+14a^2+15`, :math:`\partial_\sigma`
  :math:`2a^4+60a^2+74`.

Each function returns a :class:`vaelearn.derive.Derivation`; ``tests/test_estimators.py``
verifies them. Lesson 06 displays them.
"""

from __future__ import annotations

import sympy as sp

from vaelearn.derive import Derivation

__all__ = [
    "single_sample_variance",
    "score_baseline_variance",
    "expected_cost_gradient",
    "ESTIMATORS",
    "PARAMETERS",
]

ESTIMATORS = ("pathwise", "score")
PARAMETERS = ("mean", "std")

EPS = sp.Symbol("epsilon", real=True)
A = sp.Symbol("a", real=True)
_X = sp.Symbol("x", real=True)
_MU = sp.Symbol("mu", real=True)
_SIGMA = sp.Symbol("sigma", positive=True)
_K = sp.Symbol("k", real=True)


def _std_normal_expectation(expr):
    """``E[expr]`` over epsilon ~ N(0, 1) as an unevaluated integral."""
    density = sp.exp(-(EPS**2) / 2) / sp.sqrt(2 * sp.pi)
    return sp.Integral(expr * density, (EPS, -sp.oo, sp.oo))


def _by_moments(poly_expr):
    """``sum_n c_n E[eps^n]``: a polynomial in epsilon, its expectation split term by term."""
    poly = sp.Poly(sp.expand(poly_expr), EPS)
    return sp.Add(
        *[c * _std_normal_expectation(EPS**n) for (n,), c in poly.terms()], evaluate=False
    )


def _moment(n: int):
    """``E[eps^n]`` for a standard normal: 0 for odd n, (n-1)!! for even n."""
    return 0 if n % 2 else sp.factorial2(n - 1)


def _evaluate_moments(poly_expr):
    poly = sp.Poly(sp.expand(poly_expr), EPS)
    return sp.expand(sum(c * _moment(n) for (n,), c in poly.terms()))


def _append_mean_and_variance(d: Derivation, g, mean_sym, sq_sym, var_sym, extra_text=""):
    """Steps: E[g] by moments, E[g^2] by moments, Var = E[g^2] - E[g]^2."""
    n0 = len(d.steps)
    mean_value = _evaluate_moments(g)
    sq_value = _evaluate_moments(sp.expand(g**2))
    d.step(
        "The estimate's mean is its expectation over the noise.",
        sp.Eq(mean_sym, _std_normal_expectation(g)),
        rule="definition",
    )
    d.step(
        "Expand in powers of epsilon; the expectation is linear.",
        sp.Eq(mean_sym, _by_moments(g)),
    )
    d.step(
        "Gaussian moments: odd ones vanish, E eps^2 = 1, E eps^4 = 3, E eps^6 = 15, "
        "E eps^8 = 105." + extra_text,
        sp.Eq(mean_sym, mean_value),
    )
    d.step(
        "The second moment of the estimate, likewise.",
        sp.Eq(sq_sym, _std_normal_expectation(sp.expand(g**2))),
        rule="definition",
    )
    d.step("Expand and split by linearity.", sp.Eq(sq_sym, _by_moments(g**2)))
    d.step("Insert the Gaussian moments.", sp.Eq(sq_sym, sq_value))
    # The squared mean gets its own bracketed symbol: E[g^2] and (E g)^2 must not render alike
    # (as "E g^2" both, the line read "Var = -E g^2 + E g^2"). The outer braces only make sympy
    # print the second moment first, in the textbook order E[g^2] - (E g)^2.
    mean_in_brackets = sp.Symbol("{\\left(" + mean_sym.name + "\\right)}")
    d.step(
        "The variance of one single-sample estimate: the second moment minus the squared mean.",
        sp.Eq(var_sym, sq_sym - mean_in_brackets**2),
        rule="definition",
    )
    d.step(
        f"Insert steps {n0 + 3} and {n0 + 6}.",
        sp.Eq(var_sym, sp.expand(sq_value - mean_value**2)),
        rule="substitute",
        subs={sq_sym: sq_value, mean_in_brackets: mean_value},
    )
    return d


def _estimate_steps(d: Derivation, estimator: str, param: str):
    """The single-sample estimate as a polynomial in epsilon at mu = sigma = 1, k = 1 - a."""
    g = sp.Symbol(r"\hat{g}")
    theta = _MU if param == "mean" else _SIGMA
    f_path = (_MU + _SIGMA * EPS - _K) ** 2
    if estimator == "pathwise":
        d.step(
            "Pathwise: differentiate f along the sample path x = mu + sigma eps, eps held fixed.",
            sp.Eq(g, sp.Derivative(f_path, theta)),
            rule="given",
        )
        d.step("Differentiate.", sp.Eq(g, sp.diff(f_path, theta)))
    else:
        log_q = -sp.log(2 * sp.pi * _SIGMA**2) / 2 - (_X - _MU) ** 2 / (2 * _SIGMA**2)
        d.step(
            "Score function: f(x) times the derivative of log N(x; mu, sigma^2).",
            sp.Eq(g, (_X - _K) ** 2 * sp.Derivative(log_q, theta)),
            rule="given",
        )
        d.step("Differentiate the log density.", sp.Eq(g, (_X - _K) ** 2 * sp.diff(log_q, theta)))
        d.step(
            "Write the draw as x = mu + sigma eps.",
            sp.Eq(g, ((_X - _K) ** 2 * sp.diff(log_q, theta)).subs(_X, _MU + _SIGMA * EPS)),
            rule="substitute",
            subs={_X: _MU + _SIGMA * EPS},
        )
    prev = d.steps[-1].expr.rhs
    at = prev.subs({_MU: 1, _SIGMA: 1}).subs(_K, 1 - A)
    d.step(
        "Evaluate at mu = sigma = 1 and write k = 1 - a.",
        sp.Eq(g, sp.factor(at)),
        rule="substitute",
        subs={_MU: 1, _SIGMA: 1, _K: 1 - A},
    )
    return sp.factor(at)


def single_sample_variance(estimator: str = "score", param: str = "mean") -> Derivation:
    r"""Variance of one single-sample estimate of :math:`\partial_\theta \mathbb E[(x-k)^2]`.

    :math:`x \sim \mathcal N(\mu, \sigma^2)` at :math:`\mu = \sigma = 1`, :math:`a = 1 - k`
    (Mohamed et al. 2020, Fig. 2). Results: pathwise :math:`\partial_\mu` 4, pathwise
    :math:`\partial_\sigma` :math:`4a^2+8`, score :math:`\partial_\mu` :math:`a^4+14a^2+15`, score
    :math:`\partial_\sigma` :math:`2a^4+60a^2+74`. The result's left-hand side is
    :math:`\mathrm{Var}`, its right-hand side a polynomial in the symbol ``a``. Lesson 06.

    Parameters
    ----------
    estimator : {"pathwise", "score"}
    param : {"mean", "std"}
        Differentiate with respect to :math:`\mu` or :math:`\sigma`.

    Raises
    ------
    ValueError
        For an unknown ``estimator`` or ``param``.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"argument 'estimator' is {estimator!r}; expected one of {ESTIMATORS}")
    if param not in PARAMETERS:
        raise ValueError(f"argument 'param' is {param!r}; expected one of {PARAMETERS}")
    sym = r"\mu" if param == "mean" else r"\sigma"
    wrt = "mu" if param == "mean" else "sigma"
    d = Derivation(
        f"Variance of the single-sample {estimator} estimate of d/d{wrt} E[(x - k)^2]",
        assumptions=["x ~ N(mu, sigma^2)", "mu = sigma = 1", "a = 1 - k"],
    )
    g = _estimate_steps(d, estimator, param)
    _append_mean_and_variance(
        d,
        g,
        sp.Symbol(rf"\mathbb{{E}}\hat g_{{{sym}}}"),
        sp.Symbol(rf"\mathbb{{E}}[\hat g_{{{sym}}}^2]"),
        sp.Symbol(rf"\mathrm{{Var}}\,\hat g_{{{sym}}}"),
        extra_text=" The mean is the exact gradient: the estimate is unbiased.",
    )
    return d


def score_baseline_variance() -> Derivation:
    r"""The score-function estimate of :math:`\partial_\mu` with a constant baseline ``b``.

    :math:`\hat g = ((x-k)^2 - b)\,\varepsilon` has mean :math:`2a` for every ``b`` (the score has
    mean zero) and variance :math:`a^4 + 18a^2 + 15 - 2b(a^2+3) + b^2 - 4a^2`, smallest at
    :math:`b^* = a^2 + 3`, where it is :math:`8a^2 + 6` (k = 3: 38 instead of 87). The exact mean
    of f, :math:`b = 1 + a^2`, gives :math:`8a^2 + 10` (42). Lesson 06.
    """
    b = sp.Symbol("b", real=True)
    d = Derivation(
        "A constant baseline in the score-function estimate of d/dmu E[(x - k)^2]",
        assumptions=["mu = sigma = 1", "a = 1 - k", "b a constant"],
    )
    g_sym = sp.Symbol(r"\hat{g}")
    d.step(
        "Subtract a constant b from f before multiplying by the score eps / sigma.",
        sp.Eq(g_sym, ((A + EPS) ** 2 - b) * EPS),
        rule="given",
    )
    g = ((A + EPS) ** 2 - b) * EPS
    _append_mean_and_variance(
        d,
        g,
        sp.Symbol(r"\mathbb{E}\hat g"),
        sp.Symbol(r"\mathbb{E}[\hat g^2]"),
        sp.Symbol(r"\mathrm{Var}\,\hat g"),
        extra_text=" b drops out of the mean: the baseline adds no bias.",
    )
    var = sp.expand(_evaluate_moments(g**2) - _evaluate_moments(g) ** 2)
    d.step(
        "The variance is a parabola in b; its only critical point is the minimum.",
        sp.expand(var.subs(b, A**2 + 3)),
        rule="minimum",
        wrt=b,
        at=A**2 + 3,
        domain=sp.Reals,
    )
    return d


def expected_cost_gradient() -> Derivation:
    r"""The exact gradient of :math:`\mathbb E[x^2 + \sin x]`, x ~ N(phi^3, e^(2 phi)).

    :math:`\mathbb E f = \varphi^6 + e^{2\varphi} + \sin(\varphi^3)\, e^{-e^{2\varphi}/2}`:
    2.7659334 at :math:`\varphi = 0.5`, derivative 5.7281641 (the exact value the
    unbiasedness tests use).
    The last step is the derivative at 1/2. Lesson 06.
    """
    phi = sp.Symbol("varphi", real=True)
    m = sp.Symbol("m", real=True)
    s = sp.Symbol("s", positive=True)
    F = sp.Symbol(r"\mathbb{E}f")
    dF = sp.Symbol(r"\frac{d}{d\varphi}\mathbb{E}f")
    d = Derivation(
        "The exact gradient of E[x^2 + sin x] for x ~ N(phi^3, e^(2 phi))",
        assumptions=["x = m + s eps", "m = phi^3", "s = e^phi"],
    )
    d.step(
        "The expected cost, with x = m + s eps.",
        sp.Eq(F, _std_normal_expectation((m + s * EPS) ** 2 + sp.sin(m + s * EPS))),
        rule="given",
    )
    d.step(
        "Split by linearity; expand the square and sin(m + s eps).",
        sp.Eq(
            F,
            _std_normal_expectation((m + s * EPS) ** 2)
            + sp.sin(m) * _std_normal_expectation(sp.cos(s * EPS))
            + sp.cos(m) * _std_normal_expectation(sp.sin(s * EPS)),
        ),
    )
    d.step(
        "E eps = 0, E eps^2 = 1, E cos(s eps) = exp(-s^2/2) (the characteristic function), "
        "E sin(s eps) = 0 (odd).",
        sp.Eq(F, m**2 + s**2 + sp.sin(m) * sp.exp(-(s**2) / 2)),
    )
    value = (m**2 + s**2 + sp.sin(m) * sp.exp(-(s**2) / 2)).subs({m: phi**3, s: sp.exp(phi)})
    d.step(
        "Insert m = phi^3 and s = e^phi.",
        sp.Eq(F, value),
        rule="substitute",
        subs={m: phi**3, s: sp.exp(phi)},
    )
    d.step("Differentiate with respect to phi.", sp.Eq(dF, sp.diff(value, phi)), rule="diff",
           wrt=phi)
    half = sp.Rational(1, 2)
    d.step(
        "Evaluate at phi = 1/2.",
        sp.Eq(dF, sp.diff(value, phi).subs(phi, half)),
        rule="substitute",
        subs={phi: half},
    )
    return d
