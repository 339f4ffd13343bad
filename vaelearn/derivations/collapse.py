"""Derivations for lessons 07-08: pPCA's noise variance, the collapse condition, the KL of a
collapsed dimension, and the importance-weighted bound above the ELBO.

Each function returns a :class:`vaelearn.derive.Derivation`; ``tests/test_collapse.py`` and
``tests/test_iwae.py`` verify every one. Lesson 07 displays :func:`ppca_sigma2_ml`,
:func:`collapse_condition` and :func:`kl_collapsed_dimension`; lesson 08 displays
:func:`iwae_above_elbo`.
"""

from __future__ import annotations

import sympy as sp

from vaelearn.derive import Derivation

__all__ = [
    "ppca_sigma2_ml",
    "collapse_condition",
    "kl_collapsed_dimension",
    "iwae_above_elbo",
    "ignoring_decoder_optimum",
]


def ppca_sigma2_ml() -> Derivation:
    """``sigma2_ML = T / m``: the mean of the ``m = D - d`` discarded eigenvalues. Lesson 07.

    ``D`` is the number of pixels and ``d`` the number of latents (book/notation.md).

    With ``W`` at its optimum, the pPCA log-likelihood depends on ``s = sigma^2`` only through the
    ``m`` directions the latents do not explain (Tipping & Bishop 1999):
    ``-N/2 [m ln s + T / s] + const`` with ``T`` the sum of their eigenvalues.
    """
    s, total = sp.symbols("s T", positive=True)
    m, n = sp.symbols("m N", positive=True, integer=True)
    loss = n / 2 * (m * sp.log(s) + total / s)
    d = Derivation(
        "pPCA's maximum-likelihood noise variance is the mean of the discarded eigenvalues",
        assumptions=[
            "s = sigma^2 > 0",
            "m = D - d discarded directions (D pixels, d latents)",
            "T > 0 the sum of their eigenvalues",
        ],
    )
    d.step(
        "The negative log-likelihood as a function of s, up to terms without s.",
        loss,
        rule="given",
    )
    d.step("Differentiate with respect to s.", sp.diff(loss, s), rule="diff", wrt=s)
    d.step(
        "The only zero is s = T / m and the second derivative is positive there: the minimum "
        "(so the maximum likelihood) is at sigma^2 = T / m, with value:",
        loss.subs(s, total / m),
        rule="minimum",
        wrt=s,
        at=total / m,
        ref=1,
    )
    return d


def collapse_condition() -> Derivation:
    """With ``lambda <= sigma^2`` a latent direction's best column of ``W`` is zero. Lesson 07.

    The log-likelihood of pPCA with fixed ``sigma^2`` splits over the eigen-directions of the data
    covariance. A direction with eigenvalue ``lambda`` modelled by a column of squared norm ``w2``
    has model variance ``c = w2 + sigma^2 >= sigma^2`` and contributes
    ``f(c) = -1/2 (ln c + lambda / c)`` per example (Lucas et al. 2019). Its derivative is
    ``(lambda - c) / (2 c^2)``; when ``lambda <= sigma^2 <= c`` it is never positive, so the best
    ``c`` is the smallest allowed, ``c = sigma^2``: ``w2 = 0`` and the direction collapses.
    """
    c, lam = sp.symbols("c lambda", positive=True)
    sigma2, t = sp.symbols("sigma^2 t", positive=True)
    delta = sp.Symbol("delta", nonnegative=True)     # delta = 0: the eigenvalue equals sigma^2
    f = -(sp.log(c) + lam / c) / 2
    d = Derivation(
        "A direction whose eigenvalue is at most sigma^2 collapses",
        assumptions=[
            "c = w^2 + sigma^2 is the model's variance along the direction",
            "c = sigma^2 + t with t > 0; lambda = sigma^2 - delta with delta >= 0",
        ],
    )
    d.step("The direction's share of the log-likelihood per example.", f, rule="given")
    d.step("Differentiate with respect to c.", sp.diff(f, c), rule="diff", wrt=c)
    d.step("Collect terms.", (lam - c) / (2 * c**2))
    d.step(
        "Write c = sigma^2 + t (t > 0: a nonzero column) and lambda = sigma^2 - delta "
        "(delta >= 0: the eigenvalue at most the noise variance, equality included).",
        -(delta + t) / (2 * (sigma2 + t) ** 2),
        rule="substitute",
        subs={c: sigma2 + t, lam: sigma2 - delta},
    )
    d.step(
        "delta >= 0 and t > 0, so delta + t > 0 and the slope is negative for every nonzero "
        "column, also when lambda = sigma^2: growing the column only lowers the likelihood, "
        "and the best column is zero.",
        sp.Integer(0),
        rule="le",
    )
    return d


