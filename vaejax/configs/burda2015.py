"""The setup of the IWAE paper's released code (yburda/iwae), one stochastic layer.

What differs from default.py (the paper's text), read from that code: the gradient of the
batch's summed bound; its Adam (beta1 0.99, second moment from ones, timestep from 1, eps
1e-4 added to sqrt(v), the moments one step behind; optimizers.released_adam); stage i at
1e-4 * round(10^(1 - (i-1)/7), 1); the first 59,600 MNIST training images (the last 400 are
its validation set), in their order every epoch. Its separate mean and sigma heads are every
config's model.
"""

import ml_collections

from vaejax.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.train_examples = 59_600
  config.shuffle = False
  config.schedule = 'iwae_released'
  config.optimizer = 'released_adam'
  config.adam_b1 = 0.99
  config.gradient_reduction = 'sum'
  return config
