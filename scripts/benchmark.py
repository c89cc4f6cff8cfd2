"""Steady-state training speed of the paper's one-layer model on random binary data.

  python scripts/benchmark.py --batch_size=20 --num_samples=50 --seconds=10 --baseline

Times the real training code (the scanned, jitted epoch experiments/train.py runs) and prints
one JSON line with examples_per_s and the achieved GFLOP/s. With --baseline it also times, in
the same process, the same train_step jitted alone and called once per batch from a Python
loop (as the Flax VAE example trains), and prints the ratio of the two.
"""

import json
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vaejax import train
from vaejax.configs import default
from vaejax.models import make_model

_BATCH_SIZE = flags.DEFINE_integer('batch_size', 20, 'Examples per step.')
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 1, 'K, samples per example.')
_LATENT_DIM = flags.DEFINE_integer('latent_dim', 50, 'Latent units.')
_OBJECTIVE = flags.DEFINE_string('objective', 'iwae', 'Training objective.')
_ESTIMATOR = flags.DEFINE_string('gradient_estimator', 'reparam', 'Encoder gradient estimator.')
_SECONDS = flags.DEFINE_float('seconds', 10.0, 'Seconds to time each variant for.')
_STEPS_PER_CALL = flags.DEFINE_integer('steps_per_call', 500, 'Steps in one compiled call.')
_BASELINE = flags.DEFINE_bool('baseline', False, 'Also time a per-batch Python loop.')
_NUM_MODELS = flags.DEFINE_integer(
    'num_models', 1, 'Train this many models (seeds) as one vmapped program; examples/s '
    'counts every model\'s examples. With --baseline, compared with one model at a time.')


def flops_per_example(model, num_samples: int) -> float:
  """Matrix-multiply FLOPs of one training example: forward and backward, 3 x 2 x MACs."""
  params = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(784))
  macs = lambda net: sum(np.prod(p.shape) for p in jax.tree.leaves(net) if len(p.shape) == 2)
  return 6.0 * (macs(params['encoder']) + num_samples * macs(params['decoder']))


def _time(run_once, examples_per_call: int, seconds: float) -> float:
  """Examples/s of run_once() (which must block), after one warm-up call."""
  run_once()
  calls, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    run_once()
    calls += 1
  return calls * examples_per_call / (time.perf_counter() - start)


def make_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.update(batch_size=_BATCH_SIZE.value, num_samples=_NUM_SAMPLES.value,
                latent_dim=_LATENT_DIM.value, objective=_OBJECTIVE.value,
                gradient_estimator=_ESTIMATOR.value)
  train.validate_config(config)
  return config


def main(argv):
  del argv
  config = make_config()
  batch_size, steps = config.batch_size, _STEPS_PER_CALL.value
  model = make_model(config.architecture, config.latent_dim)
  objective = train.objective_from_config(config)
  optimizer = train.make_optimizer(config, steps)
  keys = train.run_keys(config.seed)
  images_np = np.asarray(
      jax.random.bernoulli(keys.data, 0.13, (steps * batch_size, 784)), np.uint8) * 255
  images = jnp.asarray(images_np)
  init = lambda key: train.init_state(model, optimizer, key, images_np.mean(0) / 255.0)
  train_step = train.make_train_step(model, objective, optimizer)

  num_models = _NUM_MODELS.value
  if num_models == 1:
    train_epoch = train.make_train_epoch(train_step, images.shape[0], batch_size)
    state, epoch_args = init(keys.init), (keys.data, keys.train)
  else:
    train_epoch = train.make_multi_model_train_epoch(train_step, images.shape[0], batch_size)
    model_keys = [train.run_keys(seed) for seed in range(num_models)]
    state = jax.vmap(init)(jnp.stack([k.init for k in model_keys]))
    epoch_args = (jnp.stack([k.data for k in model_keys]),
                  jnp.stack([k.train for k in model_keys]))
  holder = {'state': state, 'epoch': 0}

  def scanned_call():
    holder['state'], metrics = train_epoch(holder['state'], images, *epoch_args,
                                           holder['epoch'])
    holder['epoch'] += 1
    metrics['loss'].block_until_ready()

  result = {
      'device': jax.devices()[0].device_kind, 'batch_size': batch_size,
      'num_samples': config.num_samples, 'latent_dim': config.latent_dim,
      'objective': config.objective, 'gradient_estimator': config.gradient_estimator,
      'num_models': num_models,
      'examples_per_s': _time(scanned_call, num_models * steps * batch_size, _SECONDS.value),
  }
  result['gflop_per_s'] = result['examples_per_s'] * flops_per_example(
      model, objective.total_samples) / 1e9

  if _BASELINE.value and num_models == 1:
    jitted_step = jax.jit(train_step, donate_argnums=0)
    loop = {'state': init(keys.init)}

    def python_loop():
      state = loop['state']
      for i in range(steps):
        batch = images_np[i * batch_size:(i + 1) * batch_size]
        state, metrics = jitted_step(state, batch, jax.random.fold_in(keys.train, state.step))
      metrics['loss'].block_until_ready()
      loop['state'] = state

    result['baseline'] = 'one jitted step per batch from a Python loop'
    result['baseline_examples_per_s'] = _time(python_loop, steps * batch_size, _SECONDS.value)
  elif _BASELINE.value:
    one = {'state': init(keys.init)}
    single_epoch = train.make_train_epoch(train_step, images.shape[0], batch_size)

    def one_model():
      one['state'], metrics = single_epoch(one['state'], images, keys.data, keys.train, 0)
      metrics['loss'].block_until_ready()

    result['baseline'] = 'the models one after another'
    result['baseline_examples_per_s'] = _time(one_model, steps * batch_size, _SECONDS.value)
  if _BASELINE.value:
    result['speedup'] = result['examples_per_s'] / result['baseline_examples_per_s']
  print(json.dumps(result))


if __name__ == '__main__':
  app.run(main)
