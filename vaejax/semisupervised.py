"""Semi-supervised training of M2 (Kingma et al. 2014), on images or on M1's latent means.

Each step takes batch_size unlabelled inputs (an epoch is one pass over them) and
labelled_batch_size labelled ones (cycling through the labelled set, a new order each pass),
and descends

  loss = -mean_unlabelled U(x) - mean_labelled L(x, y) + w * mean_labelled (-log q(y | x)),

w = alpha * (training images) / num_labels, the released code's scaling (50 for 100 labels of
MNIST's 50,000). It trains on the one loop of every trainer (vaejax/loop.py): jitted, scanned
over the epoch with the state donated, step s drawing from fold_in(train_key, s), the same
runs.RunDir (config.json, metrics.jsonl, TensorBoard, checkpoints) and the same resume. Architecture 'm2'
models the images (the config's likelihood); 'm1m2' models the posterior means of a trained
unsupervised run (config.m1_workdir) with a Normal likelihood.
"""

import functools
import json
import pathlib
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import ml_collections
import numpy as np
import optax

from vaejax import classifiers
from vaejax import data
from vaejax import features
from vaejax import loop
from vaejax import m2
from vaejax import objectives
from vaejax import pictures
from vaejax import runs
from vaejax import sharding
from vaejax import splits as splits_lib
from vaejax import trainstate
from vaejax.errors import UserError
from vaejax.m2 import M2
from vaejax.models import Params

OBJECTIVES = ('vae', 'iwae', 'miwae', 'ciwae')  # Those with one bound for both networks.
LABELLED_FILE = 'labelled_indices.json'
EVAL_BATCH = 1000


def validate_config(config: ml_collections.ConfigDict) -> None:
  """One-line UserErrors for settings M2 cannot train with."""
  if config.architecture not in m2.ARCHITECTURES:
    raise UserError(f'unknown semi-supervised architecture {config.architecture!r}; choose '
                    f'one of {m2.ARCHITECTURES}')
  if config.objective not in OBJECTIVES:
    raise UserError(f'objective {config.objective!r} is not for M2; choose one of {OBJECTIVES}')
  trainstate.objective_from_config(config)  # Checks K, M and beta.
  unsupported = {'gradient_estimator': 'reparam', 'binarization': 'dynamic',
                 'held_out_label': -1, 'num_devices': 1}
  for field, value in unsupported.items():
    if config[field] != value:
      raise UserError(f'M2 training supports only {field}={value!r}, got {config[field]!r}')
  if config.architecture == 'm1m2' and not config.m1_workdir:
    raise UserError("architecture 'm1m2' needs config.m1_workdir, a trained unsupervised run")
  for field in ('latent_dim', 'hidden_units', 'batch_size', 'labelled_batch_size',
                'num_epochs', 'eval_num_samples', 'checkpoint_every_epochs', 'max_checkpoints'):
    if config[field] < 1:
      raise UserError(f'{field} must be at least 1, got {config[field]}')
  if config.alpha < 0:
    raise UserError(f'alpha must be non-negative, got {config.alpha}')
  if config.learning_rate <= 0:
    raise UserError(f'learning_rate must be positive, got {config.learning_rate}')


def m1_features(config: ml_collections.ConfigDict,
                dataset: data.Dataset) -> tuple[data.Dataset, features.FeatureMap]:
  """The dataset as the standardized posterior means of the M1 run config.m1_workdir."""
  m1 = runs.restore(config.m1_workdir)
  return features.dataset_features(m1.model, m1.params, dataset,
                                   trainstate.run_keys(config.seed).analysis, config.m1_layers)


def classification_weight(config: ml_collections.ConfigDict, num_train: int) -> float:
  """w = alpha * N_train / N_labelled (alpha with all labels)."""
  return config.alpha * (num_train / config.num_labels if config.num_labels else 1.0)


class Experiment(NamedTuple):
  """What a semi-supervised config builds before training."""
  data: splits_lib.LabelledData
  image_shape: tuple[int, int, int] | None  # None for M1 features.
  model: M2
  objective: objectives.Objective
  optimizer: optax.GradientTransformation
  keys: trainstate.RunKeys
  weight: float
  steps_per_epoch: int


def build(config: ml_collections.ConfigDict) -> Experiment:
  """Validates config, loads the data, cuts its splits and builds the model."""
  validate_config(config)
  dataset = data.load(config.dataset, config.data_dir or None)
  image_shape = dataset.image_shape
  if config.architecture == 'm1m2':
    dataset, _ = m1_features(config, dataset)
    image_shape = None
  labelled = splits_lib.split_dataset(dataset, splits_lib.make_splits(
      dataset.train_labels, config.num_labels, config.num_validation, config.seed))
  num_train = len(labelled.labelled_x) + len(labelled.unlabelled_x)
  batched = len(labelled.unlabelled_x) if len(labelled.unlabelled_x) else len(labelled.labelled_x)
  size = config.batch_size if len(labelled.unlabelled_x) else config.labelled_batch_size
  if size > batched:
    raise UserError(f'batch size {size} is larger than the {batched} training examples')
  model = m2.make_model(config, dataset.train_images.shape[1], labelled.splits.num_classes)
  steps_per_epoch = batched // size
  return Experiment(labelled, image_shape, model, trainstate.objective_from_config(config),
                    trainstate.make_optimizer(config, steps_per_epoch),
                    trainstate.run_keys(config.seed),
                    classification_weight(config, num_train), steps_per_epoch)


