"""Steady-state training speed of M2 (vaejax/training/train_m2.py) against a plain JAX M2 step.

  python scripts/benchmark_m2.py --hidden_units=500 --weighting=parts --seconds=10
  python scripts/benchmark_m2.py --hidden_units=500 --weighting=images --batch_size=499 \
      --labelled_batch_size=1

Times the real M2 training code (train_m2.make_train_epoch: the scanned, jitted epoch
experiments/semi_supervised.py runs; the ELBO, or with --num_samples=K the IWAE bound;
Bernoulli on binarized MNIST-shaped random images, 10 classes, 50 latents) and, in the same
process, the same step written plainly (the K = 1 ELBO): batched jnp arrays [B, C, ...]
instead of per-example functions under vmap, no flax, the same lax.scan over steps and optax
Adam. The two take turns, a compiled call each, and each one's speed is from its median call.
Prints one JSON line: unlabelled images per second of each and their ratio (vaejax / plain).
"""

import functools
import json
import pathlib
import sys

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / 'experiments'))
import cli  # pylint: disable=g-import-not-at-top  (experiments/ is not installed)
import timing  # pylint: disable=g-import-not-at-top  (scripts/timing.py)
from vaejax.bounds import objectives
from vaejax.configs import semi_supervised
from vaejax.data import datasets
from vaejax.models.m2 import M2
from vaejax.training import train_m2
from vaejax.training import trainstate

_HIDDEN = flags.DEFINE_integer('hidden_units', 300, 'Hidden units of each network.')
_WEIGHTING = flags.DEFINE_enum('weighting', 'parts', train_m2.WEIGHTINGS, 'The loss.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 100, 'Unlabelled images per step.')
_LABELLED = flags.DEFINE_integer('labelled_batch_size', 100, 'Labelled images per step.')
_STEPS = flags.DEFINE_integer('steps_per_call', 100, 'Steps in one compiled call.')
_SECONDS = flags.DEFINE_float('seconds', 10.0, 'Seconds to time each variant for (by turns).')
_NUM_SAMPLES = flags.DEFINE_integer(
    'num_samples', 1, "K of vaejax's step (the IWAE bound when > 1); the plain step stays the "
    'K = 1 ELBO, so that the ratio at K over the ratio at 1 is the cost of K samples.')
CLASSES, LATENT, PIXELS, LABELS, WEIGHT = 10, 50, 784, 100, 50.0


def _plain_init(key: jax.Array, hidden: int) -> dict:
  glorot = jax.nn.initializers.glorot_uniform()
  shapes = {'c1': (PIXELS, hidden), 'c2': (hidden, CLASSES),
            'e1': (PIXELS + CLASSES, hidden), 'e2': (hidden, 2 * LATENT),
            'd1': (LATENT + CLASSES, hidden), 'd2': (hidden, PIXELS)}
  keys = jax.random.split(key, len(shapes))
  params = {name: glorot(k, shape) for k, (name, shape) in zip(keys, shapes.items())}
  params.update({f'{name}_b': jnp.zeros(shape[1]) for name, shape in shapes.items()})
  return params


def _plain_bounds(p: dict, x: jax.Array, eps: jax.Array, classes: jax.Array) -> jax.Array:
  """ELBO [B, C'] of images x [B, D] for each class of classes [B, C'] (one draw eps [B, Z]
  shared by the classes, as vaejax's)."""
  h = jax.nn.softplus((x @ p['e1'][:PIXELS])[:, None] + p['e1'][PIXELS + classes] + p['e1_b'])
  mean, log_std = jnp.split(h @ p['e2'] + p['e2_b'], 2, axis=-1)
  z = mean + jnp.exp(log_std) * eps[:, None]
  h = jax.nn.softplus(z @ p['d1'][:LATENT] + p['d1'][LATENT + classes] + p['d1_b'])
  logits = h @ p['d2'] + p['d2_b']
  log_px = jnp.sum(x[:, None] * logits - jax.nn.softplus(logits), axis=-1)
  log_pz = -0.5 * jnp.sum(z**2, axis=-1)
  log_qz = -0.5 * jnp.sum(eps**2, axis=-1)[:, None] - jnp.sum(log_std, axis=-1)
  return log_px - jnp.log(CLASSES) + log_pz - log_qz  # The 2 pi terms cancel.


def _plain_loss(p, x_u, x_l, y_l, key, weighting):
  eps_u, eps_l = jax.random.normal(key, (2, max(x_u.shape[0], x_l.shape[0]), LATENT))
  log_q = lambda x: jax.nn.log_softmax(jax.nn.softplus(x @ p['c1'] + p['c1_b']) @ p['c2']
                                       + p['c2_b'])
  classes = jnp.broadcast_to(jnp.arange(CLASSES), (x_u.shape[0], CLASSES))
  log_q_u = log_q(x_u)
  u = jnp.sum(jnp.exp(log_q_u) * (_plain_bounds(p, x_u, eps_u[:x_u.shape[0]], classes)
                                  - log_q_u), axis=-1)
  labelled = _plain_bounds(p, x_l, eps_l[:x_l.shape[0]], y_l[:, None])[:, 0]
  ce = -jnp.take_along_axis(log_q(x_l), y_l[:, None], axis=1)[:, 0]
  if weighting == 'images':
    return (jnp.sum(WEIGHT * ce - labelled) - jnp.sum(u)) / (x_u.shape[0] + x_l.shape[0])
  return -jnp.mean(u) - jnp.mean(labelled) + WEIGHT * jnp.mean(ce)


def _plain_epoch(optimizer, batch_size, labelled_batch_size, weighting):
  @functools.partial(jax.jit, donate_argnums=0)
  def epoch(state, unlabelled, labelled, labels, key):
    steps = unlabelled.shape[0] // batch_size

    def body(state, s):
      params, opt_state, step = state
      step_key = jax.random.fold_in(key, step)
      bin_u, bin_l, sample_key = jax.random.split(step_key, 3)
      x_u = datasets.binarize(bin_u, jax.lax.dynamic_slice_in_dim(unlabelled, s * batch_size,
                                                              batch_size))
      chosen = (step * labelled_batch_size + jnp.arange(labelled_batch_size)) % LABELS
      x_l = datasets.binarize(bin_l, labelled[chosen])
      loss, grads = jax.value_and_grad(_plain_loss)(params, x_u, x_l, labels[chosen],
                                                    sample_key, weighting)
      updates, opt_state = optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state, step + 1), loss

    return jax.lax.scan(body, state, jnp.arange(steps))

  return epoch


