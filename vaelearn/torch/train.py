"""fit(): minibatch training with a progress bar and a per-epoch history."""

__all__: list[str] = []