def loss_fn(model: M2, objective: objectives.Objective, weight: float, params: Params,
            x_u: jax.Array | None, x_l: jax.Array, y_l: jax.Array,
            key: jax.Array) -> jax.Array:
  """The batch's loss (module docstring) for prepared inputs x_u [B, D] (None: all inputs
  labelled), x_l [Bl, D] and labels y_l [Bl]."""
  k = objective.total_samples
  key_u, key_l = jax.random.split(key)
  bounds = jax.vmap(model.labelled_bound, in_axes=(None, 0, 0, 0, None, None))(
      params, x_l, y_l, jax.random.split(key_l, x_l.shape[0]), objective.value, k)
  log_q = jax.nn.log_softmax(jax.vmap(model.class_logits, in_axes=(None, 0))(params, x_l))
  cross_entropy = -jnp.take_along_axis(log_q, y_l[:, None], axis=1)[:, 0]
  loss = -jnp.mean(bounds) + weight * jnp.mean(cross_entropy)
  if x_u is not None:
    unlabelled = jax.vmap(model.unlabelled_bound, in_axes=(None, 0, 0, None, None))(
        params, x_u, jax.random.split(key_u, x_u.shape[0]), objective.value, k)
    loss = loss - jnp.mean(unlabelled)
  return loss


