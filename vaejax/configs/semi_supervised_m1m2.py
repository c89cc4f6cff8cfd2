"""M1 + M2 with Kingma et al.'s released recipe (run_2layer_ssl.py, learn_yz_x_ss.py).

M2 on the latents of the M1 run runs/m1 (vaejax/configs/m1.py: 784-500-500-50 softplus): the
units whose posterior-mean std over 1000 unlabelled images exceeds 0.1, unscaled
(m1_scaling 'released'), as a fresh draw z1 ~ q(z1 | x) of the grey levels at every step (the
posterior means for validation and test), a Normal p(z1 | y, z) with a learned variance per
dimension, 300 hidden units and 1 labelled + 499 unlabelled images a step at every
num_labels (the released code: 500 units and 200 steps an epoch above 100 labels,
semi_supervised_released.py), 50 latents, every image alike, alpha 0.1; Adam 3e-4 (optax's,
with bias correction), 3000 epochs. A public reproduction reached 3.45% at epoch 1000 and
2.80% at 3000.
"""

import ml_collections

from vaejax.configs import semi_supervised_released


def get_config() -> ml_collections.ConfigDict:
  config = semi_supervised_released.get_config()
  config.architecture = 'm1m2'
  config.m1_workdir = 'runs/m1'
  config.m1_scaling = 'released'
  return config
