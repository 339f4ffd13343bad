"""Exact values the tests compare against, each with its source (a closed form, a paper, a file).

These numbers are typed in by hand, never computed by vaelearn, so a test that compares a
vaelearn function with one of them compares two independent things. Each value is written to the
digits a reader would copy from a textbook; ``DIGITS`` says how many decimals are given, so the
tolerance a test may use is half a unit of the last digit (``tol(name)``).
``tests/test_oracles.py`` recomputes every closed-form value with mpmath at 50 digits from the
formula quoted next to it, so a typing slip here fails a test. Keys of ``book/references.bib``
are given in brackets.
"""

from __future__ import annotations

# --- information (lesson 01) --------------------------------------------------------------------

# Differential entropy of N(0, 1): H = (1/2) ln(2 pi e) nats [cover2006, Thm 8.4.1],
# and in bits: (1/2) log2(2 pi e).
GAUSSIAN_ENTROPY_NATS = 1.4189385
GAUSSIAN_ENTROPY_BITS = 2.0470956

# Entropy of p = (0.4, 0.3, 0.2, 0.1) in bits: -sum p log2 p [shannon1948]. Its Huffman code has
# lengths (1, 2, 3, 3), expected length 0.4 + 0.6 + 0.6 + 0.3 = 1.9 bits.
ENTROPY_4321_BITS = 1.846439
HUFFMAN_4321_BITS = 1.9

# --- Gaussians (lessons 01, 04, 05) -------------------------------------------------------------

# KL(N(0, 1/4) || N(0, 1)) = (1/2)(sigma^2 + mu^2 - 1 - ln sigma^2) at mu = 0, sigma^2 = 1/4:
# (1/2)(1/4 - 1 + ln 4) nats [kingma2013, Appendix B].
KL_QUARTER_NATS = 0.3181472

# The linear-Gaussian model of lesson 04, z ~ N(0, 1), x | z ~ N(z, 1), so x ~ N(0, 2):
# log p(x = 1) = -(1/2) ln(4 pi) - 1/4 nats (the evidence the ELBO + KL decomposition returns).
LOG_EVIDENCE_X1 = -1.5155121

# --- the Bernoulli(1/2) baseline (lesson 05) ----------------------------------------------------

# A decoder that predicts 1/2 for every pixel costs D ln 2 nats per image, whatever the image.
BERNOULLI_BASELINE_64 = 44.36  # 8x8 digits: 64 ln 2
BERNOULLI_BASELINE_784 = 543.43  # MNIST: 784 ln 2

# --- gradient estimators (lesson 06) ------------------------------------------------------------

# Mohamed et al. 2020 [mohamed2020], Fig. 2: cost f(x) = (x - k)^2, x ~ N(mu, sigma^2) at
# mu = sigma = 1, a = mu - k. Single-sample variances of the gradient estimators (each is
# E[g^2] - (E g)^2 with the Gaussian moments E eps^2 = 1, E eps^4 = 3, E eps^6 = 15,
# E eps^8 = 105).
def mohamed_variances(k: float) -> dict[tuple[str, str], float]:
    """{(estimator, parameter): variance} for f = (x - k)^2 at mu = sigma = 1."""
    a = 1.0 - k
    return {
        ("pathwise", "mean"): 4.0,  # g = 2(a + eps): variance 4
        ("pathwise", "std"): 4 * a**2 + 8,  # g = 2(a + eps) eps
        ("score", "mean"): a**4 + 14 * a**2 + 15,  # g = (a + eps)^2 eps
        ("score", "std"): 2 * a**4 + 60 * a**2 + 74,  # g = (a + eps)^2 (eps^2 - 1)
    }


# E[x^2 + sin x] for x ~ N(phi^3, e^(2 phi)) is phi^6 + e^(2 phi) + sin(phi^3) exp(-e^(2 phi)/2)
# (E sin x = sin(mu) exp(-sigma^2 / 2), the imaginary part of the characteristic function);
# its value and its derivative in phi at phi = 1/2.
EXPECTED_COST_HALF = 2.7659334
EXPECTED_COST_GRADIENT_HALF = 5.7281641

# --- MNIST (lessons that read it; the CLI) ------------------------------------------------------

# Label counts of the official MNIST files [lecun1998]: a property of the files, whose MD5 sums
# vaelearn.data pins (MNIST_FILES), counted with numpy.bincount from those files. The test that
# uses them recounts them from the files where they are installed.
MNIST_TEST_LABEL_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
MNIST_TRAIN_LABEL_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)

DIGITS = {
    "GAUSSIAN_ENTROPY_NATS": 7, "GAUSSIAN_ENTROPY_BITS": 7, "ENTROPY_4321_BITS": 6,
    "KL_QUARTER_NATS": 7, "LOG_EVIDENCE_X1": 7, "BERNOULLI_BASELINE_64": 2,
    "BERNOULLI_BASELINE_784": 2, "EXPECTED_COST_HALF": 7, "EXPECTED_COST_GRADIENT_HALF": 7,
}
"""Decimals given for each typed value."""


def tol(name: str) -> float:
    """Half a unit of the last decimal given: the tolerance a typed value supports."""
    return 0.5 * 10.0 ** -DIGITS[name]

