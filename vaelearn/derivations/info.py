"""Derivations for lesson 01 (entropy, cross-entropy, KL), each checked step by step.

Every function returns an unverified :class:`vaelearn.derive.Derivation`; call ``.verify()``
(``tests/test_derivations.py`` does, for each one). In a notebook,
``bernoulli_entropy_maximum().verify()`` renders the checked steps.
"""

from __future__ import annotations

import sympy as sp
from sympy.stats import Expectation, Normal

from ..derive import Derivation

__all__ = [
    "bernoulli_entropy_maximum",
    "gibbs_inequality",
    "kl_gaussians",
    "mutual_information_identities",
    "normal_pdf",
    "optimal_code_lengths",
    "rate_as_mutual_information",
]


def normal_pdf(x, mean, std):
    """The univariate normal density ``N(x; mean, std**2)`` as a sympy expression."""
    return sp.exp(-((x - mean) ** 2) / (2 * std**2)) / sp.sqrt(2 * sp.pi * std**2)


def bernoulli_entropy_maximum() -> Derivation:
    """The entropy of a Bernoulli(p) variable is largest at p = 1/2, where it is log 2 (1 bit).

    ``H(p) = -p log p - (1 - p) log(1 - p)``; ``H'(p) = log(1 - p) - log p`` vanishes only at
    ``p = 1/2`` on ``(0, 1)`` and ``H''(1/2) = -4 < 0``.
    """
    p = sp.Symbol("p", positive=True)
    H = sp.Function("H")
    half = sp.Rational(1, 2)
    d = Derivation(
        "The entropy of a coin is largest for a fair coin",
        assumptions=["0 < p < 1 is the probability of heads", "natural logarithms (nats)"],
    )
    d.step(
        "The entropy of a coin that shows heads with probability p.",
        sp.Eq(H(p), -p * sp.log(p) - (1 - p) * sp.log(1 - p)),
        rule="definition",
    )
    d.step(
        "Differentiate with respect to p (the +1 and -1 from the product rule cancel).",
        sp.Eq(sp.Derivative(H(p), p), sp.log(1 - p) - sp.log(p)),
        rule="diff",
        wrt=p,
    )
    d.step(
        "The derivative vanishes only where 1 - p = p, and H''(1/2) = -4 < 0: the only "
        "stationary point in (0, 1) is the maximum.",
        sp.Eq(H(half), sp.log(2)),
        rule="maximum",
        wrt=p,
        at=half,
        domain=sp.Interval.open(0, 1),
        ref=1,
    )
    d.step(
        "In bits (divide by log 2), a fair coin carries exactly one bit.",
        sp.Eq(H(half) / sp.log(2), 1),
    )
    return d


def kl_gaussians() -> Derivation:
    """KL(N(mu_q, sigma_q^2) || N(mu_p, sigma_p^2)) in closed form, from the integral.

    Result: ``1/2 [log(sigma_p^2 / sigma_q^2) + (sigma_q^2 + (mu_q - mu_p)^2) / sigma_p^2 - 1]``.
    The expectations over ``X ~ q`` are ``sympy.stats`` objects, so the checker evaluates them
    (as integrals) rather than assuming them.
    """
    mu_q, mu_p = sp.symbols("mu_q mu_p", real=True)
    sigma_q, sigma_p = sp.symbols("sigma_q sigma_p", positive=True)
    X = Normal("X", mu_q, sigma_q)  # X ~ q
    KL = sp.Symbol(r"D_{\mathrm{KL}}(q \| p)")
    half = sp.Rational(1, 2)
    d = Derivation(
        "KL divergence between two univariate Gaussians",
        assumptions=["q = N(mu_q, sigma_q^2), p = N(mu_p, sigma_p^2)", "sigma_q, sigma_p > 0"],
    )
    d.step(
        "KL is the integral of q(x) log(q(x) / p(x)): the expected log-ratio of the densities "
        "for X drawn from q.",
        sp.Eq(KL, Expectation(sp.log(normal_pdf(X, mu_q, sigma_q) / normal_pdf(X, mu_p, sigma_p)))),
        rule="definition",
    )
    d.step(
        "The log of a ratio of Gaussians: the normalisers give log(sigma_p / sigma_q), the "
        "exponents give two quadratics.",
        sp.Eq(
            KL,
            Expectation(
                sp.log(sigma_p / sigma_q)
                - (X - mu_q) ** 2 / (2 * sigma_q**2)
                + (X - mu_p) ** 2 / (2 * sigma_p**2)
            ),
        ),
    )
    d.step(
        "Expectation is linear: split it into a constant and two expected squares.",
        sp.Eq(
            KL,
            sp.log(sigma_p / sigma_q)
            - Expectation((X - mu_q) ** 2) / (2 * sigma_q**2)
            + Expectation((X - mu_p) ** 2) / (2 * sigma_p**2),
        ),
    )
    d.step(
        "The variance of X is sigma_q^2, and its second moment about mu_p is "
        "sigma_q^2 + (mu_q - mu_p)^2.",
        sp.Eq(
            KL,
            sp.log(sigma_p / sigma_q) - half + (sigma_q**2 + (mu_q - mu_p) ** 2) / (2 * sigma_p**2),
        ),
    )
    d.step(
        "Written with variances, the form vaelearn.info.kl_normal computes.",
        sp.Eq(
            KL,
            half
            * (
                sp.log(sigma_p**2 / sigma_q**2) + (sigma_q**2 + (mu_q - mu_p) ** 2) / sigma_p**2 - 1
            ),
        ),
    )
    return d


