"""Pictures for lessons 04-05: posteriors, ELBO gap, likelihood choice."""

__all__: list[str] = []
