r"""Derivations for lesson 05: the continuous Bernoulli's normaliser, mean and gradient.

The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019, arXiv 1907.06845) is the Bernoulli
formula read as a density on [0, 1], :math:`\mathcal{CB}(x;\lambda) = C(\lambda)\,\lambda^x
(1-\lambda)^{1-x}`. Written with the logit :math:`\ell` (:math:`\lambda = e^\ell/(1+e^\ell)`):

- :func:`log_norm`: :math:`C = \ell/\tanh(\ell/2)`, and its limit 2 at :math:`\ell = 0`
  (:math:`\lambda = 1/2`, where the paper's form :math:`2\,\mathrm{artanh}(1-2\lambda)/(1-2\lambda)`
  is 0/0);
- :func:`mean`: :math:`\mathbb E[x] = \tfrac12 + \tfrac12(\coth(\ell/2) - 2/\ell)`;
- :func:`log_norm_gradient`: :math:`\partial_\ell \log C = \sigma(\ell) - \mathbb E[x]`, so the
  log-density's gradient is :math:`x - \mathbb E[x]`, which ``vaelearn.numpy`` uses as the
  backward pass.

Each is derived for :math:`\ell > 0`; :math:`C` and :math:`\mathbb E[x] - 1/2` are even and odd
in :math:`\ell` (:math:`\mathcal{CB}(x;\ell) = \mathcal{CB}(1-x;-\ell)`), which the last steps
check. :func:`log_norm_series` gives the Taylor coefficients the code uses near :math:`\ell = 0`.
``tests/test_likelihoods_grey.py`` verifies all of them.
"""

from __future__ import annotations

import sympy as sp

from vaelearn.derive import Derivation

__all__ = ["log_norm", "mean", "log_norm_gradient", "log_norm_series", "langevin_series"]

X = sp.Symbol("x", positive=True)
L = sp.Symbol("ell", positive=True)
LAM = sp.Symbol("lambda", positive=True)
C = sp.Symbol("C", positive=True)
M = sp.Symbol("m", real=True)
G = sp.Symbol("g", real=True)
U = sp.Symbol("u", positive=True)


def _sigmoid(t):
    return sp.exp(t) / (1 + sp.exp(t))


def log_norm() -> Derivation:
    r""":math:`1/C(\ell) = \tanh(\ell/2)/\ell`, i.e. :math:`C = \ell/\tanh(\ell/2)`, from
    :math:`1/C = \int_0^1 \lambda^x(1-\lambda)^{1-x}dx`, and :math:`C \to 2` at :math:`\ell = 0`."""
    d = Derivation("The continuous Bernoulli's normaliser from the logit")
    R = 1 / C

    def integral(f):
        return sp.Eq(R, sp.Integral(f, (X, 0, 1)))

    d.step(
        "C makes the Bernoulli formula integrate to 1 over [0, 1]: 1/C is its integral.",
        integral(LAM**X * (1 - LAM) ** (1 - X)),
        rule="definition",
    )
    d.step(
        "Write lambda = e^l / (1 + e^l) (the sigmoid of the decoder's logit l).",
        integral(_sigmoid(L) ** X * (1 - _sigmoid(L)) ** (1 - X)),
        rule="substitute",
        subs={LAM: _sigmoid(L)},
    )
    d.step(
        "1 - lambda = 1 / (1 + e^l).",
        integral(_sigmoid(L) ** X * (1 / (1 + sp.exp(L))) ** (1 - X)),
    )
    d.step(
        "Split the powers of the positive numbers e^l and 1 + e^l.",
        integral(sp.exp(L * X) * (1 + sp.exp(L)) ** (-X) * (1 + sp.exp(L)) ** (X - 1)),
    )
    d.step(
        "The integrand is e^(l x) / (1 + e^l): an exponential in x.",
        integral(sp.exp(L * X) / (1 + sp.exp(L))),
    )
    d.step(
        "Integrate: (e^l - 1) / (l (1 + e^l)).",
        sp.Eq(R, (sp.exp(L) - 1) / (L * (1 + sp.exp(L)))),
    )
    d.step(
        "(e^l - 1) / (e^l + 1) = tanh(l / 2): so C = l / tanh(l / 2), and log C = log l - "
        "log tanh(l/2), which the code uses away from l = 0.",
        sp.Eq(R, sp.tanh(L / 2) / L),
    )
    d.step(
        "With u = l/2: 1/C = tanh(u) / (2u), even in l (so the result holds for l < 0 too).",
        sp.Eq(R, sp.tanh(U) / (2 * U)),
        rule="substitute",
        subs={L: 2 * U},
    )
    d.step(
        "At lambda = 1/2 (l = 0) the paper's form is 0/0; the limit is 1/C = 1/2, so C = 2: "
        "the uniform density is 2 times the Bernoulli(1/2) formula's constant 1/2.",
        sp.Rational(1, 2),
        rule="limit",
        wrt=U,
        at=0,
    )
    return d


