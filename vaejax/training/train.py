"""The VAE trainer: its train_step, its evaluation, and train_and_evaluate on loop.py."""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from vaejax import pictures
from vaejax import runs
from vaejax.bounds import diagnostics
from vaejax.bounds import estimators
from vaejax.bounds import gradients
from vaejax.bounds.objectives import Objective
from vaejax.data import datasets
from vaejax.errors import UserError
from vaejax.logpx import importance
from vaejax.models.vae import VAE, Params
from vaejax.training import loop
from vaejax.training import sharding
from vaejax.training import trainstate

SCHEDULES = ('constant', 'iwae', 'iwae_released', 'cosine')
OPTIMIZERS = ('adam', 'released_adam')
GRADIENT_REDUCTIONS = ('mean', 'sum')
BINARIZATIONS = ('dynamic', 'fixed')
TEMPERATURE_SCHEDULES = ('constant', 'exponential')
ACTIVE_UNITS_TRAIN_IMAGES = 500  # the released code's active-unit count


def validate_config(config: ml_collections.ConfigDict) -> None:
  """One-line UserErrors for settings that cannot work (data-dependent checks come later)."""
  if config.temperature_schedule not in TEMPERATURE_SCHEDULES:
    raise UserError(f'unknown temperature_schedule {config.temperature_schedule!r}; choose '
                    f'one of {TEMPERATURE_SCHEDULES}')
  estimators.check(trainstate.objective_from_config(config),
                   trainstate.model_from_config(config),
                   config.architecture)
  if config.latent_dim < 1:
    raise UserError(f'latent_dim must be at least 1, got {config.latent_dim}')
  if config.schedule not in SCHEDULES:
    raise UserError(f'unknown schedule {config.schedule!r}; choose one of {SCHEDULES}')
  if config.optimizer not in OPTIMIZERS:
    raise UserError(f'unknown optimizer {config.optimizer!r}; choose one of {OPTIMIZERS}')
  if config.gradient_reduction not in GRADIENT_REDUCTIONS:
    raise UserError(f'unknown gradient_reduction {config.gradient_reduction!r}; choose one '
                    f'of {GRADIENT_REDUCTIONS}')
  if config.train_examples < 0:
    raise UserError(f'train_examples must be 0 (all) or positive, got {config.train_examples}')
  if config.binarization not in BINARIZATIONS:
    raise UserError(f'unknown binarization {config.binarization!r}; '
                    f'choose one of {BINARIZATIONS}')
  if config.binarization == 'fixed' and config.likelihood != 'bernoulli':
    raise UserError(f"binarization 'fixed' is for the Bernoulli likelihood only, not "
                    f'{config.likelihood!r}')
  for field in ('batch_size', 'num_epochs', 'eval_num_samples', 'eval_batch_size',
                'eval_chunk_size', 'checkpoint_every_epochs', 'max_checkpoints'):
    if config[field] < 1:
      raise UserError(f'{field} must be at least 1, got {config[field]}')
  if config.num_devices < 0:
    raise UserError(f'num_devices must be 0 (all) or positive, got {config.num_devices}')
  if config.snr_num_draws < 0:
    raise UserError(f'snr_num_draws must be 0 (off) or positive, got {config.snr_num_draws}')
  if config.learning_rate <= 0:
    raise UserError(f'learning_rate must be positive, got {config.learning_rate}')


