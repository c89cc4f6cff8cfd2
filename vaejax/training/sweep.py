"""Sweeps: many runs of one config (seeds, latent sizes) trained together as one program.

The members' train states are stacked on a leading model axis and one jitted, scanned epoch
trains them all (a vmap of the ordinary train step); with several local devices the models are
spread across them. Latent sizes differ in shape, so every member is padded to the largest:
the padded units have zero weights that are never updated, which makes q equal the prior on
them (no KL) and the decoder blind to them, so each member computes exactly its own model, up
to float rounding. Each member keeps an ordinary run directory (its own size, its own seed),
loadable with vaejax.load and resumable, whether it was trained in a sweep or alone.
"""

import dataclasses
import operator
from typing import Any, Callable, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vaejax import runs
from vaejax.data import datasets
from vaejax.errors import UserError
from vaejax.models import discrete
from vaejax.models.vae import VAE
from vaejax.training import loop
from vaejax.training import sharding
from vaejax.training import train
from vaejax.training import trainstate

STRATEGIES = ('auto', 'vmap', 'sequential')
# What may differ between the members of one vmapped sweep.
MEMBER_FIELDS = ('seed', 'latent_dim')


def _fit(x: np.ndarray, axis: int, size: int) -> np.ndarray:
  """x cut or zero-padded to `size` along axis."""
  if x.shape[axis] >= size:
    return np.take(x, np.arange(size), axis)
  widths = [(0, 0)] * x.ndim
  widths[axis] = (0, size - x.shape[axis])
  return np.pad(x, widths)


def resize_latent(tree: Any, latent_from: int, latent_to: int, shapes_to: Any) -> Any:
  """Moves a params-shaped tree between top-latent sizes, keeping the shared units.

  An axis of size latent_from (a net fed z) is cut or zero-padded to latent_to; an axis of
  2 * latent_from (the encoder's [mean, log_std] output) is, half by half.

  Args:
    tree: arrays shaped for the top latent size latent_from.
    latent_from: its top latent size.
    latent_to: the top latent size to move to.
    shapes_to: a tree of the same structure with the target shapes (e.g. jax.eval_shape).
  """

  def move(x, shape_to):
    x = np.asarray(x)
    for axis, (size, size_to) in enumerate(zip(x.shape, shape_to.shape)):
      if size == size_to:
        continue
      halves = 2 if size == 2 * latent_from else 1
      x = np.concatenate([_fit(half, axis, latent_to)
                          for half in np.split(x, halves, axis)], axis)
    return x

  return jax.tree.map(move, tree, shapes_to)


def with_top_latent(model: VAE, latent_dim: int) -> VAE:
  """The same architecture with a top latent of latent_dim units."""
  return dataclasses.replace(model, latent_dims=model.latent_dims[:-1] + (latent_dim,))


def latent_mask(model: VAE, padded: VAE, num_pixels: int) -> Any:
  """A params-shaped tree of bools for `padded`: True on the weights `model` has."""
  shapes = lambda m: jax.eval_shape(m.init, jax.random.key(0), jnp.zeros(num_pixels))
  ones = jax.tree.map(lambda s: np.ones(s.shape, bool), shapes(model))
  return resize_latent(ones, model.latent_dim, padded.latent_dim, shapes(padded))


def make_sweep_train_epoch(train_step: Callable, num_examples: int, batch_size: int,
                           shuffle: bool = True) -> Callable:
  """train.make_train_epoch for N models at once, as one program: loop.make_train_epoch over
  a vmap of the step, with a leading model axis.

  train_epoch(states, (masks, images), data_keys, train_keys, epoch) -> (states, {'loss':
  [steps, N]}): states, masks (True where a parameter is trained), data_keys and train_keys
  each with a leading axis of N; images shared [num_examples, pixels] or per model. Model n
  follows exactly the path it would alone (its own data order and per-step keys), up to float
  rounding. Placed on a sharding.model_mesh, each device trains its share of the models.
  """

  def masked_step(state, mask, batch, key):
    new, metrics = train_step(state, batch, key)
    params = jax.tree.map(jnp.where, mask, new.params, state.params)
    return new._replace(params=params), metrics

  multi_step = jax.vmap(masked_step)

  def epoch_data(members_data, data_keys, epoch):
    masks, images = members_data
    batches_NxSxB = jax.vmap(datasets.epoch_batches, in_axes=(0, None, None, None, None))(
        data_keys, epoch, num_examples, batch_size, shuffle)

    def batch(indices_NxB, steps):
      del steps
      if images.ndim == 2:
        return masks, images[indices_NxB]
      return masks, jax.vmap(operator.getitem)(images, indices_NxB)

    return jnp.swapaxes(batches_NxSxB, 0, 1), batch

  return loop.make_train_epoch(
      lambda states, batch, keys: multi_step(states, batch[0], batch[1], keys), epoch_data,
      jax.vmap(jax.random.fold_in))


def check_members(configs: Sequence[ml_collections.ConfigDict]) -> None:
  """UserError unless the configs differ only in MEMBER_FIELDS (one program can train them)."""
  first = configs[0].to_dict()
  for config in configs[1:]:
    other = config.to_dict()
    differ = sorted(k for k in first.keys() | other.keys()
                    if k not in MEMBER_FIELDS and first.get(k) != other.get(k))
    if differ:
      raise UserError(f'sweep members may differ only in {MEMBER_FIELDS}, not in {differ}')
  if first['num_devices'] != 1:
    raise UserError('a vmapped sweep spreads its models over the devices itself; '
                    'leave num_devices at 1')
  sizes = sorted({c.latent_dim for c in configs})
  if first['architecture'] in discrete.ARCHITECTURES and len(sizes) > 1:
    raise UserError("a vmapped sweep pads latent sizes for the Gaussian VAEs only; "
                    f"architecture {first['architecture']!r} takes one latent size (got "
                    f"{sizes}) or strategy 'sequential'")


