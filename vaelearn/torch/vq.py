"""VQ-VAE: codebook, straight-through gradient, commitment term. Lesson 08."""

__all__: list[str] = []
