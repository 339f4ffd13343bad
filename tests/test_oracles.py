"""The typed oracle values of ``tests/oracles.py`` against their formulas, at 50 digits.

mpmath and sympy compute each closed form quoted next to a value in ``oracles.py``; the typed
value must equal it to half a unit of its last decimal. Nothing here calls vaelearn, so the
oracles stay independent of the code they check.
"""

from __future__ import annotations

import mpmath as mp
import oracles as O
import pytest
import sympy as sp


def _closed_forms() -> dict[str, mp.mpf]:
    with mp.workdps(50):
        return _closed_forms_50()


def _closed_forms_50() -> dict[str, mp.mpf]:
    phi = mp.mpf(1) / 2

    def expected_cost(t):
        return t**6 + mp.e ** (2 * t) + mp.sin(t**3) * mp.exp(-mp.e ** (2 * t) / 2)

    p = [mp.mpf(4) / 10, mp.mpf(3) / 10, mp.mpf(2) / 10, mp.mpf(1) / 10]
    return {
        "GAUSSIAN_ENTROPY_NATS": mp.log(2 * mp.pi * mp.e) / 2,
        "GAUSSIAN_ENTROPY_BITS": mp.log(2 * mp.pi * mp.e, 2) / 2,
        "ENTROPY_4321_BITS": -sum(q * mp.log(q, 2) for q in p),
        "KL_QUARTER_NATS": (mp.mpf(1) / 4 - 1 + mp.log(4)) / 2,
        "LOG_EVIDENCE_X1": -mp.log(4 * mp.pi) / 2 - mp.mpf(1) / 4,
        "BERNOULLI_BASELINE_64": 64 * mp.log(2),
        "BERNOULLI_BASELINE_784": 784 * mp.log(2),
        "EXPECTED_COST_HALF": expected_cost(phi),
        "EXPECTED_COST_GRADIENT_HALF": mp.diff(expected_cost, phi),
    }


@pytest.mark.parametrize("name", sorted(O.DIGITS))
def test_typed_value_equals_its_closed_form(name):
    exact = _closed_forms()[name]
    typed = getattr(O, name)
    assert abs(typed - exact) <= O.tol(name), (name, typed, mp.nstr(exact, 12))


def test_every_typed_value_has_a_closed_form_and_a_precision():
    assert set(O.DIGITS) == set(_closed_forms())


def test_a_typing_slip_fails():
    exact = _closed_forms()["KL_QUARTER_NATS"]
    assert abs(0.3181427 - exact) > O.tol("KL_QUARTER_NATS")  # two digits swapped


def test_huffman_length_of_the_non_dyadic_example():
    # lengths (1, 2, 3, 3) for p = (0.4, 0.3, 0.2, 0.1)
    assert O.HUFFMAN_4321_BITS == pytest.approx(0.4 * 1 + 0.3 * 2 + 0.2 * 3 + 0.1 * 3, abs=1e-15)


@pytest.mark.parametrize("k", [0.0, 1.0, 3.0, -1.5])
def test_mohamed_variances_from_gaussian_moments(k):
    """Var g = E g^2 - (E g)^2 with eps ~ N(0, 1): exact polynomial algebra in sympy, with the
    Gaussian moments E eps^n = (n - 1)!! for even n and 0 for odd n."""
    eps = sp.Symbol("eps", real=True)
    a = 1 - sp.nsimplify(k)
    estimators = {
        ("pathwise", "mean"): 2 * (a + eps),
        ("pathwise", "std"): 2 * (a + eps) * eps,
        ("score", "mean"): (a + eps) ** 2 * eps,
        ("score", "std"): (a + eps) ** 2 * (eps**2 - 1),
    }

    def expect(g):
        terms = sp.Poly(sp.expand(g), eps).terms()
        return sum(c * (sp.factorial2(n - 1) if n % 2 == 0 else 0) for (n,), c in terms)

    for key, g in estimators.items():
        var = sp.simplify(expect(g**2) - expect(g) ** 2)
        assert float(var) == pytest.approx(O.mohamed_variances(k)[key], rel=1e-14), key


def test_mnist_label_counts_add_up_to_the_published_sizes():
    # 60,000 training and 10,000 test images [lecun1998]
    assert sum(O.MNIST_TRAIN_LABEL_COUNTS) == 60_000
    assert sum(O.MNIST_TEST_LABEL_COUNTS) == 10_000
