"""Numbers both backends' formulas use: series coefficients and their switch points (derived and
checked in :mod:`vaelearn.derivations.likelihoods`). Data, not formulas: each backend evaluates
its own."""

from __future__ import annotations

import math

LOG_2PI = math.log(2.0 * math.pi)
"""ln(2 pi), a Python float so it never promotes a float32 array to float64."""


# Taylor coefficients 1/k! for k = 2..17: exp(x) - 1 - x = x^2 (1/2! + x/3! + x^2/4! + ...).
_EXPM1_MINUS_COEFS = tuple(1.0 / math.factorial(k) for k in range(17, 1, -1))


# log C(l) = log 2 + log(u coth u), u = l/2: Taylor coefficients of log(u coth u) in u^2, u^4, ...
# (derived and checked in vaelearn.derivations.likelihoods).
_CB_LOG_NORM_SERIES = (1 / 3, -7 / 90, 62 / 2835, -127 / 18900, 146 / 66825)
_CB_LOG_NORM_SWITCH = 0.1
"""Below ``|logit| < 0.1`` log C uses the series above; the first omitted term, 1414477/
1915538625 u^12 at u = 0.05, is 1.8e-19, below 1/500 of an ulp of log 2 in float64; the
series alternates with decreasing terms there, so that bounds the error. From 0.1 up the closed
form ``log(l / tanh(l/2))`` has no cancellation (it is log of a number in [2, inf)), no 0/0 and
no underflow in float32 or float64."""

# Langevin function L(u) = coth u - 1/u = sum_k c_k u^(2k-1): the CB mean is 1/2 + L(l/2)/2.
_LANGEVIN_SERIES = (
    1 / 3, -1 / 45, 2 / 945, -1 / 4725, 2 / 93555, -1382 / 638512875, 4 / 18243225,
    -3617 / 162820783125, 87734 / 38979295480125, -349222 / 1531329465290625,
)
_CB_MEAN_SWITCH = 1.0
"""Below ``|logit| < 1`` (``|u| < 1/2``) the mean uses the 10-term Langevin series: the first
omitted term, 310732/13447856940643125 u^21, is below 1.2e-17 there (the series alternates with
decreasing terms). Above, the mean at ``-|l|`` is ``1/|l| - 1/expm1(|l|)``, which cancels by at
most a factor 2.4 (at |l| = 1), and the mean at ``|l|`` is one minus it."""
