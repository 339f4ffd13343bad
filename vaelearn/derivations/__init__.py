"""Machine-checked derivations, one module per lesson.

Each function returns a :class:`vaelearn.derive.Derivation` whose steps ``verify()`` checks
(tests/test_derive.py verifies every one). Import the lesson's module, e.g.
``from vaelearn.derivations import info``.
"""
