"""Shared network layers of both agent families: categorical latents, initialisation,
the latent state helpers, the readouts, the recurrent loop's linear layer."""