def kl_collapsed_dimension() -> Derivation:
    """A collapsed latent dimension has ``q(z_j | x) = N(0, 1)`` and ``KL = 0``. Lesson 07."""
    m = sp.Symbol("m", real=True)
    s2 = sp.Symbol("s^2", positive=True)
    kl = sp.Symbol("KL_j")
    d = Derivation(
        "The KL to the prior of a collapsed dimension is zero",
        assumptions=["q(z_j | x) = N(m, s^2)"],
    )
    d.step(
        "KL of a one-dimensional Gaussian posterior to N(0, 1).",
        sp.Eq(kl, (s2 + m**2 - 1 - sp.log(s2)) / 2),
        rule="given",
    )
    d.step(
        "A collapsed dimension ignores x: the encoder outputs the prior, m = 0 and s^2 = 1.",
        sp.Eq(kl, 0),
        rule="substitute",
        subs={m: 0, s2: 1},
    )
    return d


def iwae_above_elbo() -> Derivation:
    """``L_2 >= L_1``: the two-sample importance-weighted bound is above the ELBO. Lesson 08.

    For two importance weights ``w_i = p(x, z_i) / q(z_i | x) = a^2, b^2`` (``a, b > 0``), the
    per-sample average of the ELBO is ``(ln a^2 + ln b^2) / 2`` and the IWAE bound is
    ``ln((a^2 + b^2) / 2)`` (Burda et al. 2015). Their difference is ``-ln t`` with
    ``t = 2ab / (a^2 + b^2)``; ``-ln t >= 1 - t`` (from ``ln t <= t - 1``) and
    ``1 - t = (a - b)^2 / (a^2 + b^2) >= 0``. Jensen's inequality gives the same for any ``k``.
    """
    a, b = sp.symbols("a b", positive=True)
    tt = sp.Symbol("t", positive=True)
    t = 2 * a * b / (a**2 + b**2)
    elbo = (sp.log(a**2) + sp.log(b**2)) / 2
    iwae = sp.log((a**2 + b**2) / 2)
    # Unevaluated sum, so the checker sees the lemma's term and the square as separate parts.
    gap = sp.Add(t - 1 - sp.log(t), (a - b) ** 2 / (a**2 + b**2), evaluate=False)
    d = Derivation(
        "The importance-weighted bound with k = 2 is at least the ELBO",
        assumptions=["importance weights w_1 = a^2, w_2 = b^2 with a, b > 0"],
    )
    d.step("The ELBO estimate: the mean of the log weights.", elbo, rule="given")
    d.step(
        "The two-sample bound, log of the mean weight, is larger: the gap is -log t with "
        "t = 2ab / (a^2 + b^2), and -log t = (t - 1 - log t) + (a - b)^2 / (a^2 + b^2), "
        "both terms nonnegative (log t <= t - 1).",
        iwae,
        rule="le",
        gap=gap,
        condition=sp.Le(sp.log(tt), tt - 1),
    )
    return d


def ignoring_decoder_optimum() -> Derivation:
    """A decoder that ignores ``z``: the best encoder is the prior and the ELBO equals log p(x).

    Lesson 07 (autoregressive decoders, van den Oord et al. 2016; Chen et al. 2017). When
    ``p(x | z) = r(x)`` for every ``z`` (an autoregressive decoder can represent any ``r`` by the
    chain rule), ``p(x) = integral r(x) p(z) dz = r(x)`` and the ELBO with
    ``q(z | x) = N(m, s^2)`` (one latent; the others add the same terms) is
    ``ln r(x) - KL(N(m, s^2) || N(0, 1))``. Its maximum over the encoder is at ``m = 0``,
    ``s^2 = 1`` -- the prior -- where the KL is 0 and the bound is tight: nothing is gained by
    putting information in ``z``.
    """
    m = sp.Symbol("m", real=True)
    s2 = sp.Symbol("s^2", positive=True)
    log_r = sp.Symbol("ln r(x)", real=True)
    d = Derivation(
        "With a decoder that ignores z, the best q(z|x) is the prior and the ELBO is log p(x)",
        assumptions=["p(x | z) = r(x) for every z", "q(z | x) = N(m, s^2), p(z) = N(0, 1)"],
    )
    d.step(
        "E_q[ln r(x)] = ln r(x) whatever q is; subtract the Gaussian KL to the prior.",
        log_r - (s2 + m**2 - 1 - sp.log(s2)) / 2,
        rule="given",
    )
    d.step("Maximise over the encoder's mean m: the only critical point is m = 0.",
           log_r - (s2 - 1 - sp.log(s2)) / 2, rule="maximum", wrt=m, at=0)
    d.step("Maximise over its variance s^2 > 0: the only critical point is s^2 = 1.",
           log_r, rule="maximum", wrt=s2, at=1)
    return d
