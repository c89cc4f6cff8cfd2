"""Semi-supervised training of M2 (Kingma et al. 2014), on images or on M1's latents.

Each step takes batch_size unlabelled inputs (an epoch is one pass over them) and
labelled_batch_size labelled ones (cycling through the labelled set, a new order each pass).
With w = alpha * (training images) / num_labels (50 for alpha 0.1 and 100 of MNIST's 50,000)
and CE = -log q(y | x), config.weighting chooses the loss:

  'parts'   -mean_unlabelled U(x) - mean_labelled L(x, y) + w * mean_labelled CE
            (each part's mean: the labelled images weigh as much as the unlabelled batch;
            the SDGM code of Maaloe et al. with all 100 labelled images every step)
  'images'  (sum_unlabelled -U(x) + sum_labelled (-L(x, y) + w * CE)) / (B_u + B_l)
            (every image of the step alike: Kingma et al.'s released code, with 1 labelled
            and 499 unlabelled images a step, so each labelled image's bound counts once an
            epoch and its CE w times)

It trains on the one loop of every trainer (loop.py): jitted, scanned over the epoch with the
state donated, step s drawing from fold_in(train_key, s), the same runs.RunDir (config.json,
metrics.jsonl, TensorBoard, checkpoints) and the same resume; at every evaluation the
parameters of the least validation error so far are kept in BEST_FILE. Architecture 'm2'
models the images (the config's likelihood; q(y | x) sees the binarized images or their grey
levels, config.classifier_input); 'm1m2' models the latents of a trained unsupervised run
(config.m1_workdir) with a Normal likelihood: a fresh z1 ~ q(z1 | x) for every image at every
step, the posterior means for validation and test (the released code's), from the feature map
saved in the run directory (M1_FILE) when the run starts, so that training M1 further does not
change it.
"""

import functools
import json
import pathlib
from typing import Callable, NamedTuple

import flax.serialization
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import ml_collections
import numpy as np
import optax

from vaejax import pictures
from vaejax import runs
from vaejax.bounds import objectives
from vaejax.data import datasets
from vaejax.errors import UserError
from vaejax.models import likelihoods
from vaejax.models import m2
from vaejax.models.m2 import M2
from vaejax.models.vae import Params
from vaejax.semisupervised import classifiers
from vaejax.semisupervised import features
from vaejax.semisupervised import splits as splits_lib
from vaejax.training import loop
from vaejax.training import sharding
from vaejax.training import train
from vaejax.training import trainstate

OBJECTIVES = ('vae', 'iwae', 'miwae', 'ciwae')  # Those with one bound for both networks.
WEIGHTINGS = ('parts', 'images')
CLASSIFIER_INPUTS = ('binarized', 'grey')
LABELLED_FILE = 'labelled_indices.json'
M1_FILE = 'm1_features.msgpack'
BEST_FILE = 'best_params.msgpack'
EVAL_BATCH = 1000
TEST_BINARIZATIONS = 10  # q(y | x) averaged over binarizations, for binarized classifiers
# Fields of the unsupervised config that M2 does not use, at the values that say so.
UNUSED_FIELDS = {'shuffle': True, 'train_examples': 0, 'mlp_hidden': (), 'activation': 'tanh',
                 'gradient_reduction': 'mean', 'snr_num_draws': 0}


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
  for field, value in UNUSED_FIELDS.items():
    if config[field] != value and tuple(np.atleast_1d(config[field])) != tuple(
        np.atleast_1d(value)):
      raise UserError(f'M2 training does not use {field} (its networks: hidden_units softplus '
                      f'units); leave it at {value!r}, got {config[field]!r}')
  choices = {'schedule': train.SCHEDULES, 'optimizer': train.OPTIMIZERS,
             'weighting': WEIGHTINGS, 'classifier_input': CLASSIFIER_INPUTS,
             'm1_scaling': features.SCALINGS, 'm1_layers': features.LAYERS}
  for field, allowed in choices.items():
    if config[field] not in allowed:
      raise UserError(f'unknown {field} {config[field]!r}; choose one of {allowed}')
  if config.likelihood == 'bernoulli_grey' and config.classifier_input == 'binarized':
    raise UserError("likelihood 'bernoulli_grey' never binarizes the images: train q(y | x) "
                    "on them with classifier_input='grey'")
  if config.architecture == 'm1m2' and not config.m1_workdir:
    raise UserError("architecture 'm1m2' needs config.m1_workdir, a trained unsupervised run")
  for field in ('latent_dim', 'hidden_units', 'batch_size', 'labelled_batch_size',
                'num_epochs', 'eval_num_samples', 'eval_chunk_size', 'checkpoint_every_epochs',
                'max_checkpoints'):
    if config[field] < 1:
      raise UserError(f'{field} must be at least 1, got {config[field]}')
  if config.m1_binarizations < 0:
    raise UserError(f'm1_binarizations must be 0 (grey levels) or positive, got '
                    f'{config.m1_binarizations}')
  if config.alpha < 0:
    raise UserError(f'alpha must be non-negative, got {config.alpha}')
  if config.learning_rate <= 0:
    raise UserError(f'learning_rate must be positive, got {config.learning_rate}')


