"""Pictures for lessons 02-03: PCA vs autoencoder, denoising, hole maps."""

__all__: list[str] = []
