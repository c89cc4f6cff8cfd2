"""The quick comparison on a discrete model: the linear SBN of sbn.py, in minutes on 2 cores.

sbn.py's 200-200-200 linear sigmoid belief net on the first 10,000 training images for one
epoch at batch 100 (100 steps), the test NLL with 100 samples from q, the gradient SNR from 20
draws; compare_samples.py sets each cell's estimator and K.
"""

import ml_collections

from vaejax.configs import sbn


def get_config() -> ml_collections.ConfigDict:
  config = sbn.get_config()
  config.update(train_examples=10_000, batch_size=100, num_epochs=1, eval_every_epochs=0,
                eval_num_samples=100, checkpoint_every_epochs=1, snr_num_draws=20)
  return config
