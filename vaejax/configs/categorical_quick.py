"""Minutes on 2 CPU cores: a categorical-latent VAE (20 variables of 10 categories, 512-256
tanh MLPs) trained with the Concrete relaxation, its temperature annealed from 1 towards 0.5
(Jang et al. 2017's schedule shape), the ELBO at K = 1, 3 epochs at batch 100."""

import ml_collections

from vaejax.configs import quick


def get_config() -> ml_collections.ConfigDict:
  config = quick.get_config()
  config.update(architecture='categorical', latent_dim=20, objective='vae', num_samples=1,
                gradient_estimator='concrete', temperature=1.0,
                temperature_schedule='exponential', temperature_min=0.5,
                temperature_decay=1e-3, num_epochs=3, checkpoint_every_epochs=1,
                snr_num_draws=50)
  return config
