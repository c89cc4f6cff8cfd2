"""The VIMCO benchmark's sigmoid belief net: 200-200-200 Bernoulli units, linear, on MNIST.

Mnih & Rezende (2016): VIMCO at K = 5, batch 24, Adam at 1e-3, about -93.6 nats on the
standard fixed binarization of MNIST after long training. Here the binarization is fixed too,
but drawn from the run's seed (not Salakhutdinov & Murray's file), 2000 epochs, test NLL with
5000 samples from q, checkpoints every 10 epochs (resumable). Override gradient_estimator
(rws_wake, nvil, ...) and num_samples for the other rows.
"""

import ml_collections

from vaejax.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.update(architecture='sbn_linear', latent_dim=200, objective='iwae', num_samples=5,
                gradient_estimator='vimco', binarization='fixed', batch_size=24,
                num_epochs=2000, schedule='constant', learning_rate=1e-3, eval_every_epochs=50,
                eval_num_samples=5000, checkpoint_every_epochs=10)
  return config
