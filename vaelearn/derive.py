"""Step-by-step derivations that the package checks: a sentence and a sympy object per step.

A :class:`Derivation` is an ordered list of :class:`Step` objects. Each step says in words what
happens and gives a sympy expression, equation (``sympy.Eq``) or inequality.
:meth:`Derivation.verify` checks every step against the one before it (or against the step named
by ``ref``) with the step's *rule*, and raises :class:`DerivationError` naming the first step
that does not follow. Lessons render a derivation as LaTeX (``_repr_latex_`` /
``_repr_markdown_``); tests call ``verify()``.

Example
-------
>>> import sympy as sp
>>> from vaelearn.derive import Derivation
>>> x = sp.Symbol("x", positive=True)
>>> f = sp.Symbol("f")
>>> d = Derivation("A square")
>>> d = d.step("Start from the square of a sum.", sp.Eq(f, (x + 1) ** 2), rule="given")
>>> d = d.step("Expand it.", sp.Eq(f, x**2 + 2 * x + 1))
>>> d.verify().result
Eq(f, x**2 + 2*x + 1)

The *running value* of a step is its expression, or the right-hand side of an equation. Rules
(``rule=...`` in :meth:`Derivation.step`):

``"given"``
    A stated fact or starting point; not checked. The first step is always taken as given.
``"definition"``
    Introduces a name: the expression must be ``sympy.Eq(name, meaning)``; not checked.
``"equal"`` (default)
    The running value equals the previous one: ``simplify(prev - cur) == 0`` (also tried after
    ``.doit()``, which evaluates integrals, sums, derivatives and ``sympy.stats`` expectations).
    Two equations: when the left sides agree the right sides must agree; otherwise ``lhs - rhs``
    must agree up to a nonzero constant factor (the same equation rearranged or rescaled). An
    equation next to a bare expression compares running values. Numbers are only used to reject
    a wrong step quickly, never to accept one.
``"substitute"``
    ``subs={old: new, ...}``: the running value equals the previous one after substituting;
    the text should say why the substitution holds (e.g. "probabilities sum to 1").
``"le"`` / ``"ge"``
    The previous running value is ``<=`` (``"le"``) or ``>=`` (``"ge"``) this one. The checker
    takes ``gap`` (default: the difference itself) and checks that it equals the difference and
    that it is nonnegative. Nonnegativity is proven from symbol assumptions (``positive=True``)
    through sums, products, integrals and even powers, and from ``condition``: a one-variable
    inequality such as ``sympy.Le(sympy.log(t), t - 1)`` for a positive ``t``. ``verify()`` first
    proves the condition (its critical points and boundary limits over ``t``'s domain), then
    accepts any subterm of the gap that is the condition's ``rhs - lhs`` at a positive argument.
``"diff"``
    ``wrt=x``: the running value is the derivative of the previous one with respect to ``x``.
``"limit"``
    ``wrt=x, at=a``: the running value is the limit (from the right) of the previous one.
``"maximum"`` / ``"minimum"``
    ``wrt=x, at=a`` (``domain=`` an interval, default from ``x``'s assumptions): ``a`` is the
    only critical point of the previous running value ``f`` in the domain, ``f''(a) < 0``
    (``> 0`` for a minimum), and this step's running value is ``f(a)``: for ``f``
    differentiable on the open interval, ``f(a)`` is then its global maximum (minimum) there.

Use ``ref=k`` to check a step against step ``k`` (1-based) instead of the one just before it.
Steps with inequalities chain: :attr:`Derivation.conclusion` combines the first step with the
last through the weakest relation used.

Lessons: every lesson's derivations (:mod:`vaelearn.derivations`); the idea is taught in lesson 01.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import sympy as sp
from sympy.stats.rv import RandomSymbol

__all__ = ["RULES", "Derivation", "DerivationError", "Step"]

RULES = (
    "given",
    "definition",
    "equal",
    "substitute",
    "le",
    "ge",
    "diff",
    "limit",
    "maximum",
    "minimum",
)
"""The rule names :meth:`Derivation.step` accepts."""


class DerivationError(AssertionError):
    """A step does not follow from the one it refers to; the message names the step."""


@dataclass(frozen=True)
class Step:
    """One step: a sentence, a sympy object, and the rule that justifies it.

    Attributes
    ----------
    text : str
        What the step does, in words.
    expr : sympy.Basic
        An expression, an equation ``sympy.Eq`` or an inequality.
    rule : str
        One of :data:`RULES`.
    options : dict
        The rule's arguments (``subs``, ``gap``, ``condition``, ``wrt``, ``at``, ``domain``,
        ``ref``).
    """

    text: str
    expr: Any
    rule: str = "equal"
    options: dict = field(default_factory=dict)

    @property
    def value(self):
        """The running value: the expression, or the right-hand side of an equation."""
        if isinstance(self.expr, sp.Equality):
            return self.expr.rhs
        if isinstance(self.expr, sp.core.relational.Relational):
            return self.expr.rhs
        return self.expr


def _simplifies_to_zero(e) -> bool:
    for transform in (
        lambda z: z,
        sp.simplify,
        lambda z: sp.simplify(sp.expand(sp.expand_log(z))),
        lambda z: sp.simplify(sp.logcombine(sp.expand(z))),
    ):
        try:
            if transform(e) == 0:
                return True
        except Exception:  # noqa: BLE001 - try the next transformation
            continue
    return False


def _combine(e):
    """Merge integrals (sums) over the same limits by linearity: a*I(f) + b*I(g) -> I(a*f + b*g).

    Factors that depend on an integration (summation) variable stay outside untouched.
    """
    groups: dict = {}
    rest = []
    for term in sp.Add.make_args(e):
        factors = sp.Mul.make_args(term)
        kinds = [f for f in factors if isinstance(f, (sp.Integral, sp.Sum))]
        if len(kinds) == 1:
            inner = kinds[0]
            coeff = sp.Mul(*[f for f in factors if f is not inner])
            if not (coeff.free_symbols & set(inner.variables)):
                key = (type(inner), inner.limits)
                groups[key] = groups.get(key, 0) + coeff * inner.function
                continue
        rest.append(term)
    merged = [kind(f, *limits) for (kind, limits), f in groups.items()]
    return sp.Add(*rest, *merged)


_UNEVALUATED = (sp.Integral, sp.Sum, sp.Derivative, sp.Limit, RandomSymbol)
"""Objects that ``doit()`` evaluates (RandomSymbol: sympy.stats expectations, probabilities)."""


@functools.lru_cache(maxsize=2048)
def _is_zero(e) -> bool:
    """True when sympy can show ``e == 0`` (never by numerical evidence).

    Tries, cheapest first: merging integrals and sums by linearity and showing the integrand is
    zero; evaluating integrals, sums, derivatives and ``sympy.stats`` expectations (``doit``);
    simplifying.
    """
    e = sp.sympify(e)
    if e == 0:
        return True
    merged = _combine(e)
    if merged == 0:
        return True
    if isinstance(merged, (sp.Integral, sp.Sum)) and _simplifies_to_zero(merged.function):
        return True
    if e.has(*_UNEVALUATED):
        try:
            e = e.doit()
        except Exception:  # noqa: BLE001 - an integral sympy cannot do is not a proof
            return False
    if _clearly_nonzero(e):
        return False  # numbers only ever reject, quickly; acceptance needs the symbolic proof
    return _simplifies_to_zero(e)


def _clearly_nonzero(e) -> bool:
    """True when ``e`` is a real nonzero number at two points allowed by the assumptions.

    Positive symbols take values in (0, 1), so identities that hold only on such a domain (for
    example of probabilities) are not rejected.
    """
    if e.has(*_UNEVALUATED, sp.core.function.AppliedUndef):
        return False
    syms = sorted(e.free_symbols, key=str)
    if any(not isinstance(s, sp.Symbol) for s in syms):
        return False
    for shift in (0.0, 0.2):
        vals = {}
        for k, s in enumerate(syms):
            v = 0.31 + shift + 0.037 * k
            if s.is_integer:
                v = 2 + k
            elif not s.is_positive and not s.is_nonnegative:
                v = v if k % 2 else -v
            vals[s] = v
        try:
            num = complex(e.subs(vals).evalf(30))
        except (TypeError, ValueError, ZeroDivisionError):
            return False
        if not (abs(num.imag) < 1e-12 and math.isfinite(num.real) and abs(num.real) > 1e-6):
            return False
    return True


def _equal(a, b) -> bool:
    a, b = sp.sympify(a), sp.sympify(b)
    if a == b:
        return True
    # Integrals or sums over the same limits: equal integrands suffice (cheap, and exact).
    for kind in (sp.Integral, sp.Sum):
        if isinstance(a, kind) and isinstance(b, kind) and a.limits == b.limits:
            if _is_zero(a.function - b.function):
                return True
    if _is_zero(a - b):
        return True
    # Hyperbolic and exponential forms of one function (tanh(u) vs (e^u - 1)/(e^u + 1)): the
    # simplifier often misses them; rewritten in exponentials they cancel. An identity, not a guess.
    if (a - b).has(sp.tanh, sp.coth, sp.sinh, sp.cosh):
        return _is_zero((a - b).rewrite(sp.exp))
    return False


def _equal_steps(prev, cur) -> bool:
    if isinstance(prev, sp.Equality) and isinstance(cur, sp.Equality):
        if _equal(prev.lhs, cur.lhs):
            return _equal(prev.rhs, cur.rhs)
        if _equal(prev.lhs - prev.rhs, cur.lhs - cur.rhs):
            return True
        # The same equation multiplied by a nonzero constant (e.g. converted to bits).
        try:
            ratio = sp.simplify((prev.lhs - prev.rhs) / (cur.lhs - cur.rhs))
        except Exception:  # noqa: BLE001 - not a proof, move on
            ratio = None
        return bool(
            ratio is not None and ratio.is_number and ratio.is_finite and ratio.is_zero is False
        )
    pv = prev.rhs if isinstance(prev, sp.Equality) else prev
    cv = cur.rhs if isinstance(cur, sp.Equality) else cur
    return _equal(pv, cv)


def _domain_of(x):
    if x.is_positive:
        return sp.Interval.open(0, sp.oo)
    if x.is_nonnegative:
        return sp.Interval(0, sp.oo)
    return sp.Reals


def _prove_condition(cond) -> str | None:
    """Prove a one-variable inequality ``lhs <= rhs`` (or >=) over its variable's domain.

    Returns None when proven, else the reason it could not be proven. The proof: ``g = rhs - lhs``
    is differentiable on an open interval; its minimum lies at a critical point or is approached
    at an end; ``g`` is >= 0 at every critical point and in the limit at both ends.
    """
    if not isinstance(cond, (sp.LessThan, sp.GreaterThan)):
        return "the condition must be a sympy Le or Ge inequality"
    g = cond.rhs - cond.lhs if isinstance(cond, sp.LessThan) else cond.lhs - cond.rhs
    free = g.free_symbols
    if len(free) != 1:
        return "the condition must involve exactly one variable"
    (x,) = free
    dom = _domain_of(x)
    if not isinstance(dom, sp.Interval):
        dom = sp.Interval(-sp.oo, sp.oo)
    crit = sp.solveset(sp.diff(g, x), x, dom)
    if not isinstance(crit, sp.FiniteSet):
        return f"could not find the critical points of {g} over {dom}"
    points = [sp.simplify(g.subs(x, c)) for c in crit]
    points.append(sp.limit(g, x, dom.start, "+"))
    points.append(sp.limit(g, x, dom.end, "-"))
    for v in points:
        if not (v.is_nonnegative or v == sp.oo):
            return f"{g} is not >= 0 at a critical point or end of {dom} (value {v})"
    return None


def _nonneg(e, lemmas) -> bool:
    """True when ``e >= 0`` follows from assumptions, structure and proven ``lemmas``."""
    e = sp.sympify(e)
    if e.is_nonnegative:
        return True
    for pattern, w in lemmas:
        m = e.match(pattern)
        if m is not None and w in m and m[w].is_positive:
            return True
    if isinstance(e, (sp.Sum, sp.Integral)):
        ascending = all(
            len(lim) == 3 and (lim[2] - lim[1]).is_nonnegative is True for lim in e.limits
        )
        return ascending and _nonneg(e.function, lemmas)
    if isinstance(e, (sp.Add, sp.Mul)):
        return all(_nonneg(a, lemmas) for a in e.args)
    if isinstance(e, sp.Pow) and e.exp.is_even and e.base.is_real:
        return True
    if isinstance(e, sp.Pow) and e.exp.is_real and _nonneg(e.base, lemmas):
        return True
    return False


class Derivation:
    """An ordered, machine-checked derivation.

    Parameters
    ----------
    title : str
        Shown as the heading when rendered.
    assumptions : list of (str or sympy object), optional
        What the derivation assumes (e.g. ``sigma > 0``), shown under the title. Give sympy
        symbols the matching assumptions (``sympy.Symbol("sigma", positive=True)``): those are
        what the checker uses.

    Examples
    --------
    See the module docstring and :mod:`vaelearn.derivations.info`.
    """

    def __init__(self, title: str, *, assumptions=None):
        self.title = str(title)
        self.assumptions = list(assumptions or [])
        self.steps: list[Step] = []
        self.verified = False

    # -- building ---------------------------------------------------------------------------
    def step(
        self,
        text: str,
        expr,
        *,
        rule: str = "equal",
        subs: dict | None = None,
        gap=None,
        condition=None,
        wrt=None,
        at=None,
        domain=None,
        ref: int | None = None,
    ) -> Derivation:
        """Append a step and return the derivation (so calls can chain).

        Parameters
        ----------
        text : str
            One sentence saying what this step does.
        expr : sympy expression, ``sympy.Eq`` or inequality
        rule : str, default "equal"
            How the step follows; one of :data:`RULES` (see the module docstring).
        subs : dict, optional
            For ``"substitute"``: ``{old: new}``.
        gap : sympy expression, optional
            For ``"le"``/``"ge"``: the (nonnegative) difference, written so that its sign is
            evident (e.g. a sum of weights times ``t - 1 - log t``).
        condition : sympy inequality or list of them, optional
            For ``"le"``/``"ge"``: one-variable lemmas that ``verify()`` proves and then uses.
        wrt, at : sympy objects, optional
            For ``"diff"``, ``"limit"``, ``"maximum"``, ``"minimum"``.
        domain : sympy Interval, optional
            For ``"maximum"``/``"minimum"``; default from ``wrt``'s assumptions.
        ref : int, optional
            Check against step ``ref`` (1-based) instead of the previous step.

        Raises
        ------
        ValueError
            If ``rule`` is unknown, ``text`` is empty, or the rule's arguments are missing.
        """
        if rule not in RULES:
            raise ValueError(f"rule must be one of {', '.join(RULES)}; got {rule!r}")
        if not str(text).strip():
            raise ValueError("text must be a sentence saying what the step does; got ''")
        expr = sp.sympify(expr)
        if isinstance(expr, sp.logic.boolalg.BooleanAtom):
            # sympy decided the relation on construction (e.g. Eq(symbol, matrix) -> False):
            # comparing two such truth values would "verify" anything.
            raise ValueError(
                f"expr became the constant {expr} when sympy built it; write the relation "
                "so that it stays symbolic (e.g. sympy.Eq(lhs, rhs, evaluate=False))"
            )
        if rule == "definition" and not isinstance(expr, sp.Equality):
            raise ValueError("expr must be sympy.Eq(name, meaning) for rule 'definition'")
        if rule == "substitute" and not subs:
            raise ValueError("subs must be a non-empty {old: new} mapping for rule 'substitute'")
        if rule in ("diff", "limit", "maximum", "minimum") and wrt is None:
            raise ValueError(f"wrt must name the variable for rule {rule!r}")
        if rule in ("limit", "maximum", "minimum") and at is None:
            raise ValueError(f"at must give the point for rule {rule!r}")
        n = len(self.steps) + 1
        if ref is not None and not 1 <= int(ref) < n:
            raise ValueError(f"ref must be an earlier step number in 1..{n - 1}; got {ref}")
        if condition is not None and not isinstance(condition, (list, tuple)):
            condition = [condition]
        options = {
            k: v
            for k, v in dict(
                subs=subs, gap=gap, condition=condition, wrt=wrt, at=at, domain=domain, ref=ref
            ).items()
            if v is not None
        }
        self.steps.append(Step(str(text).strip(), expr, rule, options))
        self.verified = False
        return self

    # -- checking ---------------------------------------------------------------------------
    def verify(self) -> Derivation:
        """Check every step; return the derivation.

        Raises
        ------
        DerivationError
            Naming the first step (number and text) that does not follow, and why.
        """
        if not self.steps:
            raise DerivationError(f"derivation {self.title!r} has no steps")
        for i, st in enumerate(self.steps[1:], start=2):
            ref = st.options.get("ref", i - 1)
            reason = self._check(self.steps[ref - 1], st)
            if reason is not None:
                self.verified = False
                raise DerivationError(
                    f"{self.title}: step {i} ({st.text!r}, rule {st.rule!r}) does not follow "
                    f"from step {ref}: {reason}"
                )
        self.verified = True
        return self

    @staticmethod
    def _check(prev: Step, st: Step) -> str | None:
        o = st.options
        pv, cv = prev.value, st.value
        if st.rule in ("given", "definition"):
            return None
        if st.rule == "equal":
            if _equal_steps(prev.expr, st.expr):
                return None
            return f"could not show {sp.sstr(pv)} == {sp.sstr(cv)}"
        if st.rule == "substitute":
            subs = o["subs"]
            p = prev.expr
            if isinstance(p, sp.Equality) and isinstance(st.expr, sp.Equality):
                if _equal_steps(sp.Eq(p.lhs.subs(subs), p.rhs.subs(subs), evaluate=False), st.expr):
                    return None
            pv = sp.sympify(pv)
            if _equal(pv.subs(subs), cv) or _equal(pv.doit().subs(subs), cv):
                return None
            return f"substituting {subs} into {sp.sstr(pv)} does not give {sp.sstr(cv)}"
        if st.rule in ("le", "ge"):
            diff = cv - pv if st.rule == "le" else pv - cv
            gap = o.get("gap", diff)
            if "gap" in o and not _equal(diff, gap):
                return f"the stated gap {sp.sstr(gap)} is not the difference {sp.sstr(diff)}"
            lemmas = []
            for cond in o.get("condition", []):
                why = _prove_condition(cond)
                if why is not None:
                    return f"condition {sp.sstr(cond)} not proven: {why}"
                g = cond.rhs - cond.lhs if isinstance(cond, sp.LessThan) else cond.lhs - cond.rhs
                (x,) = g.free_symbols
                w = sp.Wild("w")
                lemmas.append((g.subs(x, w), w))
            if _nonneg(gap, lemmas):
                return None
            return f"could not show that the gap {sp.sstr(gap)} is >= 0"
        x = o["wrt"]
        if st.rule == "diff":
            if _equal(sp.diff(sp.sympify(pv).doit(), x), cv):
                return None
            return f"d/d{x} of {sp.sstr(pv)} is not {sp.sstr(cv)}"
        a = o["at"]
        if st.rule == "limit":
            lim = sp.limit(sp.sympify(pv).doit(), x, a, "+")
            if _equal(lim, cv):
                return None
            return f"the limit of {sp.sstr(pv)} as {x} -> {a} is {sp.sstr(lim)}, not {sp.sstr(cv)}"
        # maximum / minimum
        f = sp.sympify(pv).doit()
        dom = o.get("domain", _domain_of(x))
        crit = sp.solveset(sp.simplify(sp.diff(f, x)), x, dom)
        if not (isinstance(crit, sp.FiniteSet) and len(crit) == 1 and _equal(crit.args[0], a)):
            return f"the critical points of {sp.sstr(f)} over {dom} are {crit}, not {{{a}}}"
        second = sp.simplify(sp.diff(f, x, 2).subs(x, a))
        ok = second.is_negative if st.rule == "maximum" else second.is_positive
        if not ok:
            return f"the second derivative at {x} = {a} is {second}, so not a strict {st.rule}"
        if not _equal(f.subs(x, a), cv):
            return f"the value at {x} = {a} is {sp.sstr(sp.simplify(f.subs(x, a)))}, not {cv}"
        return None

    # -- results ----------------------------------------------------------------------------
    @property
    def result(self):
        """The last step's sympy object (call :meth:`verify` first to trust it)."""
        if not self.steps:
            raise DerivationError(f"derivation {self.title!r} has no steps")
        return self.steps[-1].expr

    @property
    def conclusion(self):
        """What the derivation shows, as one sympy relation.

        ``Le``/``Ge`` (first step's left-hand side or value, last step's value) when the chain
        used ``"le"``/``"ge"`` steps, in one direction only; otherwise the last step's equation,
        or ``Eq(first, last value)`` when the last step is a bare expression.
        """
        first, last = self.steps[0], self.steps[-1]
        start = first.expr.lhs if isinstance(first.expr, sp.Equality) else first.expr
        rels = {s.rule for s in self.steps[1:] if s.rule in ("le", "ge")}
        if rels == {"le"}:
            return sp.Le(start, last.value, evaluate=False)
        if rels == {"ge"}:
            return sp.Ge(start, last.value, evaluate=False)
        if rels:
            raise DerivationError(f"{self.title}: mixes 'le' and 'ge' steps; no single conclusion")
        if isinstance(last.expr, sp.Equality):
            return last.expr
        return sp.Eq(start, last.value, evaluate=False)

    # -- rendering --------------------------------------------------------------------------
    _RULE_WORDS = {
        "given": "given",
        "definition": "definition",
        "equal": "",
        "substitute": "substitute",
        "le": "inequality",
        "ge": "inequality",
        "diff": "differentiate",
        "limit": "limit",
        "maximum": "maximum",
        "minimum": "minimum",
    }

    def _step_latex(self, st: Step) -> str:
        if st.rule == "le" and not isinstance(st.expr, sp.core.relational.Relational):
            return r"\le " + sp.latex(st.expr)
        if st.rule == "ge" and not isinstance(st.expr, sp.core.relational.Relational):
            return r"\ge " + sp.latex(st.expr)
        return sp.latex(st.expr)

    def latex(self) -> str:
        """The derivation as LaTeX: one ``aligned`` row per step, its sentence in ``\\text``."""
        rows = []
        for i, st in enumerate(self.steps, start=1):
            # MathJax shows \text{...} literally except braces and backslashes.
            text = st.text.replace("\\", "/").replace("{", r"\{").replace("}", r"\}")
            rows.append(rf"&\text{{{i}. {text}}}\\ &\qquad {self._step_latex(st)}")
        return r"\begin{aligned}" + r"\\[4pt] ".join(rows) + r"\end{aligned}"

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"

    def _repr_markdown_(self) -> str:
        lines = [f"**{self.title}**", ""]
        if self.assumptions:
            assumed = ", ".join(
                a if isinstance(a, str) else f"${sp.latex(a)}$" for a in self.assumptions
            )
            lines += [f"*Assuming* {assumed}.", ""]
        for i, st in enumerate(self.steps, start=1):
            why = self._RULE_WORDS[st.rule]
            tag = f" *({why})*" if why else ""
            pad = " " * len(f"{i}. ")  # keeps the formula inside the list item
            lines += [f"{i}. {st.text}{tag}", "", f"{pad}$$ {self._step_latex(st)} $$", ""]
        return "\n".join(lines)

    def __str__(self) -> str:
        lines = [self.title]
        if self.assumptions:
            lines.append("Assuming: " + ", ".join(str(a) for a in self.assumptions))
        for i, st in enumerate(self.steps, start=1):
            why = self._RULE_WORDS[st.rule]
            lines.append(f"{i}. {st.text}" + (f" [{why}]" if why else ""))
            prefix = {"le": "<= ", "ge": ">= "}.get(st.rule, "")
            lines.append(f"   {prefix}{sp.sstr(st.expr)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "verified" if self.verified else "not verified"
        return f"<Derivation {self.title!r}: {len(self.steps)} steps, {state}>"

    def __len__(self) -> int:
        return len(self.steps)
