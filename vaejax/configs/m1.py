"""Kingma et al.'s (2014) M1 for semi-supervised MNIST: the released code's network.

As dpkingma/nips14-ssl's gpulearn_z_x.py: 784-500-500-50 with softplus hidden units (the paper
says 600-600), Bernoulli p(x | z) on images binarized afresh every minibatch, Adam 3e-4, the
first 50,000 training images (the last 10,000 are the semi-supervised validation set). Here
at the batch of 500 and the 1000 epochs of the public reproduction that reached M1 + M2 2.80%
(the released code: batch 1000, early stopping). Unlike the released code: Glorot-uniform
initial weights (not N(0, 1e-3^2)), no N(0, 1) prior on the weights, and the one-sample
Monte Carlo ELBO (objective vae, K = 1) instead of the analytic KL: the same bound in
expectation. Checkpoints every 50 epochs are all kept, so that the features of every stage
can be probed (experiments/features.py --step=...): the length needed is measured.
"""

import ml_collections

from vaejax.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.train_examples = 50000
  config.mlp_hidden = (500, 500)
  config.activation = 'softplus'
  config.objective = 'vae'
  config.num_samples = 1
  config.batch_size = 500
  config.num_epochs = 1000
  config.schedule = 'constant'
  config.learning_rate = 3e-4
  config.adam_eps = 1e-8
  config.eval_num_samples = 500  # the final log p(x): experiments/evaluate.py, k = 5000
  config.eval_every_epochs = 100
  config.snr_num_draws = 0
  config.checkpoint_every_epochs = 50
  config.max_checkpoints = 25
  return config
