"""The quick comparison: the paper's one-layer model on a schedule of minutes on 2 CPU cores.

Short and at batch 100 (the paper: 3280 epochs at batch 20), test NLL with 1000 samples.
"""

import ml_collections

from vaejax.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.batch_size = 100
  config.num_epochs = 3
  config.schedule = 'constant'
  config.eval_num_samples = 1000
  config.eval_every_epochs = 0
  config.checkpoint_every_epochs = 1
  config.snr_num_draws = 50
  return config
