"""Derivations for lesson 08's disentanglement section: what a latent that mixes two factors
knows about each, and the mutual information gap it leaves.

Each function returns a :class:`vaelearn.derive.Derivation`; ``tests/test_disentanglement.py``
verifies every one and uses the result as the oracle for :func:`vaelearn.disentanglement.mig`.
"""

from __future__ import annotations

import sympy as sp

from vaelearn.derive import Derivation

__all__ = ["mixed_code_information"]


def mixed_code_information() -> Derivation:
    """``I(v1 + v2; v1) = ln(2) / 2`` for two independent fair bits, and the gap it leaves.

    A latent ``s = v1 + v2`` that mixes two independent fair bits knows half a bit about each
    (natural logs: ``ln(2) / 2`` nats out of ``H(v1) = ln 2``). For the code ``z = (v1 + v2, v1)``
    the best latent for ``v1`` is ``z_2`` (``ln 2``), the second best ``z_1`` (``ln(2) / 2``):
    a normalised gap of ``1/2``; for ``v2`` the best is ``z_1`` (``ln(2)/2``) and ``z_2`` knows
    nothing: again ``1/2``. So that code's MIG is exactly ``1/2``. Lesson 08.
    """
    info = sp.Symbol("I(s; v1)")  # no underscore: sympy would read it as a subscript
    gap = sp.Symbol("g_1")
    ln2 = sp.log(2)
    q, h = sp.Rational(1, 4), sp.Rational(1, 2)
    d = Derivation(
        "A latent that mixes two fair bits knows half of each",
        assumptions=[
            "v1, v2 independent fair bits (0 or 1 with probability 1/2)",
            "s = v1 + v2, natural logarithms (nats)",
        ],
    )
    d.step(
        "Mutual information is what s tells about v1: its entropy minus what remains once v1 is "
        "known.",
        sp.Eq(info, sp.Symbol("H(s)") - sp.Symbol("H(s | v1)")),
        rule="given",
    )
    d.step(
        "s is 0, 1 or 2 with probabilities 1/4, 1/2, 1/4 (1 arises two ways). Given v1, s is "
        "v1 plus the fair bit v2, so H(s | v1) = H(v2) = ln 2.",
        sp.Eq(info, -(q * sp.log(q) + h * sp.log(h) + q * sp.log(q)) - ln2),
        rule="substitute",
        subs={
            sp.Symbol("H(s)"): -(q * sp.log(q) + h * sp.log(h) + q * sp.log(q)),
            sp.Symbol("H(s | v1)"): ln2,
        },
    )
    d.step("Collect the logarithms: H(s) = (3/2) ln 2.", sp.Eq(info, ln2 / 2))
    d.step(
        "The code z = (v1 + v2, v1): for v1 the best latent, z_2 = v1, knows H(v1) = ln 2, the "
        "second best knows I(s; v1); the gap, divided by H(v1), is",
        sp.Eq(gap, (ln2 - info) / ln2),
        rule="definition",
    )
    d.step(
        "Substitute I(s; v1) = ln(2) / 2: half of v1's entropy separates the best latent from "
        "the next.",
        sp.Eq(gap, sp.Rational(1, 2)),
        rule="substitute",
        subs={info: ln2 / 2},
    )
    return d
