"""Pictures for lesson 01: codes, distributions, KL asymmetry."""

__all__: list[str] = []
