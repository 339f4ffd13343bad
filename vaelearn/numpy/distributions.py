"""Log-likelihoods, closed-form KL and the reparameterization step. Lesson 05-06."""

__all__: list[str] = []