def gibbs_inequality() -> Derivation:
    """Gibbs' inequality KL(p || q) >= 0 from log t <= t - 1.

    Distributions over ``n`` outcomes with positive probabilities (terms with ``p_i = 0``
    contribute 0 and can be dropped; if some ``q_i = 0`` with ``p_i > 0`` the KL is infinite).
    """
    i = sp.Symbol("i", integer=True, positive=True)
    n = sp.Symbol("n", integer=True, positive=True)
    p = sp.IndexedBase("p", positive=True)
    q = sp.IndexedBase("q", positive=True)
    t = sp.Symbol("t", positive=True)
    KL = sp.Symbol(r"D_{\mathrm{KL}}(p \| q)")
    S = (i, 1, n)
    d = Derivation(
        "Gibbs' inequality: KL is never negative",
        assumptions=["p_i > 0, q_i > 0", "sum_i p_i = sum_i q_i = 1"],
    )
    d.step(
        "The KL divergence of q from p.",
        sp.Eq(KL, sp.Sum(p[i] * sp.log(p[i] / q[i]), S)),
        rule="definition",
    )
    d.step(
        "Flip the ratio inside the log.",
        sp.Eq(KL, sp.Sum(-p[i] * sp.log(q[i] / p[i]), S)),
    )
    d.step(
        "log t <= t - 1 for every t > 0 (equality only at t = 1); use it with t = q_i / p_i, "
        "weighted by p_i > 0.",
        sp.Sum(-p[i] * (q[i] / p[i] - 1), S),
        rule="ge",
        condition=sp.Le(sp.log(t), t - 1),
        gap=sp.Sum(p[i] * (q[i] / p[i] - 1 - sp.log(q[i] / p[i])), S),
    )
    d.step(
        "Multiply out.",
        sp.Sum(p[i], S) - sp.Sum(q[i], S),
    )
    d.step(
        "Both distributions sum to 1.",
        sp.Integer(0),
        rule="substitute",
        subs={sp.Sum(p[i], S): 1, sp.Sum(q[i], S): 1},
    )
    return d


