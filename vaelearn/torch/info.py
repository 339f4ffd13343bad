"""Information theory on this backend's arrays: entropy, cross-entropy, KL, Gaussians. Lesson 01."""

__all__: list[str] = []
