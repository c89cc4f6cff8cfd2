"""M2 with 100 labels in about 15 minutes on 2 CPU cores: Adam 1e-3, 40 epochs."""

import ml_collections

from vaejax.configs import semi_supervised


def get_config() -> ml_collections.ConfigDict:
  config = semi_supervised.get_config()
  config.num_epochs = 40
  config.learning_rate = 1e-3
  config.eval_every_epochs = 5
  config.eval_num_samples = 20
  config.checkpoint_every_epochs = 5
  return config
