"""The train state, the jitted training step, scanned epochs and train_and_evaluate."""

import functools
import math
import time
from typing import Any, Callable, NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from vaejax import data
from vaejax import diagnostics
from vaejax import evaluate as evaluate_lib
from vaejax import gradients
from vaejax import pictures
from vaejax import runs
from vaejax.errors import UserError
from vaejax.models import VAE, Params, make_model
from vaejax.objectives import Objective, make_objective

SCHEDULES = ('constant', 'iwae')
BINARIZATIONS = ('dynamic', 'fixed')
PAPER_STAGES = 8
PAPER_EPOCHS = sum(3**i for i in range(PAPER_STAGES))  # 3280
LOG_EVERY_SECONDS = 10


class TrainState(NamedTuple):
  params: Params
  opt_state: optax.OptState
  step: jax.Array  # int32 scalar: the number of steps taken


class RunKeys(NamedTuple):
  """Every key of a run, derived from its one seed."""
  init: jax.Array
  data: jax.Array
  train: jax.Array
  eval: jax.Array
  diagnostics: jax.Array


def run_keys(seed: int) -> RunKeys:
  return RunKeys(*jax.random.split(jax.random.key(seed), len(RunKeys._fields)))


def iwae_schedule(learning_rate: float, total_steps: int) -> optax.Schedule:
  """The paper's schedule: stage i (of 8) runs 3^(i-1)/3280 of the steps at lr * 10^(-(i-1)/7).

  With 3280 epochs this is exactly the paper's; shorter runs keep the stages' proportions.
  """
  ends = np.cumsum([3**i for i in range(PAPER_STAGES)]) / PAPER_EPOCHS
  boundaries = [int(round(e * total_steps)) for e in ends[:-1]]
  stages = [optax.constant_schedule(learning_rate * 10**(-i / 7)) for i in range(PAPER_STAGES)]
  return optax.join_schedules(stages, boundaries)


def make_optimizer(config: ml_collections.ConfigDict,
                   steps_per_epoch: int) -> optax.GradientTransformation:
  """Adam with the config's schedule."""
  if config.schedule == 'iwae':
    lr = iwae_schedule(config.learning_rate, config.num_epochs * steps_per_epoch)
  else:
    lr = config.learning_rate
  return optax.adam(lr, b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps)


def validate_config(config: ml_collections.ConfigDict) -> None:
  """One-line UserErrors for settings that cannot work (data-dependent checks come later)."""
  make_model(config.architecture, 1)
  make_objective(config.objective, config.num_samples, config.num_groups, config.ciwae_beta,
                 config.gradient_estimator)
  if config.latent_dim < 1:
    raise UserError(f'latent_dim must be at least 1, got {config.latent_dim}')
  if config.schedule not in SCHEDULES:
    raise UserError(f'unknown schedule {config.schedule!r}; choose one of {SCHEDULES}')
  if config.binarization not in BINARIZATIONS:
    raise UserError(f'unknown binarization {config.binarization!r}; '
                    f'choose one of {BINARIZATIONS}')
  for field in ('batch_size', 'num_epochs', 'eval_num_samples', 'eval_batch_size',
                'eval_chunk_size', 'checkpoint_every_epochs', 'max_checkpoints'):
    if config[field] < 1:
      raise UserError(f'{field} must be at least 1, got {config[field]}')
  if config.snr_num_draws < 0:
    raise UserError(f'snr_num_draws must be 0 (off) or positive, got {config.snr_num_draws}')
  if config.learning_rate <= 0:
    raise UserError(f'learning_rate must be positive, got {config.learning_rate}')


def objective_from_config(config: ml_collections.ConfigDict) -> Objective:
  return make_objective(config.objective, config.num_samples, config.num_groups,
                        config.ciwae_beta, config.gradient_estimator)


