"""SGD and Adam with the same update equations in both backends."""

__all__: list[str] = []
