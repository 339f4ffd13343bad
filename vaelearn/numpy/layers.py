"""MLP building blocks: Linear, ReLU, Tanh, Sigmoid, Softplus, MLP. Lessons 02-06."""

__all__: list[str] = []