def mean() -> Derivation:
    r""":math:`\mathbb E[x] = \tfrac12 + \tfrac12(\coth(\ell/2) - 2/\ell)`."""
    d = Derivation("The continuous Bernoulli's mean")
    d.step(
        "The mean weighs x by the normalised density C e^(l x) / (1 + e^l).",
        sp.Eq(M, L / sp.tanh(L / 2) * sp.Integral(X * sp.exp(L * X) / (1 + sp.exp(L)), (X, 0, 1))),
        rule="definition",
    )
    d.step(
        "Integrate by parts: the integral of x e^(l x) over [0, 1] is e^l / l - (e^l - 1) / l^2.",
        sp.Eq(M, L / sp.tanh(L / 2) * (sp.exp(L) / L - (sp.exp(L) - 1) / L**2) / (1 + sp.exp(L))),
    )
    d.step(
        "Simplify: half a Langevin function coth(u) - 1/u of u = l/2, shifted by 1/2.",
        sp.Eq(M, sp.Rational(1, 2) + (sp.cosh(L / 2) / sp.sinh(L / 2) - 2 / L) / 2),
    )
    d.step(
        "As l -> 0 the mean tends to 1/2, like lambda; but for l != 0 it is pulled towards 1/2 "
        "(it is not lambda).",
        sp.Rational(1, 2),
        rule="limit",
        wrt=L,
        at=0,
    )
    return d


def log_norm_gradient() -> Derivation:
    r""":math:`\partial_\ell \log C = 1/\ell - 1/\sinh\ell = \sigma(\ell) - \mathbb E[x]`."""
    d = Derivation("The gradient of log C, and of the log-density")
    d.step("Start from log C.", sp.Eq(G, sp.log(L / sp.tanh(L / 2))), rule="given")
    d.step(
        "Differentiate in l.",
        sp.Eq(G, 1 / L - (1 - sp.tanh(L / 2) ** 2) / (2 * sp.tanh(L / 2))),
        rule="diff",
        wrt=L,
    )
    d.step("Use tanh(u) + coth(u) = 2 coth(2u).", sp.Eq(G, 1 / L - 1 / sp.sinh(L)))
    d.step(
        "That is sigmoid(l) minus the mean: so d/dl log CB(x; l) = x - sigmoid(l) + d log C/dl "
        "= x - E[x], the exponential-family identity.",
        sp.Eq(G, _sigmoid(L) - (sp.Rational(1, 2) + (sp.cosh(L / 2) / sp.sinh(L / 2) - 2 / L) / 2)),
    )
    return d


def log_norm_series(n_terms: int):
    r"""Coefficients :math:`c_k` of :math:`\log(u\coth u) = \sum_{k\ge1} c_k u^{2k}`, k = 1..n."""
    s = sp.series(sp.log(U * sp.cosh(U) / sp.sinh(U)), U, 0, 2 * n_terms + 2).removeO()
    return [s.coeff(U, 2 * k) for k in range(1, n_terms + 1)]


def langevin_series(n_terms: int):
    r"""Coefficients :math:`c_k` of :math:`\coth u - 1/u = \sum_{k\ge1} c_k u^{2k-1}`."""
    s = sp.series(sp.cosh(U) / sp.sinh(U) - 1 / U, U, 0, 2 * n_terms + 1).removeO()
    return [s.coeff(U, 2 * k - 1) for k in range(1, n_terms + 1)]