def _write_feature_map(path: pathlib.Path, feature_map: features.FeatureMap, m1_step: int,
                       m1_config: ml_collections.ConfigDict) -> None:
  record = {'m1_config': m1_config.to_json(), 'm1_step': m1_step,
            'image_shape': list(feature_map.model.image_shape),
            'params': feature_map.params, 'key': jax.random.key_data(feature_map.key),
            'layers': feature_map.layers, 'binarizations': feature_map.binarizations,
            'units': feature_map.units, 'shift': feature_map.shift, 'scale': feature_map.scale}
  _write_record(path, record)


def _write_record(path: pathlib.Path, record: dict) -> None:
  """record as msgpack at path, whole or not at all (written aside, then renamed)."""
  if sharding.is_writer():
    partial = path.with_suffix('.tmp')
    partial.write_bytes(flax.serialization.msgpack_serialize(jax.device_get(record)))
    partial.rename(path)


def _read_m1_record(workdir: str) -> dict:
  return flax.serialization.msgpack_restore((pathlib.Path(workdir) / M1_FILE).read_bytes())


def read_m1_origin(workdir: str) -> tuple[ml_collections.ConfigDict, int]:
  """The config of the M1 run whose features an m1m2 run trains on, and the M1 step."""
  record = _read_m1_record(workdir)
  return ml_collections.ConfigDict(json.loads(record['m1_config'])), int(record['m1_step'])


def read_feature_map(workdir: str) -> tuple[features.FeatureMap, int]:
  """The M1 feature map an m1m2 run was started with, and the M1 step it was taken at."""
  record = _read_m1_record(workdir)
  m1_config = ml_collections.ConfigDict(json.loads(record['m1_config']))
  model = trainstate.model_from_config(m1_config, tuple(int(n) for n in record['image_shape']))
  return features.FeatureMap(
      model, record['params'], jax.random.wrap_key_data(jnp.asarray(record['key'])),
      record['layers'], int(record['binarizations']), np.asarray(record['units']),
      np.asarray(record['shift']), np.asarray(record['scale'])), int(record['m1_step'])


def m1_feature_map(config: ml_collections.ConfigDict, workdir: str,
                   dataset: datasets.Dataset, s: splits_lib.Splits) -> features.FeatureMap:
  """The feature map saved in workdir (M1_FILE), or the one of the M1 run config.m1_workdir
  at its newest checkpoint, saved there now."""
  if (pathlib.Path(workdir) / M1_FILE).exists():
    return read_feature_map(workdir)[0]
  m1 = runs.restore(config.m1_workdir)
  if not hasattr(m1.model, 'encode_layers'):
    raise UserError(f'm1_workdir {config.m1_workdir} is not an unsupervised VAE run')
  feature_map = features.make_feature_map(
      m1.model, m1.params, dataset.train_images / 255.0, s.unlabelled,
      trainstate.run_keys(config.seed).analysis, config.m1_layers, config.m1_binarizations,
      config.m1_scaling)
  _write_feature_map(pathlib.Path(workdir) / M1_FILE, feature_map, m1.step, m1.config)
  return feature_map


