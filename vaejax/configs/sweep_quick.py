"""The latent-size sweep's short setup: quick.py's model and objective (IWAE, k = 5), 3 epochs,
test NLL from 500 samples, no gradient SNR (about a minute a run on 2 CPU cores)."""

import ml_collections

from vaejax.configs import quick


def get_config() -> ml_collections.ConfigDict:
  config = quick.get_config()
  config.num_epochs = 3
  config.eval_num_samples = 500
  config.snr_num_draws = 0
  config.checkpoint_every_epochs = 1
  return config