def make_train_step(model: VAE, objective: Objective,
                    optimizer: optax.GradientTransformation) -> Callable:
  """train_step(state, batch, key) -> (state, metrics) for uint8 image batches [B, 784]."""

  def train_step(state: TrainState, batch: jax.Array, key: jax.Array):
    binarize_key, sample_key = jax.random.split(key)
    x = data.binarize(binarize_key, batch)
    loss, grads = gradients.loss_and_grads(model, objective, state.params, x, sample_key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(params, opt_state, state.step + 1), {'loss': loss}

  return train_step


def make_train_epoch(train_step: Callable, num_examples: int, batch_size: int) -> Callable:
  """A jitted epoch: every step of it in one lax.scan, the state donated.

  train_epoch(state, images, data_key, train_key, epoch) -> (state, {'loss': [steps]}).
  Step s draws its randomness from fold_in(train_key, s), and the epoch's order from
  (data_key, epoch), so a resumed run repeats an uninterrupted one exactly.
  """

  @functools.partial(jax.jit, donate_argnums=0)
  def train_epoch(state, images, data_key, train_key, epoch):
    batches = data.epoch_batches(data_key, epoch, num_examples, batch_size)

    def body(state, indices):
      return train_step(state, images[indices], jax.random.fold_in(train_key, state.step))

    return jax.lax.scan(body, state, batches)

  return train_epoch


def make_multi_model_train_epoch(train_step: Callable, num_examples: int,
                                 batch_size: int) -> Callable:
  """make_train_epoch for N models at once, as one program: a vmap over a leading model axis.

  train_epoch(states, images, data_keys, train_keys, epoch) -> (states, {'loss': [steps, N]}),
  states, data_keys and train_keys each with a leading axis of N; model n follows exactly the
  path it would alone (its own data order and per-step keys), up to float rounding.
  """
  multi_step = jax.vmap(train_step)

  @functools.partial(jax.jit, donate_argnums=0)
  def train_epoch(states, images, data_keys, train_keys, epoch):
    batches = jax.vmap(data.epoch_batches, in_axes=(0, None, None, None))(
        data_keys, epoch, num_examples, batch_size)

    def body(states, indices_NxB):
      keys = jax.vmap(jax.random.fold_in)(train_keys, states.step)
      return multi_step(states, images[indices_NxB], keys)

    return jax.lax.scan(body, states, jnp.swapaxes(batches, 0, 1))

  return train_epoch


def init_state(model: VAE, optimizer: optax.GradientTransformation, key: jax.Array,
               pixel_mean: Any) -> TrainState:
  params = model.init(key, pixel_mean)
  return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))


class Experiment(NamedTuple):
  """What a config builds before training: data, model, objective, optimizer and keys."""
  dataset: data.Dataset
  model: VAE
  objective: Objective
  optimizer: optax.GradientTransformation
  keys: RunKeys
  steps_per_epoch: int


def build(config: ml_collections.ConfigDict) -> Experiment:
  """Validates config, loads the data and builds the pieces a run needs."""
  validate_config(config)
  dataset = data.load(config.dataset, config.data_dir or None)
  if config.held_out_label >= 0:
    if config.held_out_label not in dataset.train_labels:
      raise UserError(f'held_out_label {config.held_out_label} is not a label of '
                      f'{config.dataset}')
    keep = dataset.train_labels != config.held_out_label
    dataset = dataset._replace(train_images=dataset.train_images[keep],
                               train_labels=dataset.train_labels[keep])
  num_train = dataset.train_images.shape[0]
  if config.batch_size > num_train:
    raise UserError(f'batch_size {config.batch_size} is larger than the {num_train} '
                    f'training examples of {config.dataset}')
  keys = run_keys(config.seed)
  if config.binarization == 'fixed':
    train_key, test_key = jax.random.split(keys.data)
    dataset = dataset._replace(
        train_images=data.fixed_binarization(dataset.train_images, train_key),
        test_images=data.fixed_binarization(dataset.test_images, test_key))
  steps_per_epoch = num_train // config.batch_size
  return Experiment(dataset, make_model(config.architecture, config.latent_dim),
                    objective_from_config(config),
                    make_optimizer(config, steps_per_epoch), keys, steps_per_epoch)


def _evaluate(exp: Experiment, config: ml_collections.ConfigDict, params: Params,
              metrics_log: runs.MetricsLog, step: int) -> dict:
  """Test metrics, the gradient SNR on a fixed training batch (unless snr_num_draws is 0),
  and pictures of the model (PNGs and TensorBoard images)."""
  binarize_key, draws_key, pictures_key = jax.random.split(exp.keys.diagnostics, 3)
  metrics_log.write_pictures(step, pictures.all_pictures(
      exp.model, params, exp.dataset.test_images / 255.0, exp.dataset.test_labels,
      pictures_key))
  metrics = evaluate_lib.evaluate(
      exp.model, params, exp.dataset.test_images, exp.keys.eval, config.eval_num_samples,
      exp.objective.num_samples, config.eval_batch_size, config.eval_chunk_size)
  if config.snr_num_draws > 0:
    x = data.binarize(binarize_key, jnp.asarray(exp.dataset.train_images[:config.batch_size]))
    metrics.update(diagnostics.gradient_snr(exp.model, exp.objective, params, x, draws_key,
                                            config.snr_num_draws))
  return metrics


