"""Steady-state training speed of the paper's one-layer model on random binary data.

  python scripts/benchmark.py --batch_size=20 --num_samples=50 --seconds=10 --baseline
  python scripts/benchmark.py --num_models=4 --baseline         # 4 seeds as one program
  python scripts/benchmark.py --latent_dims=2,5,10,20,50 --baseline   # a padded size sweep
  python scripts/benchmark.py --devices=8 --batch_size=200 --baseline  # data parallel
  python scripts/benchmark.py --batch_size=20 --num_samples=1 --breakdown  # what a step costs
  python scripts/benchmark.py --architecture=sbn_linear --latent_dim=200 --batch_size=24 \
      --num_samples=5 --gradient_estimator=vimco --baseline   # against a plain JAX VIMCO step

Times the real training code (the scanned, jitted epochs experiments/train.py and
experiments/sweep_latent.py run) and prints one JSON line with examples_per_s (every model's
examples counted) and the achieved GFLOP/s. With --baseline it also times, in the same process,
what the measured variant replaces: for one model, the same train_step jitted alone and called
once per batch from a Python loop (as the Flax VAE example trains); for several models, each
trained alone, one after another; for several devices, one device; for VIMCO and RWS (wake or
sleep), the same scanned epoch with a plain JAX step of the estimator written here
(jax.grad of its surrogate loss, PLAIN_STEPS). It prints the ratio.
With --breakdown it also times the same scanned epoch with parts of the step replaced (plain
SGD for Adam, a fixed threshold for the binarization draw), to show what each part costs.
"""

import dataclasses
import json
import pathlib
import sys
import time

from absl import flags
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / 'experiments'))
import cli  # pylint: disable=g-import-not-at-top  (experiments/ is not installed)
import timing  # pylint: disable=g-import-not-at-top  (scripts/timing.py)
from vaejax.configs import default
from vaejax.errors import UserError
from vaejax.models import likelihoods
from vaejax.models.vae import make_model
from vaejax.training import sharding
from vaejax.training import sweep
from vaejax.training import train
from vaejax.training import trainstate

_BATCH_SIZE = flags.DEFINE_integer('batch_size', 20, 'Examples per step.')
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 1, 'K, samples per example.')
_LATENT_DIM = flags.DEFINE_integer('latent_dim', 50, 'Latent units.')
_ARCHITECTURE = flags.DEFINE_string('architecture', 'one_layer', 'Model architecture.')
_OBJECTIVE = flags.DEFINE_string('objective', 'iwae', 'Training objective.')
_ESTIMATOR = flags.DEFINE_string('gradient_estimator', 'reparam', 'Encoder gradient estimator.')
_SECONDS = flags.DEFINE_float('seconds', 10.0, 'Seconds to time each variant for.')
_STEPS_PER_CALL = flags.DEFINE_integer('steps_per_call', 500, 'Steps in one compiled call.')
_BASELINE = flags.DEFINE_bool('baseline', False, 'Also time a per-batch Python loop.')
_NUM_MODELS = flags.DEFINE_integer(
    'num_models', 1, 'Train this many models (seeds) as one vmapped program; examples/s '
    'counts every model\'s examples. With --baseline, compared with one model at a time.')
_LATENT_DIMS = flags.DEFINE_list(
    'latent_dims', [], 'Train one model per latent size as one vmapped program, padded to the '
    'largest (the latent-size sweep). With --baseline, compared with each size alone in turn.')
_DEVICES = flags.DEFINE_integer(
    'devices', 1, 'Split each batch across this many devices (on CPU, simulated ones); with '
    '--num_models, spread the models across them instead. With --baseline, compared with one '
    'device.')
_BREAKDOWN = flags.DEFINE_bool(
    'breakdown', False, 'Also time the one-model epoch with plain SGD instead of Adam and with '
    'the binarization draw replaced by a fixed threshold, and with both.')


@dataclasses.dataclass(frozen=True)
class ThresholdedBernoulli(likelihoods.Bernoulli):
  """The Bernoulli likelihood with pixels binarized at 0.5 instead of drawn: no RNG."""

  def prepare(self, key: jax.Array, images: jax.Array) -> jax.Array:
    del key
    return (images > 127).astype(jnp.float32)


def flops_per_example(model, num_samples: int) -> float:
  """Matrix-multiply FLOPs of one training example: forward and backward, 3 x 2 x MACs."""
  params = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(784))
  macs = lambda net: sum(np.prod(p.shape) for p in jax.tree.leaves(net) if len(p.shape) == 2)
  return 6.0 * (macs(params['encoder']) + num_samples * macs(params['decoder']))


def make_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.update(batch_size=_BATCH_SIZE.value, num_samples=_NUM_SAMPLES.value,
                latent_dim=_LATENT_DIM.value, objective=_OBJECTIVE.value,
                gradient_estimator=_ESTIMATOR.value, architecture=_ARCHITECTURE.value)
  train.validate_config(config)
  return config


