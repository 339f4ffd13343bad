"""Pictures of a trained model: reconstructions, sample grids, latent scatter, loss curves."""

__all__: list[str] = []
