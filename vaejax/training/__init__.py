"""Training: the train state, the one loop, the VAE, M2 and sweep trainers, devices, optimizers."""
