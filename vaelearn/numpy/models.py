"""Autoencoder and VAE behind one API. Lessons 02-08."""

__all__: list[str] = []