def latent_inputs(feature_map: features.FeatureMap, images: np.ndarray) -> np.ndarray:
  """M1 + M2's inputs for uint8 images [N, D]: q(z1 | x)'s mean and std, [N, 2, F]."""
  return np.stack(feature_map.moments(images / 255.0), axis=1).astype(np.float32)


def classification_weight(config: ml_collections.ConfigDict, num_train: int) -> float:
  """w = alpha * N_train / N_labelled (alpha with all labels)."""
  return config.alpha * (num_train / config.num_labels if config.num_labels else 1.0)


class Experiment(NamedTuple):
  """What a semi-supervised config builds before training."""
  data: splits_lib.LabelledData
  image_shape: tuple[int, int, int] | None  # None for M1 latents.
  model: M2
  objective: objectives.Objective
  optimizer: optax.GradientTransformation
  keys: trainstate.RunKeys
  weight: float
  steps_per_epoch: int


def build(config: ml_collections.ConfigDict, workdir: str) -> Experiment:
  """Validates config, prepares workdir, loads the data, cuts its splits, builds the model."""
  validate_config(config)
  runs.prepare_workdir(workdir, config)
  dataset = datasets.load(config.dataset, config.data_dir or None)
  s = splits_lib.make_splits(dataset.train_labels, config.num_labels, config.num_validation,
                             config.seed)
  image_shape = dataset.image_shape
  if config.architecture == 'm1m2':
    feature_map = m1_feature_map(config, workdir, dataset, s)
    dataset = dataset._replace(train_images=latent_inputs(feature_map, dataset.train_images),
                               test_images=latent_inputs(feature_map, dataset.test_images))
    image_shape = None
  labelled = splits_lib.split_dataset(dataset, s)
  num_train = len(labelled.labelled_x) + len(labelled.unlabelled_x)
  batched = len(labelled.unlabelled_x) if len(labelled.unlabelled_x) else len(labelled.labelled_x)
  size = config.batch_size if len(labelled.unlabelled_x) else config.labelled_batch_size
  if size > batched:
    raise UserError(f'batch size {size} is larger than the {batched} training examples')
  if len(labelled.labelled_x) and config.labelled_batch_size > len(labelled.labelled_x):
    raise UserError(f'labelled_batch_size {config.labelled_batch_size} is larger than the '
                    f'{len(labelled.labelled_x)} labelled images')
  model = m2.make_model(config, labelled.labelled_x.shape[-1], s.num_classes)
  steps_per_epoch = batched // size
  return Experiment(labelled, image_shape, model, trainstate.objective_from_config(config),
                    trainstate.make_optimizer(config, steps_per_epoch),
                    trainstate.run_keys(config.seed),
                    classification_weight(config, num_train), steps_per_epoch)


def make_prepare(model: M2, config: ml_collections.ConfigDict) -> Callable:
  """prepare(key, raw batch) -> (x for the bounds, x for q(y | x)).

  Images: x binarized (or dequantized) by the likelihood; q(y | x) sees the same x or the grey
  levels (config.classifier_input). M1 latents [B, 2, F]: a fresh draw mean + std * eps, seen
  by all three networks.
  """
  if config.architecture == 'm1m2':
    def prepare(key, raw):
      x = raw[:, 0] + raw[:, 1] * jax.random.normal(key, raw[:, 0].shape, raw.dtype)
      return x, x
  elif config.classifier_input == 'grey':
    def prepare(key, raw):
      return model.likelihood.prepare(key, raw), likelihoods.grey_levels(raw)
  else:
    def prepare(key, raw):
      x = model.likelihood.prepare(key, raw)
      return x, x
  return prepare


