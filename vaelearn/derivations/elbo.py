"""Derivations for lessons 04-05: the ELBO identity, the KL to N(0, I), the Gaussian decoder.

Each function returns a :class:`vaelearn.derive.Derivation`; ``tests/test_derivations_elbo.py``
verifies every one. Lesson 04 displays :func:`linear_gaussian_posterior`,
:func:`elbo_decomposition` and :func:`elbo_decomposition_exact`, and for EM and SGLD
:func:`em_e_step`, :func:`em_m_step`, :func:`em_fixed_point` and
:func:`sgld_stationary_variance`; lesson 05 displays :func:`elbo_two_terms`,
:func:`kl_to_standard_normal`, :func:`gaussian_decoder_nll`,
:func:`mse_beta_equivalence` and :func:`optimal_shared_sigma2`.
"""

from __future__ import annotations

import sympy as sp

from vaelearn.derive import Derivation

__all__ = [
    "linear_gaussian_posterior",
    "elbo_decomposition",
    "elbo_decomposition_exact",
    "elbo_two_terms",
    "kl_to_standard_normal",
    "gaussian_decoder_nll",
    "mse_beta_equivalence",
    "optimal_shared_sigma2",
    "em_e_step",
    "em_m_step",
    "em_fixed_point",
    "sgld_stationary_variance",
]


def _log_normal(t, mean, var):
    """``log N(t; mean, var)`` as a sympy expression."""
    return -sp.log(2 * sp.pi * var) / 2 - (t - mean) ** 2 / (2 * var)


def _normal(t, mean, var):
    return sp.exp(-((t - mean) ** 2) / (2 * var)) / sp.sqrt(2 * sp.pi * var)


def linear_gaussian_posterior() -> Derivation:
    """``p(x, z) = N(z; 0, 1) N(x; z, 1) = N(x; 0, 2) N(z; x/2, 1/2)``: evidence and posterior.

    Completing the square in ``z`` splits the joint into a factor without ``z`` (the evidence
    ``p(x)``) and a normalised density in ``z`` (the posterior ``p(z | x)``). Lesson 04.
    """
    x, z = sp.symbols("x z", real=True)
    p = sp.Function("p")
    d = Derivation(
        "Evidence and posterior of the model z ~ N(0, 1), x | z ~ N(z, 1)",
        assumptions=["x and z real"],
    )
    d.step(
        "The joint density is prior times likelihood.",
        sp.Eq(p(x, z), sp.Mul(_normal(z, 0, 1), _normal(x, z, 1), evaluate=False)),
        rule="given",
    )
    d.step(
        "Collect the exponents: the sum of the two squares.",
        sp.Eq(p(x, z), sp.exp(-(z**2) / 2 - (x - z) ** 2 / 2) / (2 * sp.pi)),
    )
    d.step(
        "Complete the square in z: z^2/2 + (x - z)^2/2 = (z - x/2)^2 + x^2/4.",
        sp.Eq(p(x, z), sp.exp(-((z - x / 2) ** 2) - x**2 / 4) / (2 * sp.pi)),
    )
    d.step(
        "Split into a density of x alone, N(x; 0, 2), times a density of z, N(z; x/2, 1/2): "
        "written as the product of the two normal densities, constants included, so the check "
        "covers the normalising constants too.",
        sp.Eq(p(x, z), sp.Mul(_normal(x, 0, 2), _normal(z, x / 2, sp.Rational(1, 2)),
                              evaluate=False)),
    )
    return d


