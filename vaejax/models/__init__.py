"""Models: the VAEs, discrete-latent VAEs, M2, and the densities they are built from."""