def loss_fn(model: M2, objective: objectives.Objective, weight: float, weighting: str,
            params: Params, unlabelled: tuple[jax.Array, jax.Array] | None,
            labelled: tuple[jax.Array, jax.Array], y_l: jax.Array, key: jax.Array) -> jax.Array:
  """The batch's loss (module docstring) for prepared inputs: unlabelled (x_u, x_u for q(y |
  x)), each [B, D] (None: all inputs labelled), labelled ones likewise [Bl, D], labels y_l."""
  k = objective.total_samples
  key_u, key_l = jax.random.split(key)
  x_l, c_l = labelled
  bounds = jax.vmap(model.labelled_bound, in_axes=(None, 0, 0, 0, None, None))(
      params, x_l, y_l, jax.random.split(key_l, x_l.shape[0]), objective.value, k)
  log_q = jax.nn.log_softmax(jax.vmap(model.class_logits, in_axes=(None, 0))(params, c_l))
  cross_entropy = -jnp.take_along_axis(log_q, y_l[:, None], axis=1)[:, 0]
  u_bounds = None
  if unlabelled is not None:
    x_u, c_u = unlabelled
    u_bounds = jax.vmap(model.unlabelled_bound, in_axes=(None, 0, 0, None, None, 0))(
        params, x_u, jax.random.split(key_u, x_u.shape[0]), objective.value, k, c_u)
  if weighting == 'images':
    total = jnp.sum(weight * cross_entropy - bounds)
    count = x_l.shape[0]
    if u_bounds is not None:
      total, count = total - jnp.sum(u_bounds), count + x_u.shape[0]
    return total / count
  loss = -jnp.mean(bounds) + weight * jnp.mean(cross_entropy)
  if u_bounds is not None:
    loss = loss - jnp.mean(u_bounds)
  return loss


