"""A few minutes on 2 CPU cores: the paper's one-layer model, IWAE k = 5, a short schedule."""

import ml_collections

from vaejax.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.num_samples = 5
  config.batch_size = 100
  config.num_epochs = 10
  config.schedule = 'constant'
  config.eval_num_samples = 1000
  config.eval_every_epochs = 0
  config.checkpoint_every_epochs = 2
  return config