def make_train_step(model: VAE, objective: Objective,
                    optimizer: optax.GradientTransformation) -> Callable:
  """train_step(state, batch, key) -> (state, metrics) for uint8 image batches [B, D].

  The model's likelihood prepares each batch from the step's key: a fresh binarization
  (Bernoulli), a fresh uniform dequantization (Gaussian), or none (discretized logistic).
  The estimators of vaejax/bounds/estimators.py also replace params['estimator']'s running
  statistics with their next values.
  """

  def train_step(state: trainstate.TrainState, batch: jax.Array, key: jax.Array):
    prepare_key, sample_key = jax.random.split(key)
    x = model.likelihood.prepare(prepare_key, batch)
    estimator_state = None
    if objective.estimator in estimators.NAMES:
      loss, grads, estimator_state = estimators.loss_grads_and_state(
          model, objective, state.params, x, sample_key)
    else:
      loss, grads = gradients.loss_and_grads(model, objective, state.params, x, sample_key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    if estimator_state is not None:
      params = {**params, 'estimator': estimator_state}
    return trainstate.TrainState(params, opt_state, state.step + 1), {'loss': loss}

  return train_step


def epoch_data(num_examples: int, batch_size: int, mesh: jax.sharding.Mesh | None = None,
               shuffle: bool = True) -> loop.EpochData:
  """loop.make_train_epoch's epoch_data for image batches: the epoch's order from
  (data_key, epoch) (datasets.epoch_batches), step s's batch images[indices of s].

  With a mesh (sharding.data_mesh), each batch is split across its devices and the state,
  replicated, is updated with the gradient of the whole batch: the same run, up to float
  rounding.
  """

  def epoch(images, data_key, epoch):
    def batch(indices, step):
      del step
      if mesh is not None:
        indices = sharding.split_batch(indices, mesh)
      return images[indices]
    return datasets.epoch_batches(data_key, epoch, num_examples, batch_size, shuffle), batch

  return epoch


def make_train_epoch(train_step: Callable, num_examples: int, batch_size: int,
                     mesh: jax.sharding.Mesh | None = None, shuffle: bool = True) -> Callable:
  """A VAE's jitted, scanned epoch (loop.make_train_epoch with epoch_data):
  train_epoch(state, images, data_key, train_key, epoch) -> (state, {'loss': [steps]})."""
  return loop.make_train_epoch(train_step, epoch_data(num_examples, batch_size, mesh, shuffle))


class Experiment(NamedTuple):
  """What a config builds before training: data, model, objective, optimizer and keys."""
  dataset: datasets.Dataset
  model: VAE
  objective: Objective
  optimizer: optax.GradientTransformation
  keys: trainstate.RunKeys
  steps_per_epoch: int


def build(config: ml_collections.ConfigDict,
          dataset: datasets.Dataset | None = None) -> Experiment:
  """Validates config, loads the data (unless given it, as loaded) and builds a run's pieces."""
  validate_config(config)
  if dataset is None:
    dataset = datasets.load(config.dataset, config.data_dir or None)
  if config.held_out_label >= 0:
    if config.held_out_label not in dataset.train_labels:
      raise UserError(f'held_out_label {config.held_out_label} is not a label of '
                      f'{config.dataset}')
    keep = dataset.train_labels != config.held_out_label
    dataset = dataset._replace(train_images=dataset.train_images[keep],
                               train_labels=dataset.train_labels[keep])
  if config.train_examples > 0:
    dataset = dataset._replace(train_images=dataset.train_images[:config.train_examples],
                               train_labels=dataset.train_labels[:config.train_examples])
  num_train = dataset.train_images.shape[0]
  if config.batch_size > num_train:
    raise UserError(f'batch_size {config.batch_size} is larger than the {num_train} '
                    f'training examples of {config.dataset}')
  keys = trainstate.run_keys(config.seed)
  if config.binarization == 'fixed':
    train_key, test_key = jax.random.split(keys.binarization)
    dataset = dataset._replace(
        train_images=datasets.fixed_binarization(dataset.train_images, train_key),
        test_images=datasets.fixed_binarization(dataset.test_images, test_key))
  steps_per_epoch = num_train // config.batch_size
  model = trainstate.model_from_config(config, dataset.image_shape)
  return Experiment(dataset, model, trainstate.objective_from_config(config),
                    trainstate.make_optimizer(config, steps_per_epoch), keys, steps_per_epoch)


def _evaluate(exp: Experiment, config: ml_collections.ConfigDict, params: Params,
              metrics_log: runs.MetricsLog, step: int) -> dict:
  """Test metrics, active units on the first 500 training images (as the released IWAE code
  counts them), the gradient SNR on a fixed training batch (unless snr_num_draws is 0), and
  pictures of the model (PNGs and TensorBoard images)."""
  prepare_key, draws_key, pictures_key, units_key = jax.random.split(exp.keys.diagnostics, 4)
  metrics_log.write_pictures(step, pictures.all_pictures(
      exp.model, params, exp.dataset.test_images / 255.0, exp.dataset.test_labels,
      pictures_key))
  metrics = importance.evaluate(
      exp.model, params, exp.dataset.test_images, exp.keys.eval, config.eval_num_samples,
      exp.objective.num_samples, config.eval_batch_size, config.eval_chunk_size)
  units_prepare_key, units_key = jax.random.split(units_key)
  train_x = exp.model.likelihood.prepare(
      units_prepare_key, jnp.asarray(exp.dataset.train_images[:ACTIVE_UNITS_TRAIN_IMAGES]))
  metrics['active_units_train500'] = sum(
      importance.active_units(exp.model, params, train_x, units_key))
  if config.snr_num_draws > 0:
    x = exp.model.likelihood.prepare(prepare_key,
                                     jnp.asarray(exp.dataset.train_images[:config.batch_size]))
    metrics.update(diagnostics.gradient_snr(exp.model, exp.objective, params, x, draws_key,
                                            config.snr_num_draws))
  return metrics


def run_dir(config: ml_collections.ConfigDict, workdir: str, exp: Experiment) -> runs.RunDir:
  """The run directory of an unsupervised run: its fresh state and its evaluation."""
  pixel_mean = exp.dataset.train_images.mean(axis=0) / 255.0
  return runs.RunDir(
      config, workdir, exp.steps_per_epoch,
      lambda: trainstate.init_state(exp.model, exp.optimizer, exp.keys.init, pixel_mean,
                                    objective=exp.objective),
      lambda params, metrics_log, step: _evaluate(exp, config, params, metrics_log, step),
      info={'image_shape': list(exp.dataset.image_shape)})


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       stop_after_epochs: int | None = None) -> dict:
  """Trains (resuming from workdir's newest checkpoint) and evaluates on the test set.

  With config.num_devices other than 1, each batch is split across that many devices
  (0: all of them, on every host).

  Args:
    config: the run's config.
    workdir: its run directory.
    stop_after_epochs: stop after this many of the config's epochs, with a checkpoint there
      and no final evaluation (the records so far are those of the whole run).

  Returns:
    The final test metrics (also in workdir/results.json, with the training time), or
    {'step': the step stopped at}.
  """
  exp = build(config)
  run = run_dir(config, workdir, exp)
  state = loop.resume([run])[0]
  mesh = sharding.data_mesh(config.num_devices, config.batch_size)
  images = exp.dataset.train_images
  if mesh is None:
    images = jnp.asarray(images)
  else:
    images, state = sharding.replicate(images, mesh), sharding.replicate(state, mesh)
  train_epoch = make_train_epoch(make_train_step(exp.model, exp.objective, exp.optimizer),
                                 exp.dataset.train_images.shape[0], config.batch_size, mesh,
                                 config.shuffle)
  return loop.train([run], train_epoch, state, images, exp.keys.data, exp.keys.train,
                    stop_after_epochs)[0]