def optimal_code_lengths() -> Derivation:
    """Code lengths minimising the expected length under Kraft's equality are -log2 p_i.

    Minimise ``sum_i p_i l_i`` subject to ``sum_i 2^(-l_i) = 1`` with a Lagrange multiplier
    ``lambda``; each ``l_i`` enters one term ``p_i l_i + lambda 2^(-l_i)``, minimised at
    ``2^(-l_i) = p_i / (lambda log 2)``; the constraint then fixes ``lambda = 1 / log 2``.
    """
    p = sp.Symbol("p_i", positive=True)
    ell = sp.Symbol("l_i", real=True)
    lam = sp.Symbol("lambda", positive=True)
    L = sp.Function("L_i")
    d = Derivation(
        "Optimal code lengths are -log2 p",
        assumptions=["sum_i 2^(-l_i) = 1 (Kraft, with equality)", "lambda > 0"],
    )
    d.step(
        "The part of the Lagrangian sum_i p_i l_i + lambda (sum_i 2^(-l_i) - 1) that depends "
        "on l_i.",
        sp.Eq(L(ell), p * ell + lam * 2 ** (-ell)),
        rule="definition",
    )
    l_star = sp.log(lam * sp.log(2) / p, 2)
    d.step(
        "It is convex in l_i with one stationary point: the minimum is at "
        "2^(-l_i) = p_i / (lambda log 2).",
        sp.Eq(L(l_star), p * l_star + p / sp.log(2)),
        rule="minimum",
        wrt=ell,
        at=l_star,
        domain=sp.Reals,
    )
    j, n = sp.symbols("j n", integer=True, positive=True)
    kraft = sp.Symbol("K")
    p_sum = sp.Sum(sp.IndexedBase("p")[j], (j, 1, n))
    d.step(
        "At the minimum every 2^(-l_j) is p_j / (lambda log 2), so Kraft's sum K over the n "
        "symbols is their sum, with lambda log 2 taken out of it.",
        sp.Eq(kraft, p_sum / (lam * sp.log(2))),
        rule="definition",
    )
    d.step(
        "The probabilities sum to 1.",
        sp.Eq(kraft, 1 / (lam * sp.log(2))),
        rule="substitute",
        subs={p_sum: 1},
    )
    d.step(
        "Kraft's equality K = 1 holds at lambda = 1 / log 2, and only there (K falls strictly "
        "as lambda grows).",
        sp.Eq(kraft, 1),
        rule="substitute",
        subs={lam: 1 / sp.log(2)},
    )
    d.step(
        "Put lambda = 1 / log 2 into the minimum of step 2: the optimal length is "
        "l_i = -log2 p_i.",
        sp.Eq(L(-sp.log(p, 2)), -p * sp.log(p, 2) + p / sp.log(2)),
        rule="substitute",
        subs={lam: 1 / sp.log(2)},
        ref=2,
    )
    return d


def mutual_information_identities() -> Derivation:
    """I(X; Y) = KL(p(x, y) || p(x) p(y)) = H(X) + H(Y) - H(X, Y) = H(X) - H(X | Y).

    A joint table ``p_ij`` (``n`` values of X, ``m`` of Y) with marginals ``a_i = sum_j p_ij``
    and ``b_j = sum_i p_ij``. The log of the ratio splits into three logs (checked); each single
    log is then summed over the index it does not depend on, which turns the joint into a
    marginal (stated, step 3: sympy does not pull a factor out of a sum over a bound index);
    naming the three sums gives the entropies (checked), and the chain rule
    ``H(X, Y) = H(Y) + H(X | Y)`` (``log p(x, y) = log p(y) + log p(x | y)``) the last form.
    """
    i, j = sp.symbols("i j", integer=True, positive=True)
    n, m = sp.symbols("n m", integer=True, positive=True)
    p = sp.IndexedBase("p", positive=True)
    a = sp.IndexedBase("a", positive=True)
    b = sp.IndexedBase("b", positive=True)
    mi = sp.Symbol("I(X;Y)")
    h_x, h_y, h_xy, h_x_given_y = (sp.Symbol(name) for name in ("H(X)", "H(Y)", "H(X,Y)",
                                                                 "H(X|Y)"))

    def both(f):
        return sp.Sum(f, (j, 1, m), (i, 1, n))

    d = Derivation(
        "Mutual information: three ways to write it",
        assumptions=[
            "p_ij > 0 is the joint table p(x_i, y_j), summing to 1",
            "a_i = sum_j p_ij and b_j = sum_i p_ij are the marginals of X and Y",
        ],
    )
    d.step(
        "Mutual information is the KL divergence of the joint from the product of its "
        "marginals: how far X and Y are from independent.",
        sp.Eq(mi, both(p[i, j] * sp.log(p[i, j] / (a[i] * b[j])))),
        rule="definition",
    )
    d.step(
        "The log of a ratio is a difference of logs.",
        sp.Eq(mi, both(p[i, j] * sp.log(p[i, j])) - both(p[i, j] * sp.log(a[i]))
              - both(p[i, j] * sp.log(b[j]))),
    )
    d.step(
        "log a_i does not depend on j and log b_j not on i: sum the joint over the other "
        "index first.",
        sp.Eq(mi, both(p[i, j] * sp.log(p[i, j]))
              - sp.Sum(sp.log(a[i]) * sp.Sum(p[i, j], (j, 1, m)), (i, 1, n))
              - sp.Sum(sp.log(b[j]) * sp.Sum(p[i, j], (i, 1, n)), (j, 1, m))),
        rule="given",
    )
    d.step(
        "The inner sums are the marginals a_i and b_j, so the last two sums are -H(X) and "
        "-H(Y); the first is -H(X, Y).",
        sp.Eq(mi, h_x + h_y - h_xy),
        rule="substitute",
        subs={
            both(p[i, j] * sp.log(p[i, j])): -h_xy,
            sp.Sum(sp.log(a[i]) * sp.Sum(p[i, j], (j, 1, m)), (i, 1, n)): -h_x,
            sp.Sum(sp.log(b[j]) * sp.Sum(p[i, j], (i, 1, n)), (j, 1, m)): -h_y,
        },
    )
    d.step(
        "The chain rule H(X, Y) = H(Y) + H(X|Y): the information still missing about X once Y "
        "is known is what the mutual information does not cover.",
        sp.Eq(mi, h_x - h_x_given_y),
        rule="substitute",
        subs={h_xy: h_y + h_x_given_y},
    )
    return d


