"""The IWAE paper's two-stochastic-layer setup (100 + 50 latents), otherwise as default.py."""

import ml_collections

from vaejax.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.architecture = 'two_layer'
  return config
