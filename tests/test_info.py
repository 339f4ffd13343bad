"""vaelearn.info (NumPy reference) and both backends' info functions against independent oracles.

Oracles: scipy.stats.entropy, scipy.special.xlogy, scipy.stats.norm, torch.distributions, the
exact values typed in tests/oracles.py (each checked there against its closed form), brute force
over code lengths, and hypothesis properties (Gibbs' inequality, H(p) <= log n,
H(p, q) = H(p) + KL(p || q)).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import oracles as O
import pytest
import scipy.special
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vaelearn import info

torch = pytest.importorskip("torch")
import vaelearn.numpy as VN  # noqa: E402
import vaelearn.torch as VT  # noqa: E402

# float64 sums of a few terms agree with scipy to a few ulps; 1e-12 absolute is far above that.
TOL = 1e-12


def random_distributions(rng, shape, zeros=False):
    p = rng.gamma(0.7, size=shape)
    if zeros:
        p[rng.random(shape) < 0.3] = 0.0
        p[..., 0] += 0.1  # keep every row non-empty
    return p / p.sum(axis=-1, keepdims=True)


# -- entropy / cross-entropy / KL vs scipy -------------------------------------------------------
@pytest.mark.parametrize("zeros", [False, True])
@pytest.mark.parametrize("base", [None, 2])
def test_entropy_kl_cross_entropy_match_scipy(zeros, base):
    rng = np.random.default_rng(1)
    p = random_distributions(rng, (50, 7), zeros=zeros)
    q = random_distributions(rng, (50, 7))  # q > 0 so KL is finite
    np.testing.assert_allclose(
        info.entropy(p, base=base), scipy.stats.entropy(p, base=base, axis=-1), rtol=0, atol=TOL
    )
    np.testing.assert_allclose(
        info.kl_divergence(p, q, base=base),
        scipy.stats.entropy(p, q, base=base, axis=-1),
        rtol=0,
        atol=TOL,
    )
    lb = 1.0 if base is None else math.log(base)
    xent = -scipy.special.xlogy(p, q).sum(axis=-1) / lb
    np.testing.assert_allclose(info.cross_entropy(p, q, base=base), xent, rtol=0, atol=TOL)


def test_single_distribution_gives_a_scalar_and_batches_broadcast():
    p = np.array([0.2, 0.3, 0.5])
    assert np.shape(info.entropy(p)) == ()
    q = random_distributions(np.random.default_rng(2), (4, 3))
    out = info.kl_divergence(p, q)  # p (3,) broadcasts against q (4, 3)
    assert out.shape == (4,)
    np.testing.assert_allclose(out, [scipy.stats.entropy(p, qi) for qi in q], atol=TOL)


def test_zero_conventions():
    # 0 log 0 = 0: a point mass has zero entropy.
    assert info.entropy([0.0, 1.0, 0.0]) == 0.0
    assert str(info.entropy([1.0])) == "0.0"  # not "-0.0"
    # p_i = 0 terms vanish even where q_i = 0.
    assert info.kl_divergence([0.0, 1.0], [0.0, 1.0]) == 0.0
    assert info.cross_entropy([0.0, 1.0], [0.0, 1.0]) == 0.0
    # p_i > 0 = q_i: infinitely many extra bits.
    assert info.kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf
    assert info.cross_entropy([0.5, 0.5], [1.0, 0.0]) == np.inf
    # ... but not the other way round (asymmetry).
    assert np.isfinite(info.kl_divergence([1.0, 0.0], [0.5, 0.5]))


# -- exact values (tests/oracles.py) -----------------------------------------------------------
def test_dyadic_example_entropy_equals_huffman_length():
    p = [0.5, 0.25, 0.125, 0.125]
    assert abs(info.entropy(p, base=2) - 1.75) < TOL
    code = info.huffman_code(p)
    assert [len(w) for w in code] == [1, 2, 3, 3]
    assert abs(info.expected_code_length(p, code) - 1.75) < TOL


def test_non_dyadic_example_huffman_exceeds_entropy():
    p = [0.4, 0.3, 0.2, 0.1]
    # typed to 6 decimals: half a unit is 5e-7
    assert abs(info.entropy(p, base=2) - O.ENTROPY_4321_BITS) < 5e-7
    assert abs(info.expected_code_length(p, info.huffman_code(p)) - O.HUFFMAN_4321_BITS) < TOL


def test_gaussian_exact_values():
    # typed to 7 decimals (8 significant digits): half a unit is 5e-8
    assert abs(info.gaussian_entropy(1.0) - O.GAUSSIAN_ENTROPY_NATS) < 5e-8
    assert abs(info.gaussian_entropy(1.0, base=2) - O.GAUSSIAN_ENTROPY_BITS) < 5e-8
    assert abs(info.kl_normal(0.0, 0.25) - O.KL_QUARTER_NATS) < 5e-8
    assert abs(info.kl_normal(0.0, 0.25, 0.0, 1.0) - (math.log(2) - 0.375)) < TOL


def test_gaussian_entropy_matches_scipy():
    var = np.random.default_rng(3).uniform(0.01, 10.0, size=20)
    np.testing.assert_allclose(
        info.gaussian_entropy(var), scipy.stats.norm(scale=np.sqrt(var)).entropy(), atol=TOL
    )


def test_kl_normal_matches_torch_distributions():
    rng = np.random.default_rng(4)
    mu_q, mu_p = rng.normal(size=(2, 5, 3))
    var_q, var_p = rng.uniform(0.05, 4.0, size=(2, 5, 3))
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(torch.tensor(mu_q), torch.tensor(np.sqrt(var_q))),
        torch.distributions.Normal(torch.tensor(mu_p), torch.tensor(np.sqrt(var_p))),
    ).numpy()
    np.testing.assert_allclose(info.kl_normal(mu_q, var_q, mu_p, var_p), ref, rtol=1e-12, atol=TOL)
    # Defaults are the standard normal prior.
    ref0 = torch.distributions.kl_divergence(
        torch.distributions.Normal(torch.tensor(mu_q), torch.tensor(np.sqrt(var_q))),
        torch.distributions.Normal(0.0, 1.0),
    ).numpy()
    np.testing.assert_allclose(info.kl_normal(mu_q, var_q), ref0, rtol=1e-12, atol=TOL)


def test_kl_normal_monte_carlo():
    # Independent of the closed form: average log q(x) - log p(x) over x ~ q.
    rng = np.random.default_rng(5)
    mu_q, var_q, mu_p, var_p = 0.3, 0.5, -1.0, 2.0
    x = mu_q + math.sqrt(var_q) * rng.standard_normal(400_000)
    log_ratio = scipy.stats.norm.logpdf(x, mu_q, math.sqrt(var_q)) - scipy.stats.norm.logpdf(
        x, mu_p, math.sqrt(var_p)
    )
    se = log_ratio.std() / math.sqrt(x.size)
    assert abs(log_ratio.mean() - info.kl_normal(mu_q, var_q, mu_p, var_p)) < 5 * se  # 5 sigma


# -- hypothesis properties ---------------------------------------------------------------------
def dist_pairs():
    return st.integers(1, 8).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=st.floats(1e-3, 1.0)),
            arrays(np.float64, n, elements=st.floats(1e-3, 1.0)),
        )
    )


@settings(max_examples=200, deadline=None)
@given(dist_pairs())
def test_properties(pair):
    p, q = (a / a.sum() for a in pair)
    kl = info.kl_divergence(p, q)
    h = info.entropy(p)
    # Gibbs: KL >= 0 (up to rounding of a sum of n terms of size <= ~7).
    assert kl >= -1e-12
    assert info.kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    # KL = 0 only if p = q: a difference of 1e-6 in total variation gives KL >= 2 tv^2 (Pinsker).
    tv = 0.5 * np.abs(p - q).sum()
    assert kl >= 2 * tv**2 - 1e-12
    # H(p) <= log n, with equality for the uniform distribution.
    assert h <= math.log(p.size) + 1e-12
    # H(p, q) = H(p) + KL(p || q).
    assert info.cross_entropy(p, q) == pytest.approx(h + kl, abs=1e-12)


def test_uniform_has_maximal_entropy():
    for n in (1, 2, 5, 17):
        assert abs(info.entropy(np.full(n, 1.0 / n)) - math.log(n)) < TOL


# -- Huffman codes -------------------------------------------------------------------------------
def brute_force_optimal_length(p):
    """Smallest sum p_i l_i over integer lengths with Kraft sum <= 1 (Kraft-McMillan)."""
    n = len(p)
    if n == 1:
        return 1.0
    best = math.inf
    for lengths in itertools.product(range(1, n), repeat=n):
        if sum(2.0**-k for k in lengths) <= 1.0:
            best = min(best, float(np.dot(p, lengths)))
    return best


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_huffman_is_prefix_free_and_optimal(n):
    rng = np.random.default_rng(10 + n)
    for _ in range(5):
        p = random_distributions(rng, (n,))
        code = info.huffman_code(p)
        assert len(code) == n
        assert info.is_prefix_free(code)
        assert sum(2.0 ** -len(w) for w in code) <= 1.0  # Kraft's inequality
        length = info.expected_code_length(p, code)
        assert abs(length - brute_force_optimal_length(p)) < 1e-12
        h = info.entropy(p, base=2)
        # H <= L < H + 1 (a single symbol still needs one bit, so L = H + 1 there).
        assert h - 1e-12 <= length < h + 1 or (n == 1 and length == 1.0)


def test_huffman_is_deterministic_with_ties():
    p = [0.25, 0.25, 0.25, 0.25]
    assert info.huffman_code(p) == info.huffman_code(p) == ["00", "01", "10", "11"]


def test_is_prefix_free_detects_prefixes():
    assert not info.is_prefix_free(["0", "01", "11"])
    assert info.is_prefix_free(["0", "10", "11"])


# -- messages: measured code lengths -------------------------------------------------------------
def test_encode_decode_round_trip():
    p = [0.4, 0.3, 0.2, 0.1]
    code = info.huffman_code(p)
    msg = info.sample_message(p, 1000, np.random.default_rng(6))
    bits = info.encode(msg, code)
    assert len(bits) == sum(len(code[s]) for s in msg)
    np.testing.assert_array_equal(info.decode(bits, code), msg)


def test_sample_message_frequencies():
    p = np.array([0.5, 0.25, 0.125, 0.125])
    n = 100_000
    msg = info.sample_message(p, n, np.random.default_rng(7))
    freq = np.bincount(msg, minlength=4) / n
    # Binomial standard error sqrt(p(1-p)/n) <= 0.0016; allow 5 sigma.
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n))


def test_coding_with_the_wrong_code_costs_kl_extra_bits():
    # Coding samples of p with a code optimal for dyadic q costs H(p) + KL(p||q) bits
    # (Cover & Thomas 2006, Thm 5.4.3: the expected length of the wrong code).
    p = np.array([0.5, 0.25, 0.125, 0.125])
    q = np.array([0.125, 0.125, 0.25, 0.5])
    wrong = info.huffman_code(q)
    n = 200_000
    msg = info.sample_message(p, n, np.random.default_rng(8))
    per_symbol = len(info.encode(msg, wrong)) / n
    lengths = np.array([len(w) for w in wrong])[msg]
    se = lengths.std() / math.sqrt(n)
    expected = info.entropy(p, base=2) + info.kl_divergence(p, q, base=2)
    assert abs(expected - 2.625) < TOL  # by hand: 0.5*3 + 0.25*3 + 0.125*2 + 0.125*1
    assert abs(per_symbol - expected) < 5 * se


# -- fitting one Gaussian to a bimodal density ------------------------------------------------
def test_fit_normal_by_kl_forward_matches_moments_and_reverse_seeks_a_mode():
    x = np.linspace(-10, 10, 4001)
    w, means, variances = np.array([0.5, 0.5]), np.array([-3.0, 3.0]), np.array([0.5, 0.5])
    dens = info.mixture_pdf(x, w, means, variances)
    # Mixture moments: mean 0, variance sum w (var + mu^2) - mean^2 = 9.5. The grid's trapezoid
    # rule on a density this smooth is accurate to far better than 1e-8.
    m, v = info.fit_normal_by_kl(x, dens, "forward")
    assert abs(m) < 1e-8 and abs(v - 9.5) < 1e-8
    m2, v2 = info.fit_normal_by_kl(x, dens, "reverse", init=(2.0, 1.0))
    # The modes barely overlap, so the reverse fit is close to the right component.
    assert abs(m2 - 3.0) < 0.01 and abs(v2 - 0.5) < 0.01

    def reverse_kl(mean, var):
        q = info.normal_pdf(x, mean, var)
        return np.trapezoid(q * (np.log(q + 1e-300) - np.log(dens)), x)

    assert reverse_kl(m2, v2) < reverse_kl(m, v)
    # The reverse KL of the component is about log 2 (q covers one of two equal modes).
    assert abs(reverse_kl(m2, v2) - math.log(2)) < 0.01


def test_mixture_pdf_integrates_to_one():
    x = np.linspace(-20, 20, 8001)
    dens = info.mixture_pdf(x, [0.2, 0.8], [-1.0, 2.0], [0.3, 2.0])
    assert abs(np.trapezoid(dens, x) - 1.0) < 1e-9
    np.testing.assert_allclose(
        dens,
        0.2 * scipy.stats.norm.pdf(x, -1, math.sqrt(0.3))
        + 0.8 * scipy.stats.norm.pdf(x, 2, math.sqrt(2.0)),
        atol=TOL,
    )


# -- bad input -------------------------------------------------------------------------------------
GOOD = [0.5, 0.5]
BAD_DISTRIBUTIONS = [
    ([-0.1, 1.1], "negative"),
    ([0.5, 0.6], "sum to 1"),
    ([0.5, 0.5 + 1e-8], "sum to 1"),
    ([np.nan, 1.0], "NaN"),
    (0.5, "last axis"),
    ([], "last axis"),
    ([np.inf, 0.0], "inf"),
]


@pytest.mark.parametrize(("bad", "problem"), BAD_DISTRIBUTIONS)
def test_bad_distributions_raise_naming_the_argument(backend, bad, problem):
    with pytest.raises(ValueError, match=f"'p'.*{problem}"):
        backend.entropy(bad)
    with pytest.raises(ValueError, match=f"'p'.*{problem}"):
        backend.kl_divergence(bad, GOOD)
    with pytest.raises(ValueError, match=f"'q'.*{problem}"):
        backend.kl_divergence(GOOD, bad)
    with pytest.raises(ValueError, match=f"'q'.*{problem}"):
        backend.cross_entropy(GOOD, bad)


def test_bad_shapes_variances_and_base_raise(backend):
    with pytest.raises(ValueError, match="'p' and 'q'.*outcomes"):
        backend.kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="'p' and 'q'.*broadcast"):
        backend.cross_entropy(np.full((2, 2), 0.5), np.full((3, 2), 0.5))
    for bad_var in (0.0, -1.0, [1.0, -0.5], np.nan):
        with pytest.raises(ValueError, match="'var'"):
            backend.gaussian_entropy(bad_var)
        with pytest.raises(ValueError, match="'var_q'"):
            backend.kl_normal(0.0, bad_var)
        with pytest.raises(ValueError, match="'var_p'"):
            backend.kl_normal(0.0, 1.0, 0.0, bad_var)
    with pytest.raises(ValueError, match="'mu_q'.*NaN"):
        backend.kl_normal(np.nan, 1.0)
    with pytest.raises(ValueError, match="broadcast"):
        backend.kl_normal(np.zeros(2), np.ones(3))
    for bad_base in (1, 0, -2, "two"):
        with pytest.raises(ValueError, match="'base'"):
            backend.entropy(GOOD, base=bad_base)


def test_bad_codes_and_messages_raise():
    with pytest.raises(ValueError, match="'code'"):
        info.expected_code_length(GOOD, ["0", "12"])
    with pytest.raises(ValueError, match="'p' and 'code'"):
        info.expected_code_length(GOOD, ["0", "10", "11"])
    with pytest.raises(ValueError, match="'code'.*prefix-free"):
        info.decode("0101", ["0", "01"])
    with pytest.raises(ValueError, match="'bits'"):
        info.decode("0111", ["0", "10"])  # ends mid-codeword
    with pytest.raises(ValueError, match="'message'"):
        info.encode([0, 2], ["0", "1"])
    with pytest.raises(ValueError, match="'rng'"):
        info.sample_message(GOOD, 3, rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="'p'.*1-D"):
        info.huffman_code(np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="'direction'"):
        info.fit_normal_by_kl([0.0, 1.0, 2.0], [0.2, 0.6, 0.2], "sideways")


# -- the torch backend (its numbers against NumPy's: tests/test_parity.py, cases info*) ----------
def test_backends_export_the_same_info_names():
    assert VN.info.__all__ == VT.info.__all__
    for name in VN.info.__all__:
        assert getattr(VN, name) is getattr(VN.info, name)
        assert callable(getattr(VT, name))


def test_torch_gradients_match_closed_forms():
    rng = np.random.default_rng(11)
    mu_q, var_q = rng.normal(size=4), rng.uniform(0.2, 2.0, size=4)
    mq = torch.tensor(mu_q, requires_grad=True)
    vq = torch.tensor(var_q, requires_grad=True)
    VT.kl_normal(mq, vq).sum().backward()
    # d/dmu_q KL(N(mu, v) || N(0, 1)) = mu ; d/dv = (1 - 1/v) / 2.
    np.testing.assert_allclose(mq.grad.numpy(), mu_q, atol=TOL)
    np.testing.assert_allclose(vq.grad.numpy(), 0.5 * (1 - 1 / var_q), atol=TOL)
    # dH/dp_i = -(log p_i + 1).
    p = random_distributions(rng, (5,))
    pt = torch.tensor(p, requires_grad=True)
    VT.entropy(pt).backward()
    np.testing.assert_allclose(pt.grad.numpy(), -(np.log(p) + 1), atol=1e-12)


# -- lesson 01 pictures ----------------------------------------------------------------------
def test_lesson01_plots_draw_small_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vaelearn import plotting

    p = [0.5, 0.25, 0.125, 0.125]
    x = np.linspace(-5, 5, 101)
    dens = info.mixture_pdf(x, [0.5, 0.5], [-2.0, 2.0], [0.5, 0.5])
    figs = [
        plotting.code_lengths({"p": (p, info.huffman_code(p), list("ABCD"))}),
        plotting.coding_costs({"right": 1.75, "wrong": 2.6}, {"right": 1.75, "wrong": 2.625}),
        plotting.binary_entropy_curve([0.0, 0.5, 1.0], [0.0, 1.0, 0.0]),
        plotting.kl_fits(x, dens, {"forward": (0.0, 4.5), "reverse": (2.0, 0.5)}),
    ]
    for fig in figs:
        w, h = fig.get_size_inches()
        assert w <= 8 and h <= 3 and fig.dpi == 150
        plt.close(fig)
    assert len(figs[3].axes) == 2
    with pytest.raises(ValueError, match="'measured' and 'predicted'"):
        plotting.coding_costs({"a": 1.0}, {"b": 1.0})
    with pytest.raises(ValueError, match="'h_bits'"):
        plotting.binary_entropy_curve([0.0, 1.0], [0.0, np.nan])


def test_torch_float32_tensors_use_a_looser_sum_tolerance():
    p32 = torch.tensor([0.1, 0.2, 0.7], dtype=torch.float32)  # sums to 1 within float32 rounding
    out = VT.entropy(p32)
    assert out.dtype == torch.float32
    assert abs(out.item() - scipy.stats.entropy([0.1, 0.2, 0.7])) < 1e-6  # float32 precision
    with pytest.raises(ValueError, match="'p'.*sum to 1"):
        VT.entropy(torch.tensor([0.1, 0.2, 0.6], dtype=torch.float32))