def choose_strategy(strategy: str) -> str:
  """'vmap' or 'sequential'; 'auto' picks what scripts/benchmark.py measured faster here.

  On CPU a vmapped program is slower than the models one after another (0.83-0.98x, README), so
  'auto' trains them in turn there; on GPU and TPU, one small model leaves the device idle and
  'auto' trains them as one program. Compiled for TPU v5e (scripts/compile_for.py), the
  15-member latent sweep's step is estimated at 0.92x its members' one after another on one
  chip and 0.35x spread over a 2x2 slice, in 219 MiB of a chip's 16 GiB.
  """
  if strategy not in STRATEGIES:
    raise UserError(f'unknown sweep strategy {strategy!r}; choose one of {STRATEGIES}')
  if strategy == 'auto':
    return 'sequential' if jax.default_backend() == 'cpu' else 'vmap'
  return strategy


def train_and_evaluate_many(configs: Sequence[ml_collections.ConfigDict],
                            workdirs: Sequence[str], strategy: str = 'auto') -> list[dict]:
  """Trains and evaluates every (config, workdir), as one program or one after another.

  Args:
    configs: the members' configs, differing only in seed and latent_dim.
    workdirs: one run directory each; each resumes by itself, as train_and_evaluate's do.
    strategy: 'vmap' (one program), 'sequential', or 'auto' (choose_strategy).

  Returns:
    Each member's final test metrics (also in its workdir/results.json), or {'failed': the
    error} for a member whose loss became NaN or infinite, now or in an earlier attempt
    (recorded in its workdir/error.json): it stops alone, the others finish.
  """
  errors = [runs.read_error(w) for w in workdirs]
  results = [{'failed': e} if e else None for e in errors]
  todo = [n for n, r in enumerate(results) if r is None]
  if choose_strategy(strategy) == 'sequential':
    for n in todo:
      results[n] = _or_failure(train.train_and_evaluate, configs[n], workdirs[n])
  elif todo:
    done = _train_and_evaluate_vmapped([configs[n] for n in todo], [workdirs[n] for n in todo])
    for n, r in zip(todo, done):
      results[n] = r
  return results


def _or_failure(train_fn: Callable, *args) -> Any:
  """train_fn(*args), or {'failed': the error} if a loss became NaN or infinite."""
  try:
    return train_fn(*args)
  except runs.Diverged as e:
    logging.warning('%s', e)
    return {'failed': str(e)}


def _train_and_evaluate_vmapped(configs: Sequence[ml_collections.ConfigDict],
                                workdirs: Sequence[str]) -> list[dict]:
  """train_and_evaluate_many's members as one program."""
  check_members(configs)
  dataset = datasets.load(configs[0].dataset, configs[0].data_dir or None)  # Once for all.
  exps = [train.build(c, dataset) for c in configs]
  members = [train.run_dir(c, w, e) for c, w, e in zip(configs, workdirs, exps)]
  alone = loop.resume(members)

  first = exps[0]
  padded = with_top_latent(first.model, max(c.latent_dim for c in configs))
  num_examples, num_pixels = first.dataset.train_images.shape
  padded_state = jax.eval_shape(
      lambda: trainstate.init_state(padded, first.optimizer, jax.random.key(0),
                                   jnp.zeros(num_pixels)))
  stack = lambda trees: jax.tree.map(lambda *xs: np.stack(xs), *trees)
  states = stack([resize_latent(s, m.model.latent_dim, padded.latent_dim, padded_state)
                  for s, m in zip(alone, exps)])
  masks = stack([latent_mask(e.model, padded, num_pixels) for e in exps])
  data_keys = jnp.stack([e.keys.data for e in exps])
  train_keys = jnp.stack([e.keys.train for e in exps])
  # Only a fixed binarization (drawn from each member's seed) makes the members' images differ.
  same_images = configs[0].binarization != 'fixed'
  images = first.dataset.train_images if same_images else np.stack(
      [e.dataset.train_images for e in exps])

  mesh = sharding.model_mesh(len(members))
  if mesh is None:
    states, masks, images = jax.device_put((states, masks, images))
  else:
    states, masks, data_keys, train_keys = sharding.split_models(
        (states, masks, data_keys, train_keys), mesh)
    images = sharding.replicate(images, mesh) if same_images else sharding.split_models(
        images, mesh)
  train_epoch = make_sweep_train_epoch(
      train.make_train_step(padded, first.objective, first.optimizer),
      num_examples, configs[0].batch_size, configs[0].shuffle)
  return loop.train(members, train_epoch, states, (masks, images), data_keys, train_keys,
                    member_state=lambda states, n: _member_state(states, n, exps[n].model,
                                                                 padded, alone[n]))


def _member_state(states: Any, n: int, model: VAE, padded: VAE, like: Any) -> Any:
  """Member n's train state at its own latent size, from the stacked padded states."""
  state = jax.tree.map(lambda x: np.asarray(x[n]), states)
  return jax.tree.map(jnp.asarray, resize_latent(state, padded.latent_dim, model.latent_dim,
                                                 like))