def make_train_step(model: M2, objective: objectives.Objective, weight: float,
                    optimizer: optax.GradientTransformation, weighting: str,
                    prepare: Callable) -> Callable:
  """train_step(state, (unlabelled or None, labelled, labels), key) -> (state, {'loss'})."""

  def train_step(state: trainstate.TrainState, batch, key: jax.Array):
    raw_u, raw_l, y_l = batch
    key_u, key_l, sample_key = jax.random.split(key, 3)
    unlabelled = None if raw_u is None else prepare(key_u, raw_u)
    loss, grads = jax.value_and_grad(
        functools.partial(loss_fn, model, objective, weight, weighting))(
            state.params, unlabelled, prepare(key_l, raw_l), y_l, sample_key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return trainstate.TrainState(optax.apply_updates(state.params, updates), opt_state,
                            state.step + 1), {'loss': loss}

  return train_step


def make_train_epoch(train_step: Callable, num_unlabelled: int, batch_size: int,
                     num_labelled: int, labelled_batch_size: int) -> Callable:
  """M2's jitted, scanned epoch (loop.make_train_epoch).

  train_epoch(state, (unlabelled, labelled, labels), data_key, train_key, epoch): the epoch is
  one pass over the unlabelled inputs in the order of (data_key, epoch) (over the labelled
  ones when there are none); step s's labelled batch is row s of datasets.cycling_batches(
  labelled_key, ...), step s of epoch e being e * steps_per_epoch + its place in the epoch.
  """
  labelled_batch_size = min(labelled_batch_size, num_labelled)

  def epoch_data(inputs, data_key, epoch):
    unlabelled, labelled, labels = inputs
    order_key, labelled_key = jax.random.split(data_key)
    if num_unlabelled:
      batches = datasets.epoch_batches(order_key, epoch, num_unlabelled, batch_size)
    else:
      batches = jnp.zeros((num_labelled // labelled_batch_size, 0), jnp.int32)
    steps = batches.shape[0]
    labelled_batches = datasets.cycling_batches(labelled_key, epoch * steps, steps,
                                                num_labelled, labelled_batch_size)

    def batch(x, step):
      del step  # The epoch's batches are drawn above, each as a function of its step.
      indices, chosen = x
      return unlabelled[indices] if num_unlabelled else None, labelled[chosen], labels[chosen]

    return (batches, labelled_batches), batch

  return loop.make_train_epoch(train_step, epoch_data)


def classifier_inputs(x: np.ndarray) -> np.ndarray:
  """What the classifier sees at test time: grey levels x / 255 for uint8 images, the
  posterior means for M1 latents [N, 2, F], other inputs as they are."""
  if x.dtype == np.uint8:
    return likelihoods.grey_levels(x)  # As in training (make_prepare).
  return x[:, 0] if x.ndim == 3 else x


@functools.partial(jax.jit, static_argnums=0)
def _class_probs(model: M2, params: Params, x: jax.Array) -> jax.Array:
  return jax.nn.softmax(jax.vmap(model.class_logits, in_axes=(None, 0))(params, x))


def class_probs(model: M2, params: Params, x: np.ndarray, key: jax.Array | None = None,
                binarizations: int = 0) -> np.ndarray:
  """q(y | x) [N, C] of inputs x [N, D] (uint8 images or float features), in batches: of
  their grey levels, or (binarizations > 0, with a key) the mean over that many binarizations
  of each image, image i's drawn from fold_in(key, i)."""
  if binarizations and x.dtype == np.uint8:
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(len(x)))
    draw = jax.jit(jax.vmap(lambda k, image: datasets.binarizations(k, image / 255.0,
                                                                binarizations)))
    return np.concatenate([np.asarray(jnp.mean(jax.vmap(
        lambda b: _class_probs(model, params, b), in_axes=1)(
            draw(keys[i:i + EVAL_BATCH], jnp.asarray(x[i:i + EVAL_BATCH], jnp.float32))),
        axis=0)) for i in range(0, len(x), EVAL_BATCH)])
  x = classifier_inputs(x)
  return np.concatenate([np.asarray(_class_probs(model, params, jnp.asarray(
      x[i:i + EVAL_BATCH], jnp.float32))) for i in range(0, len(x), EVAL_BATCH)])


@functools.partial(jax.jit, static_argnums=(0, 3, 5))
def _log_likelihood(model: M2, params: Params, x: jax.Array, num_samples: int,
                    keys: jax.Array, chunk_size: int) -> jax.Array:
  return jax.vmap(model.log_likelihood, in_axes=(None, 0, 0, None, None))(
      params, x, keys, num_samples, chunk_size)


def log_likelihood(model: M2, params: Params, x: np.ndarray, key: jax.Array,
                   num_samples: int, batch_size: int = 100,
                   chunk_size: int = 100) -> np.ndarray:
  """Per-example importance-sampled log p(x) [N] of inputs x [N, D] (uint8 images, prepared
  by the likelihood with one key split off `key`, or features): prepared_log_likelihood."""
  prepare_key, sample_key = jax.random.split(key)
  x = model.likelihood.prepare(prepare_key, jnp.asarray(classifier_inputs(x) if x.ndim == 3
                                                        else x))
  return prepared_log_likelihood(model, params, x, sample_key, num_samples, batch_size,
                                 chunk_size)


def prepared_log_likelihood(model: M2, params: Params, x: ArrayLike, key: jax.Array,
                            num_samples: int, batch_size: int = 100,
                            chunk_size: int = 100) -> np.ndarray:
  """log_likelihood of inputs x [N, D] as the likelihood prepared them: example i draws from
  fold_in(key, i), and memory holds chunk_size samples of a batch, whatever num_samples is."""
  x = np.asarray(x)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(len(x)))
  return np.concatenate([np.asarray(_log_likelihood(
      model, params, jnp.asarray(x[i:i + batch_size]), num_samples, keys[i:i + batch_size],
      chunk_size)) for i in range(0, len(x), batch_size)])


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
          'test_error_at_best_validation': best['test_error'],
          'test_ece_at_best_validation': best['test_ece'], 'best_step': best['step']}