def rate_as_mutual_information() -> Derivation:
    """The rate of a VAE is I_q(x; z) plus the KL of the aggregate posterior from the prior.

    Hoffman & Johnson (2016), "ELBO surgery". Over a data set of ``N`` examples with encoders
    ``q_nk = q(z_k | x_n)`` on a grid of latent values ``z_k`` (a continuous z replaces the sum
    over ``k`` by an integral; the algebra is the same), the aggregate posterior is
    ``r_k = (1/N) sum_n q_nk`` and the prior ``p_k``. The log of the ratio splits through
    ``r`` (checked); swapping the order of the sums in the second term is stated (step 4).
    """
    n, k = sp.symbols("n k", integer=True, positive=True)
    N, K = sp.symbols("N K", integer=True, positive=True)
    q = sp.IndexedBase("q", positive=True)
    r = sp.IndexedBase("r", positive=True)
    p = sp.IndexedBase("p", positive=True)
    rate = sp.Symbol("R")
    mi = sp.Symbol("I_q")
    kl_marginal = sp.Symbol(r"\mathrm{KL}(r\|p)")

    def avg(f):
        return sp.Sum(f, (k, 1, K), (n, 1, N)) / N

    second = sp.Sum(sp.log(r[k] / p[k]) * sp.Sum(q[n, k], (n, 1, N)) / N, (k, 1, K))
    d = Derivation(
        "The rate is mutual information plus a marginal KL",
        assumptions=[
            "q_nk = q(z_k | x_n) > 0, each row summing to 1 over k",
            "r_k = (1/N) sum_n q_nk is the aggregate posterior, p_k > 0 the prior",
        ],
    )
    d.step(
        "The rate: the KL of each example's code distribution from the prior, averaged over "
        "the N examples.",
        sp.Eq(rate, avg(q[n, k] * sp.log(q[n, k] / p[k]))),
        rule="definition",
    )
    d.step(
        "Divide and multiply by the aggregate posterior r_k inside the log.",
        sp.Eq(rate, avg(q[n, k] * (sp.log(q[n, k] / r[k]) + sp.log(r[k] / p[k])))),
    )
    d.step(
        "Split the sum in two.",
        sp.Eq(rate, avg(q[n, k] * sp.log(q[n, k] / r[k])) + avg(q[n, k] * sp.log(r[k] / p[k]))),
    )
    d.step(
        "In the second sum log(r_k / p_k) does not depend on n: sum over n first.",
        sp.Eq(rate, avg(q[n, k] * sp.log(q[n, k] / r[k])) + second),
        rule="given",
    )
    d.step(
        "The first sum is the mutual information between the example's index and its code "
        "(the joint q_nk / N against the product of its marginals 1/N and r_k); in the second, "
        "(1/N) sum_n q_nk = r_k, so it is KL(r || p).",
        sp.Eq(rate, mi + kl_marginal),
        rule="substitute",
        subs={avg(q[n, k] * sp.log(q[n, k] / r[k])): mi, second: kl_marginal},
    )
    return d
