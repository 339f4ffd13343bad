"""Shared figure style: small, diff-friendly figures."""

__all__: list[str] = []