def write_best_params(workdir: str, params: Params, step: int) -> None:
  """The parameters of the least validation error so far, and their step."""
  _write_record(pathlib.Path(workdir) / BEST_FILE, {'step': step, 'params': params})


def read_best_params(workdir: str) -> tuple[Params, int] | None:
  """(parameters, step) of the least validation error, or None for runs without them; a run's
  from before params['decoder']['log_scale'] in today's layout (m2.from_old_layout)."""
  path = pathlib.Path(workdir) / BEST_FILE
  if not path.exists():
    return None
  record = flax.serialization.msgpack_restore(path.read_bytes())
  return m2.from_old_layout(record['params']), int(record['step'])


def _evaluate(exp: Experiment, config: ml_collections.ConfigDict, workdir: str,
              params: Params, metrics_log: runs.MetricsLog, step: int) -> dict:
  """Errors and ECE at every evaluation (the parameters kept when the validation error is the
  least so far); the final one adds the test log-likelihood and, for a binarized
  classifier, the test error of q(y | x) averaged over TEST_BINARIZATIONS binarizations."""
  metrics = {'step': step, **classification_metrics(exp.model, params, exp.data)}
  metrics.update(_best_so_far(metrics, metrics_log.records()))
  if metrics['best_step'] == step:
    write_best_params(workdir, params, step)
  del metrics['step']
  if exp.image_shape is not None:
    metrics_log.write_pictures(step, pictures.m2_pictures(
        exp.model, params, exp.data.test_x / 255.0, exp.image_shape, exp.keys.diagnostics))
  if step == config.num_epochs * exp.steps_per_epoch:
    log_px = log_likelihood(exp.model, params, exp.data.test_x, exp.keys.eval,
                            config.eval_num_samples, config.eval_batch_size,
                            config.eval_chunk_size)
    metrics['nll'] = float(-np.mean(log_px))
    if exp.image_shape is not None and config.classifier_input == 'binarized':
      probs = class_probs(exp.model, params, exp.data.test_x, exp.keys.analysis,
                          TEST_BINARIZATIONS)
      metrics['test_error_binarized_mean'] = classifiers.error_rate(probs, exp.data.test_y)
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
    error and ECE at the best validation error, the test ECE, the test NLL and the training
    time.
  """
  exp = build(config, workdir)
  d = exp.data
  train_x = np.concatenate([d.labelled_x, d.unlabelled_x])
  if exp.image_shape is not None:
    data_mean, data_scale = train_x.mean(axis=0) / 255.0, None
  else:
    data_mean, data_scale = train_x[:, 0].mean(axis=0), train_x[:, 0].std(axis=0)
  run = runs.RunDir(
      config, workdir, exp.steps_per_epoch,
      lambda: trainstate.init_state(exp.model, exp.optimizer, exp.keys.init, data_mean,
                                    data_scale),
      functools.partial(_evaluate, exp, config, workdir),
      info={'num_inputs': exp.model.num_inputs, 'num_classes': exp.model.num_classes,
            'image_shape': exp.image_shape and list(exp.image_shape)})
  write_labelled_indices(workdir, d.splits)
  state = loop.resume([run])[0]
  train_epoch = make_train_epoch(
      make_train_step(exp.model, exp.objective, exp.weight, exp.optimizer, config.weighting,
                      make_prepare(exp.model, config)),
      len(d.unlabelled_x), config.batch_size, len(d.labelled_x), config.labelled_batch_size)
  return loop.train([run], train_epoch, state,
                    jax.device_put((d.unlabelled_x, d.labelled_x, d.labelled_y)),
                    exp.keys.data, exp.keys.train)[0]
