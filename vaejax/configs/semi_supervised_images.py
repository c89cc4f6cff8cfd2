"""M2 on MNIST pixels, every image weighed alike, with a strong classification term.

Between the two batchings of semi_supervised.py (all 100 labelled images every step, each
part's mean alike: a labelled image's bound weighs ~500 unlabelled images' and its
cross-entropy ~25,000 per epoch) and semi_supervised_released.py (1 labelled + 499 unlabelled,
every image alike: 1 and 50, which needs ~3000 epochs): 1 labelled and 199 unlabelled images
a step (250 steps an epoch), every image alike, alpha 0.6 (a cross-entropy weight of 300 per
labelled use, Pyro's M2 tutorial's multiplier): per epoch a labelled image's bound counts 2.5
times and its cross-entropy 750. 500 hidden units, Adam 3e-4, q(y | x) on grey levels (the
bounds on binarized images), 100 epochs (Pyro's, which reached 6.81%).
"""

import ml_collections

from vaejax.configs import semi_supervised


def get_config() -> ml_collections.ConfigDict:
  config = semi_supervised.get_config()
  config.weighting = 'images'
  config.batch_size = 199
  config.labelled_batch_size = 1
  config.alpha = 0.6
  config.hidden_units = 500
  config.classifier_input = 'grey'
  config.num_epochs = 100
  config.eval_every_epochs = 5
  config.checkpoint_every_epochs = 5
  return config
