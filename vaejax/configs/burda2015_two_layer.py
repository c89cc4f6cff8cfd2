"""The released code's setup (burda2015.py) with two stochastic layers (100 + 50 latents)."""

import ml_collections

from vaejax.configs import burda2015


def get_config() -> ml_collections.ConfigDict:
  config = burda2015.get_config()
  config.architecture = 'two_layer'
  return config