def _first_bad_step(losses: np.ndarray, first_step: int) -> int | None:
  bad = np.flatnonzero(~np.isfinite(losses))
  return None if bad.size == 0 else first_step + int(bad[0])


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains (resuming from workdir's newest checkpoint) and evaluates on the test set.

  Returns:
    The final test metrics (also in workdir/results.json, with the training time).
  """
  exp = build(config)
  runs.prepare_workdir(workdir, config)
  metrics = runs.MetricsLog(workdir)
  checkpoints = runs.Checkpoints(workdir, config.max_checkpoints)
  state = init_state(exp.model, exp.optimizer, exp.keys.init,
                     exp.dataset.train_images.mean(axis=0) / 255.0)
  latest = checkpoints.latest_step()
  if latest is not None:
    state = checkpoints.restore(latest, state)
    logging.info('Resumed from checkpoint at step %d.', latest)
  metrics.truncate_after(int(state.step))
  train_seconds = runs.read_train_seconds(workdir, int(state.step))

  total_steps = config.num_epochs * exp.steps_per_epoch
  train_epoch = make_train_epoch(make_train_step(exp.model, exp.objective, exp.optimizer),
                                 exp.dataset.train_images.shape[0], config.batch_size)
  images = jnp.asarray(exp.dataset.train_images)
  start_epoch = int(state.step) // exp.steps_per_epoch
  progress = _Progress(config.num_epochs, exp.steps_per_epoch * config.batch_size)
  for epoch in range(start_epoch, config.num_epochs):
    first_step, start = int(state.step), time.monotonic()
    state, step_metrics = train_epoch(state, images, exp.keys.data, exp.keys.train, epoch)
    losses = np.asarray(step_metrics['loss'])
    seconds = time.monotonic() - start
    train_seconds += seconds
    bad_step = _first_bad_step(losses, first_step)
    if bad_step is not None:
      kept = checkpoints.latest_step()
      kept = 'no checkpoint was saved yet' if kept is None else (
          f'the last good checkpoint (step {kept}) is kept in {checkpoints.directory}')
      raise UserError(f'loss became {losses[bad_step - first_step]} at step {bad_step} '
                      f'(epoch {epoch + 1}); {kept}')
    step = int(state.step)
    metrics.write('train', step, {'epoch': epoch + 1, 'loss': float(losses.mean())})
    progress.epoch_done(epoch, step, float(losses.mean()), seconds)
    last = epoch + 1 == config.num_epochs
    if config.eval_every_epochs > 0 and (epoch + 1) % config.eval_every_epochs == 0 and not last:
      metrics.write('test', step, _evaluate(exp, config, state.params, metrics, step))
    if last or (epoch + 1) % config.checkpoint_every_epochs == 0:
      checkpoints.save(step, state)
      runs.write_train_seconds(workdir, step, train_seconds)

  results = runs.read_results(workdir)
  if results is None or start_epoch < config.num_epochs:
    results = {'step': total_steps,
               **_evaluate(exp, config, state.params, metrics, total_steps)}
    metrics.write('final', total_steps, {k: v for k, v in results.items() if k != 'step'})
    results['train_seconds'] = train_seconds
    runs.write_results(workdir, results)
  metrics.close()
  checkpoints.close()
  return results


class _Progress:
  """Logs step, loss, examples/s and time left, at most every LOG_EVERY_SECONDS."""

  def __init__(self, num_epochs: int, examples_per_epoch: int):
    self._num_epochs = num_epochs
    self._examples_per_epoch = examples_per_epoch
    self._epoch_seconds = []
    self._last_log = -math.inf

  def epoch_done(self, epoch: int, step: int, loss: float, seconds: float) -> None:
    self._epoch_seconds.append(seconds)
    last = epoch + 1 == self._num_epochs
    if not last and time.monotonic() - self._last_log < LOG_EVERY_SECONDS:
      return
    self._last_log = time.monotonic()
    # The first epoch of a process includes compilation: leave it out of the estimate.
    typical = np.median(self._epoch_seconds[1:] or self._epoch_seconds)
    logging.info('epoch %d/%d  step %d  loss %.3f  %.0f examples/s  %s left',
                 epoch + 1, self._num_epochs, step, loss, self._examples_per_epoch / seconds,
                 _duration(typical * (self._num_epochs - epoch - 1)))


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}:{minutes:02d}:{seconds:02d}'