def elbo_decomposition() -> Derivation:
    """``log p(x) = ELBO(q) + KL(q || p(z | x))`` for any density ``q(z)``. Lesson 04.

    Bayes' rule holds at every ``z``; adding and subtracting ``log q(z)`` splits ``log p(x)``
    into two terms; averaging over ``z ~ q`` leaves the left side unchanged (it does not depend on
    ``z``) and turns the terms into the ELBO and the KL divergence (Blei et al. 2017).
    """
    x, z = sp.symbols("x z", real=True)
    p, q = sp.Function("p"), sp.Function("q")
    log_px, log_pxz = sp.log(p(x)), sp.log(p(x, z))
    # p(z|x) as a function of one symbol named "z|x", so sympy keeps it distinct from p(x, z).
    log_post, log_q = sp.log(p(sp.Symbol("z|x", real=True))), sp.log(q(z))
    e_q = sp.Function("E_q")
    elbo = sp.Symbol(r"\mathrm{ELBO}(q)", real=True)
    kl = sp.Symbol(r"\mathrm{KL}(q\|p(z|x))", real=True)
    d = Derivation("The evidence splits into the ELBO and a KL gap")
    d.step(
        "Bayes' rule p(z|x) = p(x, z) / p(x) holds at every z; take logs.",
        sp.Eq(log_px, log_pxz - log_post),
        rule="given",
    )
    d.step(
        "Add and subtract log q(z) for any density q.",
        sp.Eq(log_px, sp.Add(log_pxz - log_q, log_q - log_post, evaluate=False)),
    )
    d.step(
        "Average both sides over z ~ q: the left side does not depend on z, and q integrates "
        "to 1, so it is unchanged.",
        sp.Eq(log_px, e_q(log_pxz - log_q) + e_q(log_q - log_post)),
        rule="given",
    )
    d.step(
        "Name the two averages: the evidence lower bound and the KL divergence from q to the "
        "posterior.",
        sp.Eq(log_px, elbo + kl),
        rule="substitute",
        subs={e_q(log_pxz - log_q): elbo, e_q(log_q - log_post): kl},
    )
    return d


def elbo_decomposition_exact() -> Derivation:
    """The identity of :func:`elbo_decomposition` on the linear-Gaussian model, in closed form.

    For ``q = N(m, v)``: ``ELBO = -ln(2 pi) - ((x - m)^2 + v)/2 - (m^2 + v)/2 + ln(2 pi e v)/2``
    and ``KL(q || N(x/2, 1/2)) = v + (m - x/2)^2 - 1/2 - ln(2 v)/2`` add up to ``log N(x; 0, 2)``
    for every ``x``, ``m`` and ``v > 0``. Lesson 04.
    """
    x, z, m = sp.symbols("x z m", real=True)
    v = sp.Symbol("v", positive=True)
    log_px = sp.Symbol(r"\log p(x)")
    elbo = (
        -sp.log(2 * sp.pi)
        - ((x - m) ** 2 + v) / 2
        - (m**2 + v) / 2
        + sp.log(2 * sp.pi * sp.E * v) / 2
    )
    kl = v + (m - x / 2) ** 2 - sp.Rational(1, 2) - sp.log(2 * v) / 2
    d = Derivation(
        "ELBO + KL = log p(x) on the model z ~ N(0,1), x | z ~ N(z,1), with q = N(m, v)",
        assumptions=["m real", "v > 0"],
    )
    d.step("The evidence of the model is N(x; 0, 2).", sp.Eq(log_px, _log_normal(x, 0, 2)),
           rule="given")
    d.step(
        "Bayes' rule at any z: log p(x) = log p(z) + log p(x|z) - log p(z|x), with the "
        "posterior N(x/2, 1/2).",
        sp.Eq(
            log_px,
            _log_normal(z, 0, 1) + _log_normal(x, z, 1) - _log_normal(z, x / 2, sp.Rational(1, 2)),
        ),
    )
    d.step(
        "The ELBO (the Gaussian averages E_q[z] = m and E_q[z^2] = m^2 + v, plus the entropy "
        "of q) plus the KL between the Gaussians q and N(x/2, 1/2).",
        sp.Eq(log_px, elbo + kl),
    )
    return d


