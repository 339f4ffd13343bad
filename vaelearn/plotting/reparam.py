"""Pictures for lesson 06: gradient variance, learning curves."""

__all__: list[str] = []
