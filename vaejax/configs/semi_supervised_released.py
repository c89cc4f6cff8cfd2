"""M2 with Kingma et al.'s released batching and weighting (dpkingma/nips14-ssl).

As learn_yz_x_ss.py: each step 1 labelled and 499 unlabelled images, every image of the step
weighed alike (weighting 'images'), the classification term by alpha * 50,000 / num_labels
(alpha 0.1: 50 at 100 labels), so over an epoch (100 steps) each labelled image's bound
counts once, like any other image's, and its cross-entropy 50 times; Adam 3e-4, 3000 epochs
(300,000 updates). Unlike the released code: 300 hidden units and 1 labelled + 499
unlabelled images a step at every num_labels (above 100 labels the released
run_2layer_ssl.py takes 500 units and 200 steps an epoch of num_labels / 200 labelled and
(50,000 - num_labels) / 200 unlabelled: --config.hidden_units, --config.labelled_batch_size
and --config.batch_size); optax's Adam (with bias correction and eps 1e-8; the released Adam
has neither); on pixels (the released code has no M2-on-pixels script; its M1 + M2 is
semi_supervised_m1m2.py). A public reproduction of this recipe reached 7.15% after 3000
epochs (25.5% at 500).
"""

import ml_collections

from vaejax.configs import semi_supervised


def get_config() -> ml_collections.ConfigDict:
  config = semi_supervised.get_config()
  config.weighting = 'images'
  config.batch_size = 499
  config.labelled_batch_size = 1
  config.num_epochs = 3000
  config.eval_every_epochs = 20
  config.checkpoint_every_epochs = 20
  return config
