"""The quick comparison: the paper's one-layer model on a schedule of minutes on 2 CPU cores.

quick.py's setup (batch 100, constant learning rate, test NLL with 1000 samples) for 3 epochs
(the paper: 3280 epochs at batch 20), with the gradient SNR from 50 draws; compare_samples.py
sets each cell's objective and K.
"""

import ml_collections

from vaejax.configs import quick


def get_config() -> ml_collections.ConfigDict:
  config = quick.get_config()
  config.num_epochs = 3
  config.checkpoint_every_epochs = 1
  config.snr_num_draws = 50
  return config
