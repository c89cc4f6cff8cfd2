"""The IWAE paper's one-stochastic-layer setup as its text gives it: IWAE, k = 50, full schedule.

3280 epochs at batch 20 (the paper's 8 stages, 3^(i-1) epochs each, learning rate
1e-3 * 10^(-(i-1)/7)), Adam eps 1e-4, dynamically binarized MNIST, test NLL with 5000 samples.
The setup of the code that produced the paper's Table 1 is burda2015.py.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  # Data: 'mnist' (bundled) or 'tfds:NAME' prepared in data_dir.
  config.dataset = 'mnist'
  config.data_dir = ''
  config.binarization = 'dynamic'  # or 'fixed': one draw per image, kept (Bernoulli only)
  config.held_out_label = -1  # >= 0: train without this class (anomaly detection)
  config.train_examples = 0  # > 0: only the first N training images (burda2015: 59,600)
  config.shuffle = True  # False: every epoch in the images' order (burda2015)
  # Model.
  config.architecture = 'one_layer'  # or 'two_layer', 'conv' (any H x W x C images);
  # discrete latents: 'sbn_linear', 'sbn_nonlinear' (3 layers of latent_dim), 'categorical'
  config.likelihood = 'bernoulli'  # or 'gaussian', 'logistic' (grey-level and colour images),
  # 'bernoulli_grey' (the cross-entropy of grey levels: a loss, not an image probability)
  config.latent_dim = 50
  config.mlp_hidden = ()  # widths between x and z_1, each way (empty: the paper's 200-200)
  config.activation = 'tanh'  # the MLPs' hidden units; or 'softplus', 'relu'
  # Objective (vae, iwae, miwae, ciwae, piwae) and the encoder's gradient estimator.
  config.objective = 'iwae'
  config.num_samples = 50  # K
  config.num_groups = 1  # M, for miwae and piwae
  config.ciwae_beta = 0.5
  config.gradient_estimator = 'reparam'  # or 'stl', 'dreg'; without reparameterization:
  # 'score', 'nvil', 'vimco', 'rws_wake', 'rws_sleep', 'concrete', 'straight_through'
  # The Concrete relaxation's temperature: 'constant', or 'exponential':
  # max(temperature_min, temperature * exp(-temperature_decay * step)).
  config.temperature = 1.0
  config.temperature_schedule = 'constant'
  config.temperature_min = 0.5
  config.temperature_decay = 1e-4
  # Optimization.
  config.batch_size = 20
  config.num_epochs = 3280
  config.learning_rate = 1e-3
  config.schedule = 'iwae'  # the paper's 8 stages; or 'iwae_released' (its code's), 'constant',
  # 'cosine' (from learning_rate to 0 over the run)
  config.optimizer = 'adam'  # optax's; or 'released_adam' (the paper's code's)
  config.gradient_reduction = 'mean'  # gradient of the batch's mean bound; or 'sum'
  config.adam_b1 = 0.9
  config.adam_b2 = 0.999
  config.adam_eps = 1e-4
  # Evaluation: importance-sampled test log-likelihood.
  config.eval_num_samples = 5000
  config.eval_every_epochs = 100  # 0: only at the end
  config.eval_batch_size = 100
  config.eval_chunk_size = 100  # samples per example processed at once
  # Gradient SNR (Rainforth et al.) on a fixed training batch, at every evaluation.
  config.snr_num_draws = 100  # 0: off
  # Checkpoints.
  config.checkpoint_every_epochs = 10
  config.max_checkpoints = 2
  # Data parallelism: each batch split across this many devices (0: all, on every host).
  config.num_devices = 1
  return config