def elbo_two_terms() -> Derivation:
    """``ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z))``: reconstruction minus a prior penalty.

    Lesson 05 (Kingma & Welling 2013, eq. 3).
    """
    # The densities' values at the sampled z: positive numbers, so their logs expand.
    lik = sp.Symbol(r"p_{\theta}(x|z)", positive=True)
    prior = sp.Symbol("p(z)", positive=True)
    guide = sp.Symbol("q(z)", positive=True)
    e_q = sp.Function("E_q")
    elbo = sp.Symbol(r"\mathrm{ELBO}")
    rec = sp.Symbol(r"E_q[\log p_{\theta}(x|z)]", real=True)
    kl = sp.Symbol(r"\mathrm{KL}(q\|p(z))", real=True)
    d = Derivation("The ELBO as reconstruction minus KL to the prior")
    d.step(
        "Start from the ELBO, with the joint p(x, z) = p(x|z) p(z).",
        sp.Eq(elbo, e_q(sp.log(lik * prior / guide))),
        rule="given",
    )
    d.step(
        "The log of a product is a sum of logs.",
        sp.Eq(elbo, e_q(sp.log(lik) - (sp.log(guide) - sp.log(prior)))),
    )
    d.step(
        "An average of a difference is the difference of the averages (linearity).",
        sp.Eq(elbo, e_q(sp.log(lik)) - e_q(sp.log(guide) - sp.log(prior))),
        rule="given",
    )
    d.step(
        "The second average is the KL divergence from q to the prior.",
        sp.Eq(elbo, rec - kl),
        rule="substitute",
        subs={e_q(sp.log(lik)): rec, e_q(sp.log(guide) - sp.log(prior)): kl},
    )
    return d