def main(argv):
  del argv
  hidden, weighting = _HIDDEN.value, _WEIGHTING.value
  batch_size, labelled_batch_size, steps = _BATCH_SIZE.value, _LABELLED.value, _STEPS.value
  key = jax.random.key(0)
  images = np.asarray(jax.random.bernoulli(key, 0.13, (steps * batch_size, PIXELS)),
                      np.uint8) * 255
  labelled = images[:LABELS]
  labels = np.arange(LABELS, dtype=np.int32) % CLASSES
  optimizer = optax.adam(3e-4)
  config = semi_supervised.get_config()
  model = M2(CLASSES, LATENT, (hidden,), PIXELS)
  num_samples = _NUM_SAMPLES.value
  objective = objectives.make_objective('iwae' if num_samples > 1 else 'vae', num_samples)
  vaejax_epoch = train_m2.make_train_epoch(
      train_m2.make_train_step(model, objective, WEIGHT, optimizer, weighting,
                                     train_m2.make_prepare(model, config)),
      len(images), batch_size, LABELS, labelled_batch_size)
  plain_epoch = _plain_epoch(optimizer, batch_size, labelled_batch_size, weighting)
  keys = trainstate.run_keys(0)
  args = jax.device_put((images, labelled, labels))
  holder = {'vaejax': trainstate.init_state(model, optimizer, keys.init, images.mean(0) / 255.0),
            'plain': None, 'epoch': 0}
  params = _plain_init(keys.init, hidden)
  holder['plain'] = (params, optimizer.init(params), jnp.zeros((), jnp.int32))

  def run_vaejax():
    holder['vaejax'], metrics = vaejax_epoch(holder['vaejax'], args, keys.data, keys.train,
                                             holder['epoch'])
    holder['epoch'] += 1
    metrics['loss'].block_until_ready()

  def run_plain():
    holder['plain'], losses = plain_epoch(holder['plain'], *args, keys.train)
    losses.block_until_ready()

  examples = steps * batch_size
  speeds = timing.interleaved_examples_per_second(
      {'vaejax': run_vaejax, 'plain': run_plain}, examples, 2 * _SECONDS.value)
  result = {'device': jax.devices()[0].device_kind, 'hidden_units': hidden,
            'weighting': weighting, 'num_samples': num_samples, 'batch_size': batch_size,
            'labelled_batch_size': labelled_batch_size,
            'examples_per_s': speeds['vaejax'], 'plain_examples_per_s': speeds['plain']}
  result['ratio'] = result['examples_per_s'] / result['plain_examples_per_s']
  print(json.dumps(result))


if __name__ == '__main__':
  cli.run(main)
