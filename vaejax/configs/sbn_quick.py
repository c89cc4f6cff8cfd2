"""Minutes on 2 CPU cores: sbn.py's linear 200-200-200 SBN with VIMCO at K = 5, 3 epochs at
batch 100, test NLL with 1000 samples, the gradient SNR from 50 draws."""

import ml_collections

from vaejax.configs import sbn


def get_config() -> ml_collections.ConfigDict:
  config = sbn.get_config()
  config.update(batch_size=100, num_epochs=3, eval_every_epochs=0, eval_num_samples=1000,
                checkpoint_every_epochs=1, snr_num_draws=50)
  return config