def kl_to_standard_normal() -> Derivation:
    """``KL(N(mu, sigma^2) || N(0, 1)) = -1/2 (1 + log sigma^2 - mu^2 - sigma^2)``, one dimension.

    With a diagonal covariance both densities factor over dimensions and the KL is the sum of
    this over ``j``. Lesson 05 (Kingma & Welling 2013, appendix B).
    """
    z, mu = sp.symbols("z mu", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    kl = sp.Symbol(r"\mathrm{KL}")
    q = _normal(z, mu, sigma**2)
    lim = (z, -sp.oo, sp.oo)
    d = Derivation(
        "KL from a Gaussian to the standard normal",
        assumptions=["mu real", "sigma > 0"],
    )
    d.step(
        "The definition: the average of log q - log p under q = N(mu, sigma^2), p = N(0, 1).",
        sp.Eq(kl, sp.Integral(q * (_log_normal(z, mu, sigma**2) - _log_normal(z, 0, 1)), lim)),
        rule="given",
    )
    d.step(
        "The ln(2 pi) terms cancel inside the average.",
        sp.Eq(kl, sp.Integral(q * (-sp.log(sigma**2) / 2 - (z - mu) ** 2 / (2 * sigma**2)
                                   + z**2 / 2), lim)),
    )
    d.step(
        "Gaussian averages: E[(z - mu)^2] = sigma^2 and E[z^2] = mu^2 + sigma^2.",
        sp.Eq(kl, -sp.log(sigma**2) / 2 - sp.Rational(1, 2) + (mu**2 + sigma**2) / 2),
    )
    d.step(
        "Collect the terms; for a diagonal Gaussian in d dimensions, sum this over dimensions.",
        sp.Eq(kl, -sp.Rational(1, 2) * (1 + sp.log(sigma**2) - mu**2 - sigma**2)),
    )
    return d


def gaussian_decoder_nll() -> Derivation:
    """``-log N(x; m, sigma^2 I) = ||x - m||^2 / (2 sigma^2) + D/2 ln(2 pi sigma^2)``. Lesson 05.

    Shown for ``D = 3`` pixels with symbols so every term is visible; the same algebra holds for
    any ``D``.
    """
    sigma = sp.Symbol("sigma", positive=True)
    xs = sp.symbols("x_1:4", real=True)
    ms = sp.symbols("m_1:4", real=True)
    nll = sp.Symbol(r"-\log p(x|z)")
    pairs = list(zip(xs, ms, strict=True))
    sq = sum((a - b) ** 2 for a, b in pairs)
    d = Derivation(
        "The Gaussian decoder's loss is a scaled squared error plus a constant",
        assumptions=["sigma > 0", "D = 3 pixels x_j with decoder means m_j"],
    )
    d.step(
        "Pixels are independent given z: minus the log of a product of normal densities.",
        sp.Eq(nll, -sp.log(sp.Mul(*[_normal(a, b, sigma**2) for a, b in pairs]))),
        rule="given",
    )
    d.step(
        "The log of a product is the sum of the log-densities.",
        sp.Eq(nll, -sum(_log_normal(a, b, sigma**2) for a, b in pairs)),
    )
    d.step(
        "Collect: the squared error over 2 sigma^2, plus D/2 ln(2 pi sigma^2).",
        sp.Eq(nll, sq / (2 * sigma**2) + sp.Rational(3, 2) * sp.log(2 * sp.pi * sigma**2)),
    )
    return d


def mse_beta_equivalence() -> Derivation:
    """``2 sigma^2 (-ELBO) = ||x - m||^2 + beta KL + const`` with ``beta = 2 sigma^2``. Lesson 05.

    So "squared error plus beta times KL" is a Gaussian decoder with variance ``beta / 2``
    (when the squared error is summed over pixels): multiplying a loss by a positive constant does
    not move its minimum.
    """
    sigma = sp.Symbol("sigma", positive=True)
    dim = sp.Symbol("D", positive=True, integer=True)
    sse = sp.Symbol(r"\|x - m\|^2", nonnegative=True)
    kl = sp.Symbol(r"\mathrm{KL}", nonnegative=True)
    beta = sp.Symbol("beta", positive=True)
    loss = sp.Symbol(r"2\sigma^2\,(-\mathrm{ELBO})")
    const = dim * sigma**2 * sp.log(2 * sp.pi * sigma**2)
    d = Derivation("Squared error + beta KL is a Gaussian decoder with beta = 2 sigma^2",
                   assumptions=["sigma > 0"])
    d.step(
        "The negative ELBO with a Gaussian decoder, multiplied by 2 sigma^2 > 0.",
        sp.Eq(loss, 2 * sigma**2 * (sse / (2 * sigma**2)
                                     + dim / 2 * sp.log(2 * sp.pi * sigma**2) + kl)),
        rule="given",
    )
    d.step(
        "Multiply out.",
        sp.Eq(loss, sse + 2 * sigma**2 * kl + const),
    )
    d.step(
        "Write beta for 2 sigma^2 in front of the KL: the rest does not depend on the weights.",
        sp.Eq(loss, sse + beta * kl + const),
        rule="substitute",
        subs={2 * sigma**2 * kl: beta * kl},
    )
    return d


def optimal_shared_sigma2() -> Derivation:
    """The shared decoder variance that minimises the loss is the MSE per dimension. Lesson 05.

    Over ``N`` examples with ``D`` pixels and total squared error ``S``:
    ``L(s) = S / (2 s) + N D / 2 ln(2 pi s)`` is minimised at ``s = S / (N D)``.
    """
    s = sp.Symbol("s", positive=True)  # sigma^2
    total = sp.Symbol("S", positive=True)
    n, dim = sp.symbols("N D", positive=True, integer=True)
    loss = total / (2 * s) + n * dim / 2 * sp.log(2 * sp.pi * s)
    best = total / (n * dim)
    d = Derivation(
        "The best shared sigma^2 is the mean squared error per dimension",
        assumptions=["s = sigma^2 > 0", "S > 0 the squared error summed over N examples and D "
                     "pixels"],
    )
    d.step("The Gaussian decoder's loss over the data set, as a function of s = sigma^2.",
           loss, rule="given")
    d.step("Differentiate with respect to s.", sp.diff(loss, s), rule="diff", wrt=s)
    d.step(
        "Its only zero is s = S / (N D); the second derivative there is positive, so the loss "
        "is smallest there, and its value is:",
        loss.subs(s, best),
        rule="minimum",
        wrt=s,
        at=best,
        ref=1,
    )
    return d


def em_e_step() -> Derivation:
    """The E-step: over Gaussian guides ``q = N(m, v)`` the ELBO is largest at the posterior.

    For ``z ~ N(0, a)``, ``x | z ~ N(z, s)``, maximising the closed-form ELBO over ``m`` gives
    ``m = a x / (a + s)``, then over ``v`` gives ``v = a s / (a + s)``, and the maximum value is
    ``log N(x; 0, a + s) = log p(x)``: the gap closes exactly (Neal and Hinton 1998). Lesson 04.
    """
    x, m = sp.symbols("x m", real=True)
    a, s, v = sp.symbols("a s v", positive=True)
    elbo = (
        -(sp.log(2 * sp.pi * s) + ((x - m) ** 2 + v) / s) / 2
        - ((v + m**2) / a - 1 - sp.log(v / a)) / 2
    )
    d = Derivation(
        "E-step: the best Gaussian guide is the posterior, and the ELBO reaches log p(x)",
        assumptions=["x, m real", "a, s, v > 0"],
    )
    d.step(
        "The ELBO of q = N(m, v): expected log-likelihood minus KL(q || N(0, a)).",
        elbo,
        rule="given",
    )
    d.step(
        "Maximise over the mean m: the only critical point is m = a x / (a + s), where the "
        "second derivative -1/s - 1/a is negative.",
        elbo.subs(m, a * x / (a + s)),
        rule="maximum",
        wrt=m,
        at=a * x / (a + s),
    )
    best_m = elbo.subs(m, a * x / (a + s))
    d.step(
        "Maximise over the variance v > 0: the only critical point is v = a s / (a + s).",
        best_m.subs(v, a * s / (a + s)),
        rule="maximum",
        wrt=v,
        at=a * s / (a + s),
    )
    d.step(
        "The maximum is the log-evidence log N(x; 0, a + s): the gap KL(q || p(z|x)) is 0.",
        _log_normal(x, 0, a + s),
    )
    return d


def em_m_step() -> Derivation:
    """The M-step for the prior variance: ``a_new = (1/N) sum_i (m_i^2 + v_i)``. Lesson 04.

    With the guides ``q_i = N(m_i, v_i)`` held fixed, only ``sum_i E_{q_i}[log N(z_i; 0, a)] =
    -N/2 ln(2 pi a) - S / (2 a)`` depends on ``a``, where ``S = sum_i (m_i^2 + v_i)``
    (``E_q[z^2] = m^2 + v``). It is largest at ``a = S / N``.
    """
    a, total = sp.symbols("a S", positive=True)
    n = sp.Symbol("N", positive=True, integer=True)
    part = -n / 2 * sp.log(2 * sp.pi * a) - total / (2 * a)
    d = Derivation(
        "M-step: the prior variance that maximises the ELBO for fixed guides",
        assumptions=["a > 0", "S = sum_i (m_i^2 + v_i) > 0 over N guides q_i = N(m_i, v_i)"],
    )
    d.step(
        "The part of the ELBO that depends on a: the expected log-prior, with E_q[z_i^2] = "
        "m_i^2 + v_i summed into S.",
        part,
        rule="given",
    )
    d.step("Differentiate with respect to a.", sp.diff(part, a), rule="diff", wrt=a)
    d.step(
        "Its only zero is a = S / N, a maximum (negative second derivative); the value there:",
        part.subs(a, total / n),
        rule="maximum",
        wrt=a,
        at=total / n,
        ref=1,
    )
    return d


def em_fixed_point() -> Derivation:
    """EM's fixed point is the maximum-likelihood ``a* = M - s`` and its rate ``1 - (a*/M)^2``.

    One E-step and one M-step map ``a`` to
    ``F(a) = (a / (a + s))^2 M + a s / (a + s)``, with ``M = mean(x^2)`` (the posterior means
    ``a x_i / (a + s)`` squared and averaged, plus the posterior variance). ``F(M - s) = M - s``,
    and near it the error is multiplied by ``F'(M - s) = 1 - ((M - s) / M)^2`` per iteration.
    Lesson 04.
    """
    a, s, big_m = sp.symbols("a s M", positive=True)
    em_map = (a / (a + s)) ** 2 * big_m + a * s / (a + s)
    d = Derivation(
        "EM's fixed point for the prior variance is the maximum-likelihood estimate",
        assumptions=["a, s > 0", "M = mean(x^2) > s"],
    )
    d.step(
        "One E-step then one M-step: a_new = mean((a x_i / (a + s))^2) + a s / (a + s).",
        em_map,
        rule="given",
    )
    d.step(
        "At a = M - s (the maximiser of sum_i log N(x_i; 0, a + s)) the map returns a itself.",
        big_m - s,
        rule="substitute",
        subs={a: big_m - s},
    )
    d.step("Differentiate the map with respect to a.", sp.diff(em_map, a), rule="diff", wrt=a,
           ref=1)
    d.step(
        "At the fixed point: the factor by which EM shrinks the error in each iteration.",
        1 - ((big_m - s) / big_m) ** 2,
        rule="substitute",
        subs={a: big_m - s},
    )
    return d


def sgld_stationary_variance() -> Derivation:
    """Stationary variance of SGLD (fixed step) on a Gaussian posterior with precision ``lam``.

    One step is ``z' - mu = (1 - eps lam / 2)(z - mu) + (eps / 2) eta + sqrt(eps) xi`` with
    minibatch error ``eta`` of variance ``tau^2`` and ``xi ~ N(0, 1)``, so
    ``Var z' = (1 - eps lam / 2)^2 Var z + eps + eps^2 tau^2 / 4``. Its fixed point is
    ``(1 + eps tau^2 / 4) / (lam (1 - eps lam / 4))``: larger than the posterior variance
    ``1 / lam`` by a factor ``1 + eps (tau^2 + lam) / (4 - eps lam)``, which is ``1 + O(eps)``
    (Welling and Teh 2011 let ``eps -> 0``). Lesson 04.
    """
    eps, lam = sp.symbols("epsilon lambda", positive=True)
    tau2 = sp.Symbol("tau^2", nonnegative=True)
    var, var_next = sp.Symbol("V", positive=True), sp.Symbol("V'", positive=True)
    rho = 1 - eps * lam / 2
    fixed = (1 + eps * tau2 / 4) / (lam * (1 - eps * lam / 4))
    d = Derivation(
        "SGLD with a fixed step: the stationary variance is biased by O(step)",
        assumptions=["epsilon, lambda > 0", "epsilon lambda < 4", "tau^2 >= 0"],
    )
    d.step(
        "Variance after one step: the contraction squared times the old variance, plus the "
        "injected noise eps and the minibatch noise (eps/2)^2 tau^2 (independent of z).",
        sp.Eq(var_next, rho**2 * var + eps + eps**2 * tau2 / 4),
        rule="given",
    )
    d.step(
        "Put in V = (1 + eps tau^2 / 4) / (lam (1 - eps lam / 4)): the variance does not "
        "change, so this is the fixed point (unique, since 0 < eps lam < 4 makes the map a "
        "contraction).",
        sp.Eq(var_next, fixed),
        rule="substitute",
        subs={var: fixed},
    )
    d.step(
        "Written relative to the posterior variance 1 / lam: a bias factor 1 + O(eps).",
        sp.Eq(var_next, (1 + eps * (tau2 + lam) / (4 - eps * lam)) / lam),
    )
    return d