def make_train_step(model: M2, objective: objectives.Objective, weight: float,
                    optimizer: optax.GradientTransformation) -> Callable:
  """train_step(state, (unlabelled or None, labelled, labels), key) -> (state, {'loss'})."""

  def train_step(state: trainstate.TrainState, batch, key: jax.Array):
    raw_u, raw_l, y_l = batch
    key_u, key_l, sample_key = jax.random.split(key, 3)
    x_u = None if raw_u is None else model.likelihood.prepare(key_u, raw_u)
    x_l = model.likelihood.prepare(key_l, raw_l)
    loss, grads = jax.value_and_grad(functools.partial(loss_fn, model, objective, weight))(
        state.params, x_u, x_l, y_l, sample_key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return trainstate.TrainState(optax.apply_updates(state.params, updates), opt_state,
                            state.step + 1), {'loss': loss}

  return train_step


def make_train_epoch(train_step: Callable, num_unlabelled: int, batch_size: int,
                     num_labelled: int, labelled_batch_size: int) -> Callable:
  """M2's jitted, scanned epoch (loop.make_train_epoch).

  train_epoch(state, (unlabelled, labelled, labels), data_key, train_key, epoch): the epoch is
  one pass over the unlabelled inputs in the order of (data_key, epoch) (over the labelled
  ones when there are none); step s's labelled batch is data.cycling_batch(labelled_key, s).
  """
  labelled_batch_size = min(labelled_batch_size, num_labelled)

  def epoch_data(inputs, data_key, epoch):
    unlabelled, labelled, labels = inputs
    order_key, labelled_key = jax.random.split(data_key)
    if num_unlabelled:
      batches = data.epoch_batches(order_key, epoch, num_unlabelled, batch_size)
    else:
      batches = jnp.zeros((num_labelled // labelled_batch_size, 0), jnp.int32)

    def batch(indices, step):
      chosen = data.cycling_batch(labelled_key, step, num_labelled, labelled_batch_size)
      return unlabelled[indices] if num_unlabelled else None, labelled[chosen], labels[chosen]

    return batches, batch

  return loop.make_train_epoch(train_step, epoch_data)


def classifier_inputs(x: np.ndarray) -> np.ndarray:
  """What the classifier sees at test time: grey levels x / 255 (the mean of the
  binarizations it was trained on) for images, the features themselves for M1 + M2."""
  return x / 255.0 if x.dtype == np.uint8 else x


@functools.partial(jax.jit, static_argnums=0)
def _class_probs(model: M2, params: Params, x: jax.Array) -> jax.Array:
  return jax.nn.softmax(jax.vmap(model.class_logits, in_axes=(None, 0))(params, x))


def class_probs(model: M2, params: Params, x: np.ndarray) -> np.ndarray:
  """q(y | x) [N, C] of inputs x [N, D] (uint8 images or float features), in batches."""
  x = classifier_inputs(x)
  return np.concatenate([np.asarray(_class_probs(model, params, jnp.asarray(
      x[i:i + EVAL_BATCH], jnp.float32))) for i in range(0, len(x), EVAL_BATCH)])


@functools.partial(jax.jit, static_argnums=(0, 3))
def _log_likelihood(model: M2, params: Params, x: jax.Array, num_samples: int,
                    keys: jax.Array) -> jax.Array:
  return jax.vmap(model.log_likelihood, in_axes=(None, 0, 0, None))(params, x, keys,
                                                                       num_samples)


def log_likelihood(model: M2, params: Params, x: np.ndarray, key: jax.Array,
                   num_samples: int, batch_size: int = 100) -> np.ndarray:
  """Per-example importance-sampled log p(x) [N] of inputs x [N, D] (uint8 images, prepared
  by the likelihood with one key split off `key`, or features)."""
  prepare_key, sample_key = jax.random.split(key)
  return prepared_log_likelihood(model, params, model.likelihood.prepare(
      prepare_key, jnp.asarray(x)), sample_key, num_samples, batch_size)


def prepared_log_likelihood(model: M2, params: Params, x: ArrayLike, key: jax.Array,
                            num_samples: int, batch_size: int = 100) -> np.ndarray:
  """log_likelihood of inputs x [N, D] as the likelihood prepared them; example i draws
  from fold_in(key, i)."""
  x = np.asarray(x)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(len(x)))
  return np.concatenate([np.asarray(_log_likelihood(
      model, params, jnp.asarray(x[i:i + batch_size]), num_samples, keys[i:i + batch_size]))
                         for i in range(0, len(x), batch_size)])


def classification_metrics(model: M2, params: Params, d: splits_lib.LabelledData) -> dict:
  """Validation and test error of argmax q(y | x), and the test ECE."""
  test_probs = class_probs(model, params, d.test_x)
  return {
      'validation_error': classifiers.error_rate(class_probs(model, params, d.validation_x),
                                                 d.validation_y),
      'test_error': classifiers.error_rate(test_probs, d.test_y),
      'test_ece': classifiers.expected_calibration_error(test_probs, d.test_y),
  }


def _best_so_far(metrics: dict, records: list[dict]) -> dict:
  """The test error at the least validation error of all evaluations (the first on ties)."""
  evaluations = [r for r in records if 'validation_error' in r] + [metrics]
  best = min(evaluations, key=lambda r: r['validation_error'])
  return {'best_validation_error': best['validation_error'],
          'test_error_at_best_validation': best['test_error'], 'best_step': best['step']}


def _evaluate(exp: Experiment, config: ml_collections.ConfigDict, params: Params,
              metrics_log: runs.MetricsLog, step: int) -> dict:
  """Errors and ECE at every evaluation; the final one adds the test log-likelihood."""
  metrics = {'step': step, **classification_metrics(exp.model, params, exp.data)}
  metrics.update(_best_so_far(metrics, metrics_log.records()))
  del metrics['step']
  if exp.image_shape is not None:
    metrics_log.write_pictures(step, pictures.m2_pictures(
        exp.model, params, exp.data.test_x / 255.0, exp.image_shape, exp.keys.diagnostics))
  if step == config.num_epochs * exp.steps_per_epoch:
    log_px = log_likelihood(exp.model, params, exp.data.test_x, exp.keys.eval,
                            config.eval_num_samples, config.eval_batch_size)
    metrics['nll'] = float(-np.mean(log_px))
  return metrics


def write_labelled_indices(workdir: str, s: splits_lib.Splits) -> None:
  """The labelled training images' indices, in the run directory."""
  if sharding.is_writer():
    (pathlib.Path(workdir) / LABELLED_FILE).write_text(
        json.dumps({'labelled': s.labelled.tolist()}) + '\n')


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains M2 (resuming from workdir's newest checkpoint) and evaluates it.

  Returns:
    The final metrics (also in workdir/results.json): validation and test error, the test
    error at the best validation error, the test ECE, the test NLL and the training time.
  """
  exp = build(config)
  d = exp.data
  train_mean = np.concatenate([d.labelled_x, d.unlabelled_x]).mean(axis=0)
  data_mean = train_mean / 255.0 if exp.image_shape is not None else train_mean
  run = runs.RunDir(
      config, workdir, exp.steps_per_epoch,
      lambda: trainstate.init_state(exp.model, exp.optimizer, exp.keys.init, data_mean),
      functools.partial(_evaluate, exp, config),
      info={'num_inputs': exp.model.num_inputs, 'num_classes': exp.model.num_classes,
            'image_shape': exp.image_shape and list(exp.image_shape)})
  write_labelled_indices(workdir, d.splits)
  state = loop.resume([run])[0]
  train_epoch = make_train_epoch(
      make_train_step(exp.model, exp.objective, exp.weight, exp.optimizer),
      len(d.unlabelled_x), config.batch_size, len(d.labelled_x), config.labelled_batch_size)
  return loop.train([run], train_epoch, state,
                    jax.device_put((d.unlabelled_x, d.labelled_x, d.labelled_y)),
                    exp.keys.data, exp.keys.train)[0]
