"""The train state, the jitted training step, scanned epochs and train_and_evaluate."""

import functools
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from vaejax import data
from vaejax import diagnostics
from vaejax import estimators
from vaejax import evaluate as evaluate_lib
from vaejax import gradients
from vaejax import optimizers
from vaejax import pictures
from vaejax import runs
from vaejax import sharding
from vaejax.errors import UserError
from vaejax.models import MNIST_SHAPE, VAE, Params, make_model
from vaejax.objectives import Objective, make_objective

SCHEDULES = ('constant', 'iwae', 'iwae_released')
OPTIMIZERS = ('adam', 'released_adam')
GRADIENT_REDUCTIONS = ('mean', 'sum')
BINARIZATIONS = ('dynamic', 'fixed')
TEMPERATURE_SCHEDULES = ('constant', 'exponential')
ACTIVE_UNITS_TRAIN_IMAGES = 500  # the released code's active-unit count


class TrainState(NamedTuple):
  params: Params
  opt_state: optax.OptState
  step: jax.Array  # int32 scalar: the number of steps taken


class RunKeys(NamedTuple):
  """Every key of a run, derived from its one seed.

  `data` draws the epochs' order, `binarization` the fixed binarization (config.binarization
  'fixed'). `analysis` serves the experiment scripts' analyses of a finished run (bounds
  against k, gradient SNR at other K, pictures), so that they never draw with a key training
  used. A new field goes last: split's first keys do not depend on how many are drawn, so the
  others stay those of older runs.
  """
  init: jax.Array
  data: jax.Array
  train: jax.Array
  eval: jax.Array
  diagnostics: jax.Array
  analysis: jax.Array
  binarization: jax.Array


def run_keys(seed: int) -> RunKeys:
  return RunKeys(*jax.random.split(jax.random.key(seed), len(RunKeys._fields)))


def make_optimizer(config: ml_collections.ConfigDict,
                   steps_per_epoch: int) -> optax.GradientTransformation:
  """The config's optimizer (optax's Adam, or the released code's) with its schedule.

  gradient_reduction 'sum' scales the batch-mean gradient by the batch size before the
  optimizer sees it: the gradient of the batch's summed bound, as the released code takes.
  """
  total_steps = config.num_epochs * steps_per_epoch
  if config.schedule == 'iwae':
    lr = optimizers.staged_schedule(optimizers.paper_stage_rates(config.learning_rate),
                                    total_steps)
  elif config.schedule == 'iwae_released':
    lr = optimizers.staged_schedule(optimizers.released_stage_rates(config.learning_rate),
                                    total_steps)
  else:
    lr = config.learning_rate
  if config.optimizer == 'released_adam':
    optimizer = optimizers.released_adam(lr, b1=config.adam_b1, b2=config.adam_b2,
                                         eps=config.adam_eps)
  else:
    optimizer = optax.adam(lr, b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps)
  if config.gradient_reduction == 'sum':
    return optax.chain(optax.scale(config.batch_size), optimizer)
  return optimizer


def model_from_config(config: ml_collections.ConfigDict,
                      image_shape: tuple[int, int, int] = MNIST_SHAPE) -> VAE:
  """The config's VAE for images of image_shape."""
  return make_model(config.architecture, config.latent_dim, image_shape, config.likelihood,
                    tuple(config.mlp_hidden), config.activation)


def validate_config(config: ml_collections.ConfigDict) -> None:
  """One-line UserErrors for settings that cannot work (data-dependent checks come later)."""
  if config.temperature_schedule not in TEMPERATURE_SCHEDULES:
    raise UserError(f'unknown temperature_schedule {config.temperature_schedule!r}; choose '
                    f'one of {TEMPERATURE_SCHEDULES}')
  estimators.check(objective_from_config(config), model_from_config(config),
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


def objective_from_config(config: ml_collections.ConfigDict) -> Objective:
  exponential = config.temperature_schedule == 'exponential'
  return make_objective(config.objective, config.num_samples, config.num_groups,
                        config.ciwae_beta, config.gradient_estimator, config.temperature,
                        config.temperature_min if exponential else config.temperature,
                        config.temperature_decay if exponential else 0.0)


def make_train_step(model: VAE, objective: Objective,
                    optimizer: optax.GradientTransformation) -> Callable:
  """train_step(state, batch, key) -> (state, metrics) for uint8 image batches [B, D].

  The model's likelihood prepares each batch from the step's key: a fresh binarization
  (Bernoulli), a fresh uniform dequantization (Gaussian), or none (discretized logistic).
  The estimators of vaejax/estimators.py also replace params['estimator']'s running
  statistics with their next values.
  """

  def train_step(state: TrainState, batch: jax.Array, key: jax.Array):
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
    return TrainState(params, opt_state, state.step + 1), {'loss': loss}

  return train_step


def make_train_epoch(train_step: Callable, num_examples: int, batch_size: int,
                     mesh: jax.sharding.Mesh | None = None, shuffle: bool = True) -> Callable:
  """A jitted epoch: every step of it in one lax.scan, the state donated.

  train_epoch(state, images, data_key, train_key, epoch) -> (state, {'loss': [steps]}).
  Step s draws its randomness from fold_in(train_key, s), and the epoch's order from
  (data_key, epoch), so a resumed run repeats an uninterrupted one exactly. With a mesh
  (sharding.data_mesh), each batch is split across its devices and the state, replicated,
  is updated with the gradient of the whole batch: the same run, up to float rounding.
  """

  @functools.partial(jax.jit, donate_argnums=0)
  def train_epoch(state, images, data_key, train_key, epoch):
    batches = data.epoch_batches(data_key, epoch, num_examples, batch_size, shuffle)

    def body(state, indices):
      if mesh is not None:
        indices = sharding.split_batch(indices, mesh)
      return train_step(state, images[indices], jax.random.fold_in(train_key, state.step))

    return jax.lax.scan(body, state, batches)

  return train_epoch


def init_state(model: Any, optimizer: optax.GradientTransformation, key: jax.Array,
               *init_args: Any, objective: Objective | None = None) -> TrainState:
  """A fresh state: model.init(key, *init_args) (e.g. the pixel mean) and the optimizer's,
  with the objective's estimator's parameters, if it has any (vaejax/estimators.py)."""
  params = model.init(key, *init_args)
  estimator_state = (None if objective is None
                     else estimators.init_state(objective, key, model.num_pixels))
  if estimator_state is not None:
    params['estimator'] = estimator_state
  return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))