def _timed_epoch(train_epoch, state, *args, examples: int):
  """A run_once for _time: one call of train_epoch, its state carried to the next call."""
  holder = {'state': state, 'epoch': 0}

  def run_once():
    holder['state'], metrics = train_epoch(holder['state'], *args, holder['epoch'])
    holder['epoch'] += 1
    metrics['loss'].block_until_ready()

  return run_once, examples


def main(argv):
  del argv
  jax.config.update('jax_num_cpu_devices', _DEVICES.value)  # Before any device is used.
  config = make_config()
  batch_size, steps = config.batch_size, _STEPS_PER_CALL.value
  model = make_model(config.architecture, config.latent_dim)
  objective = trainstate.objective_from_config(config)
  optimizer = trainstate.make_optimizer(config, steps)
  keys = trainstate.run_keys(config.seed)
  images_np = np.asarray(
      jax.random.bernoulli(keys.data, 0.13, (steps * batch_size, 784)), np.uint8) * 255
  images = jnp.asarray(images_np)
  pixel_mean = images_np.mean(0) / 255.0
  init = lambda m, key, opt=optimizer: trainstate.init_state(m, opt, key, pixel_mean,
                                                           objective=objective)
  examples = steps * batch_size

  def one_model(m, mesh=None, opt=optimizer, step=None):
    """One model's scanned epoch of train.make_train_step (or of `step`), split over mesh's
    devices if any, timed."""
    epoch = train.make_train_epoch(step or train.make_train_step(m, objective, opt),
                                   images.shape[0], batch_size, mesh)
    state, data = init(m, keys.init, opt), images
    if mesh is not None:
      state, data = sharding.replicate(state, mesh), sharding.replicate(images_np, mesh)
    return _timed_epoch(epoch, state, data, keys.data, keys.train, examples=examples)

  def many_models(models, mesh):
    """Several models (one per entry of models) as one vmapped, padded program, timed."""
    padded = sweep.with_top_latent(models[0], max(m.latent_dim for m in models))
    shapes = jax.eval_shape(lambda: init(padded, keys.init))
    run_keys = [trainstate.run_keys(seed) for seed in range(len(models))]
    stack = lambda trees: jax.tree.map(lambda *xs: np.stack(xs), *trees)
    states = stack([sweep.resize_latent(init(m, k.init), m.latent_dim, padded.latent_dim, shapes)
                    for m, k in zip(models, run_keys)])
    masks = stack([sweep.latent_mask(m, padded, 784) for m in models])
    args = (states, masks, jnp.stack([k.data for k in run_keys]),
            jnp.stack([k.train for k in run_keys]))
    data = images
    if mesh is not None:
      args, data = sharding.split_models(args, mesh), sharding.replicate(images_np, mesh)
    epoch = sweep.make_sweep_train_epoch(train.make_train_step(padded, objective, optimizer),
                                         images.shape[0], batch_size)
    return _timed_epoch(epoch, args[0], (args[1], data), *args[2:],
                        examples=len(models) * examples)

  latent_dims = [int(d) for d in _LATENT_DIMS.value]
  num_models, devices = _NUM_MODELS.value, _DEVICES.value
  if _BREAKDOWN.value and (latent_dims or num_models > 1 or devices > 1):
    raise UserError('--breakdown times one model on one device; drop --num_models, '
                    '--latent_dims and --devices')
  if config.gradient_estimator in PLAIN_STEPS and (latent_dims or num_models > 1 or devices > 1):
    raise UserError(f'{config.gradient_estimator} is timed for one model on one device; drop '
                    '--num_models, --latent_dims and --devices')
  result = {'device': jax.devices()[0].device_kind, 'architecture': config.architecture,
            'batch_size': batch_size,
            'num_samples': config.num_samples, 'latent_dim': config.latent_dim,
            'objective': config.objective, 'gradient_estimator': config.gradient_estimator,
            'num_models': len(latent_dims) or num_models, 'latent_dims': latent_dims,
            'devices': devices}
  if latent_dims or num_models > 1:
    models = ([make_model(config.architecture, d) for d in latent_dims] if latent_dims
              else [model] * num_models)
    measured = many_models(models, sharding.model_mesh(len(models)) if devices > 1 else None)
    baseline = ('each model alone, one after another', [one_model(m) for m in models])
  else:
    measured = one_model(model, sharding.data_mesh(devices, batch_size))
    baseline = ('one jitted step per batch from a Python loop', [python_loop(
        jax.jit(train.make_train_step(model, objective, optimizer), donate_argnums=0),
        init(model, keys.init), images_np, keys.train, batch_size, steps)])
    if devices > 1:
      baseline = ('the same on one device', [one_model(model)])
    if config.gradient_estimator in PLAIN_STEPS:
      plain = PLAIN_STEPS[config.gradient_estimator](model, objective.num_samples, optimizer)
      baseline = (f'a plain scanned JAX {config.gradient_estimator} step (jax.grad of its '
                  'surrogate loss)', [one_model(model, step=plain)])
  result['examples_per_s'] = timing.examples_per_second(*measured, _SECONDS.value)
  if not latent_dims and model.reparameterizable:
    result['gflop_per_s'] = result['examples_per_s'] * flops_per_example(
        model, objective.total_samples) / 1e9
  if _BREAKDOWN.value:
    sgd = optax.sgd(config.learning_rate)
    thresholded = dataclasses.replace(model, likelihood=ThresholdedBernoulli())
    variants = {'sgd_instead_of_adam': one_model(model, opt=sgd),
                'no_binarization_draw': one_model(thresholded),
                'sgd_and_no_binarization_draw': one_model(thresholded, opt=sgd)}
    result['breakdown_examples_per_s'] = {
        name: timing.examples_per_second(*run, _SECONDS.value)
        for name, run in variants.items()}
  if _BASELINE.value:
    name, runs = baseline
    seconds = sum(n / timing.examples_per_second(run_once, n, _SECONDS.value / len(runs))
                  for run_once, n in runs)
    result['baseline'] = name
    result['baseline_examples_per_s'] = sum(n for _, n in runs) / seconds
    result['speedup'] = result['examples_per_s'] / result['baseline_examples_per_s']
  print(json.dumps(result))


