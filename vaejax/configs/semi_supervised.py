"""M2 (Kingma et al. 2014) on MNIST with 100 labels: every labelled image in every step.

50 latent units, one softplus hidden layer in each network (300 units for 100 labels, as the
released code; it uses 500 for more: --config.hidden_units=500), Adam 3e-4, the last 10,000
training images for validation, 300 epochs. Each step takes 100 unlabelled and all 100
labelled images and weighs each part's mean alike (weighting 'parts', as the SDGM code of
Maaloe et al. batches), the classification term by alpha * 50,000 / num_labels = 50: per
epoch each labelled image's bound counts about 500 times as much as an unlabelled image's.
This is not the released code's batching (semi_supervised_released.py). The
importance-weighted form: --config.objective=iwae --config.num_samples=K. M1 + M2:
--config.architecture=m1m2 --config.m1_workdir=RUN (semi_supervised_m1m2.py).
"""

import ml_collections

from vaejax.configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.architecture = 'm2'  # or 'm1m2': M2 on the latent means of the run m1_workdir
  config.m1_workdir = ''
  config.m1_layers = 'top'  # or 'all' (two stochastic layers)
  config.m1_scaling = 'standardized'  # or 'released': units of posterior-mean std > 0.1, unscaled
  config.m1_binarizations = 0  # M1's input: 0 grey levels; > 0 that many binarizations
  config.num_labels = 100  # a multiple of the classes, or 0: every image labelled
  config.num_validation = 10000  # the last training images, for model selection only
  config.hidden_units = 300  # 500 for more than 100 labels
  config.alpha = 0.1
  config.labelled_batch_size = 100
  config.weighting = 'parts'  # or 'images' (vaejax/training/train_m2.py)
  config.classifier_input = 'binarized'  # what q(y | x) trains on; or 'grey'
  config.objective = 'vae'  # or 'iwae' with num_samples = K
  config.num_samples = 1
  config.batch_size = 100
  config.num_epochs = 300
  config.schedule = 'constant'
  config.learning_rate = 3e-4
  config.adam_eps = 1e-8
  config.eval_every_epochs = 10
  config.eval_num_samples = 100
  config.checkpoint_every_epochs = 10
  config.snr_num_draws = 0
  return config
