"""Pictures for lessons 07-08: blur, collapse, rate-distortion, codebooks."""

__all__: list[str] = []