class Experiment(NamedTuple):
  """What a config builds before training: data, model, objective, optimizer and keys."""
  dataset: data.Dataset
  model: VAE
  objective: Objective
  optimizer: optax.GradientTransformation
  keys: RunKeys
  steps_per_epoch: int


def build(config: ml_collections.ConfigDict,
          dataset: data.Dataset | None = None) -> Experiment:
  """Validates config, loads the data (unless given it, as loaded) and builds a run's pieces."""
  validate_config(config)
  if dataset is None:
    dataset = data.load(config.dataset, config.data_dir or None)
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
  keys = run_keys(config.seed)
  if config.binarization == 'fixed':
    train_key, test_key = jax.random.split(keys.binarization)
    dataset = dataset._replace(
        train_images=data.fixed_binarization(dataset.train_images, train_key),
        test_images=data.fixed_binarization(dataset.test_images, test_key))
  steps_per_epoch = num_train // config.batch_size
  model = model_from_config(config, dataset.image_shape)
  return Experiment(dataset, model, objective_from_config(config),
                    make_optimizer(config, steps_per_epoch), keys, steps_per_epoch)


def _evaluate(exp: Experiment, config: ml_collections.ConfigDict, params: Params,
              metrics_log: runs.MetricsLog, step: int) -> dict:
  """Test metrics, active units on the first 500 training images (as the released IWAE code
  counts them), the gradient SNR on a fixed training batch (unless snr_num_draws is 0), and
  pictures of the model (PNGs and TensorBoard images)."""
  prepare_key, draws_key, pictures_key, units_key = jax.random.split(exp.keys.diagnostics, 4)
  metrics_log.write_pictures(step, pictures.all_pictures(
      exp.model, params, exp.dataset.test_images / 255.0, exp.dataset.test_labels,
      pictures_key))
  metrics = evaluate_lib.evaluate(
      exp.model, params, exp.dataset.test_images, exp.keys.eval, config.eval_num_samples,
      exp.objective.num_samples, config.eval_batch_size, config.eval_chunk_size)
  units_prepare_key, units_key = jax.random.split(units_key)
  train_x = exp.model.likelihood.prepare(
      units_prepare_key, jnp.asarray(exp.dataset.train_images[:ACTIVE_UNITS_TRAIN_IMAGES]))
  metrics['active_units_train500'] = sum(
      evaluate_lib.active_units(exp.model, params, train_x, units_key))
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
      lambda: init_state(exp.model, exp.optimizer, exp.keys.init, pixel_mean,
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
  state = run.start(max(run.checkpoints.verified_steps(), default=None))
  mesh = sharding.data_mesh(config.num_devices, config.batch_size)
  images = exp.dataset.train_images
  if mesh is None:
    images = jnp.asarray(images)
  else:
    images, state = sharding.replicate(images, mesh), sharding.replicate(state, mesh)
  train_epoch = make_train_epoch(make_train_step(exp.model, exp.objective, exp.optimizer),
                                 exp.dataset.train_images.shape[0], config.batch_size, mesh,
                                 config.shuffle)
  progress = runs.Progress(config.num_epochs, exp.steps_per_epoch * config.batch_size)
  stop = min(stop_after_epochs or config.num_epochs, config.num_epochs)
  for epoch in range(run.start_epoch, stop):
    start = time.monotonic()
    state, step_metrics = train_epoch(state, images, exp.keys.data, exp.keys.train, epoch)
    losses = np.asarray(step_metrics['loss'])
    seconds = time.monotonic() - start
    step = int(state.step)
    run.end_epoch(epoch, step, losses, seconds, lambda: state)
    progress.epoch_done(epoch, step, float(losses.mean()), seconds)
  if stop < config.num_epochs:
    return run.stop(state)
  return run.finish(state.params)