def _plain_step(surrogate):
  """A train step of jax.grad(surrogate), surrogate(model, params, x, key, k) a per-example
  loss: the plain way to write an estimator, the baseline of PLAIN_STEPS."""
  def make(model, k, optimizer):
    def loss(params, x, key):
      keys = jax.random.split(key, x.shape[0])
      return jnp.mean(jax.vmap(lambda x, key: surrogate(model, params, x, key, k))(x, keys))

    def step(state, batch, key):
      prepare_key, sample_key = jax.random.split(key)
      x = model.likelihood.prepare(prepare_key, batch)
      value, grads = jax.value_and_grad(loss)(state.params, x, sample_key)
      updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
      return trainstate.TrainState(optax.apply_updates(state.params, updates), opt_state,
                              state.step + 1), {'loss': value}
    return step
  return make


def _log_p_and_q(model, params, x, key, k):
  terms = jax.vmap(lambda kk: model.log_weight_terms(params, x, kk))(jax.random.split(key, k))
  return terms['log_px_given_z'] + terms['log_pz'], terms['log_qz']


def _vimco_surrogate(model, params, x, key, k):
  """-(IWAE_K + sum_k stop(IWAE_K - L_{-k}) log q_k), L_{-k} with log w_k replaced by the
  others' mean: tfp's csiszar_vimco, written out."""
  log_p, log_q = _log_p_and_q(model, params, x, key, k)
  logw = log_p - log_q
  bound = jax.nn.logsumexp(logw) - np.log(k)
  others = (jnp.sum(logw) - logw) / (k - 1)
  swapped = jnp.where(jnp.eye(k, dtype=bool), others[:, None], logw[None, :])
  loo = jax.nn.logsumexp(swapped, axis=1) - np.log(k)
  return -(bound + jnp.sum(jax.lax.stop_gradient(bound - loo) * log_q))


def _rws_wake_surrogate(model, params, x, key, k):
  """-(IWAE_K with log q held fixed, for the model) - sum_k stop(w~_k) log q_k."""
  log_p, log_q = _log_p_and_q(model, params, x, key, k)
  logw = log_p - jax.lax.stop_gradient(log_q)
  w = jax.lax.stop_gradient(jax.nn.softmax(logw))
  return -(jax.nn.logsumexp(logw) - np.log(k)) - jnp.sum(w * log_q)


def _rws_sleep_surrogate(model, params, x, key, k):
  """The model on IWAE_K, the inference network on -log q at K draws of the model."""
  wake_key, sleep_key = jax.random.split(key)
  log_p, log_q = _log_p_and_q(model, params, x, wake_key, k)
  bound = jax.nn.logsumexp(log_p - jax.lax.stop_gradient(log_q)) - np.log(k)
  zs, xs = jax.vmap(model.sample_joint, in_axes=(None, 0))(jax.lax.stop_gradient(params),
                                                          jax.random.split(sleep_key, k))
  sleep = jax.vmap(model.log_q, in_axes=(None, 0, 0))(params, xs, zs)
  return -bound - jnp.mean(sleep)


PLAIN_STEPS = {'vimco': _plain_step(_vimco_surrogate),
               'rws_wake': _plain_step(_rws_wake_surrogate),
               'rws_sleep': _plain_step(_rws_sleep_surrogate)}


def python_loop(jitted_step, state, images_np, train_key, batch_size: int, steps: int):
  """The baseline: one jitted step per batch, fed from a Python loop (as the Flax VAE example)."""
  holder = {'state': state}

  def run_once():
    state = holder['state']
    for i in range(steps):
      batch = images_np[i * batch_size:(i + 1) * batch_size]
      state, metrics = jitted_step(state, batch, jax.random.fold_in(train_key, state.step))
    metrics['loss'].block_until_ready()
    holder['state'] = state

  return run_once, steps * batch_size


if __name__ == '__main__':
  cli.run(main)
