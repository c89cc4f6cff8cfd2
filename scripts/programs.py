"""vaejax's programs, built by vaejax's own functions, for compiling ahead of time and timing.

scripts/compile_for.py compiles them for a TPU topology from their abstract arguments;
scripts/device_check.py runs them on the device it has. This module is the one place those
scripts reach into vaejax's trainers and estimators (training: train, sweep, train_m2, sharding;
logpx: importance, ais).

Each builder returns a Program: the jitted function vaejax runs, a function making its
arguments (real initial states, real MNIST images), and where each argument lives (a mesh and
a PartitionSpec per argument). A training program built with num_steps=1 is the same epoch
function over a one-step epoch, whose scan XLA removes: the step alone, for per-step costs
(XLA's cost analysis counts a loop's body once, so a whole epoch reports about one step).
"""

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import Mesh, PartitionSpec as P

from vaejax.configs import burda2015, burda2015_two_layer, semi_supervised, sweep_quick
from vaejax.data import datasets
from vaejax.logpx import ais
from vaejax.logpx import importance
from vaejax.models import latents
from vaejax.training import sharding
from vaejax.training import sweep
from vaejax.training import train
from vaejax.training import train_m2
from vaejax.training import trainstate

# Burda et al.'s Table 1, one architecture: its distinct cells (IWAE at K = 1 is the VAE).
TABLE1_CELLS = (('vae', 1), ('vae', 5), ('vae', 50), ('iwae', 5), ('iwae', 50))
SWEEP_LATENT_DIMS = (2, 5, 10, 20, 50)  # experiments/sweep_latent.py's defaults
SWEEP_SEEDS = (0, 1, 2)
REPLICATED = P()


class Program(NamedTuple):
  """A jitted vaejax program and its arguments.

  Attributes:
    name: what it is.
    fn: the jitted function.
    make_args: () -> its arguments (concrete; jax.eval_shape gives the abstract ones).
    mesh: the devices it runs on.
    specs: one PartitionSpec per argument, for every leaf of that argument (a tuple of
      them for a tuple argument, one per part).
    steps: training steps one call takes (0: not a training program).
    examples_per_step: images one step trains on, every model's counted.
    models: models trained at once.
  """
  name: str
  fn: Callable
  make_args: Callable[[], tuple]
  mesh: Mesh
  specs: tuple
  steps: int = 0
  examples_per_step: int = 0
  models: int = 1


def one_layer_config(objective: str = 'iwae', num_samples: int = 50) -> ml_collections.ConfigDict:
  """The released code's one-layer setup (configs/burda2015.py) with the cell's objective."""
  return with_cell(burda2015.get_config(), objective, num_samples)


def two_layer_config(objective: str = 'iwae', num_samples: int = 50) -> ml_collections.ConfigDict:
  return with_cell(burda2015_two_layer.get_config(), objective, num_samples)


def sweep_config() -> ml_collections.ConfigDict:
  return sweep_quick.get_config()


def m2_config() -> ml_collections.ConfigDict:
  return semi_supervised.get_config()


def with_cell(config: ml_collections.ConfigDict, objective: str,
              num_samples: int) -> ml_collections.ConfigDict:
  config = config.copy_and_resolve_references()
  config.objective, config.num_samples = objective, num_samples
  return config


def load_mnist() -> datasets.Dataset:
  return datasets.load('mnist')


def largest_divisor(n: int, at_most: int) -> int:
  """The largest d <= at_most dividing n: how many devices share n examples or models."""
  return max(d for d in range(1, at_most + 1) if n % d == 0)


def _one_device(devices: Sequence[jax.Device]) -> Mesh:
  return Mesh(np.asarray(devices[:1]), (sharding.DATA_AXIS,))


def _with_steps(config: ml_collections.ConfigDict, num_steps: int | None):
  """config training on num_steps * batch_size images (an epoch of num_steps steps)."""
  config = config.copy_and_resolve_references()
  if num_steps:
    config.train_examples = num_steps * config.batch_size
  return config


def _experiment(config, dataset, num_steps):
  exp = train.build(_with_steps(config, num_steps), dataset)
  pixel_mean = exp.dataset.train_images.mean(axis=0) / 255.0
  return exp, pixel_mean


def _epoch_args(exp, state):
  """A scanned epoch's arguments: (state, images, data_key, train_key, epoch 0)."""
  return state, exp.dataset.train_images, exp.keys.data, exp.keys.train, 0


def train_epoch(config: ml_collections.ConfigDict, dataset: datasets.Dataset,
                devices: Sequence[jax.Device], num_steps: int | None = None,
                data_parallel: bool = False, name: str = 'epoch') -> Program:
  """One run's scanned epoch (train.make_train_epoch) on one device, or with each batch split
  over as many of `devices` as divide the batch (sharding.data_mesh)."""
  exp, pixel_mean = _experiment(config, dataset, num_steps)
  mesh = None
  if data_parallel:
    mesh = sharding.data_mesh(largest_divisor(config.batch_size, len(devices)),
                              config.batch_size, devices)
  epoch = train.make_train_epoch(train.make_train_step(exp.model, exp.objective, exp.optimizer),
                                 exp.dataset.train_images.shape[0], config.batch_size, mesh,
                                 config.shuffle)
  make_args = lambda: _epoch_args(exp, trainstate.init_state(exp.model, exp.optimizer, exp.keys.init,
                                                        pixel_mean))
  return Program(name, epoch, make_args, mesh or _one_device(devices), (REPLICATED,) * 5,
                 exp.steps_per_epoch, config.batch_size)


def table1_epoch(base: ml_collections.ConfigDict, dataset: datasets.Dataset,
                 devices: Sequence[jax.Device], num_steps: int | None = None,
                 data_parallel: bool = False, name: str = 'table1') -> Program:
  """Every Table-1 cell of `base` (TABLE1_CELLS) trained by one program: a scanned epoch
  (train.make_train_epoch) whose step runs each cell's own train_step on the same batch with
  the same key, as each cell alone would (one seed: one data order and one key per step).

  Cells of different K and objective differ in shape and function, so they cannot share a vmap
  axis; here their steps stand side by side in one loop body, for XLA to schedule together.
  """
  exps, pixel_means = zip(*[_experiment(with_cell(base, o, k), dataset, num_steps)
                            for o, k in TABLE1_CELLS])
  steps = [train.make_train_step(e.model, e.objective, e.optimizer) for e in exps]

  def table_step(state, batch, key):
    results = [step(trainstate.TrainState(params, opt_state, state.step), batch, key)
               for step, params, opt_state in zip(steps, state.params, state.opt_state)]
    return (trainstate.TrainState(tuple(s.params for s, _ in results),
                             tuple(s.opt_state for s, _ in results), state.step + 1),
            {'loss': jnp.stack([m['loss'] for _, m in results])})

  def make_args():
    states = [trainstate.init_state(e.model, e.optimizer, e.keys.init, m)
              for e, m in zip(exps, pixel_means)]
    state = trainstate.TrainState(tuple(s.params for s in states), tuple(s.opt_state for s in states),
                             states[0].step)
    return _epoch_args(exps[0], state)

  mesh = None
  if data_parallel:
    mesh = sharding.data_mesh(largest_divisor(base.batch_size, len(devices)), base.batch_size,
                              devices)
  epoch = train.make_train_epoch(table_step, exps[0].dataset.train_images.shape[0],
                                 base.batch_size, mesh, base.shuffle)
  return Program(name, epoch, make_args, mesh or _one_device(devices), (REPLICATED,) * 5,
                 exps[0].steps_per_epoch, len(exps) * base.batch_size, len(exps))


def latent_sweep_epoch(config: ml_collections.ConfigDict, dataset: datasets.Dataset,
                       devices: Sequence[jax.Device], latent_dims: Sequence[int],
                       seeds: Sequence[int], num_steps: int | None = None,
                       name: str = 'latent_sweep') -> Program:
  """sweep_latent.py's vmapped program (sweep.make_sweep_train_epoch): one member per
  (latent size, seed), padded to the largest size, the models spread over as many of
  `devices` as divide their number (sharding.model_mesh). Every member starts from the padded
  model's initial state (the values do not change the program)."""
  configs = []
  for dim in latent_dims:
    for seed in seeds:
      member = _with_steps(config, num_steps)
      member.latent_dim, member.seed = dim, seed
      configs.append(member)
  sweep.check_members(configs)
  exps = [train.build(c, dataset) for c in configs]
  first = exps[0]
  padded = sweep.with_top_latent(first.model, max(latent_dims))
  num_examples, num_pixels = first.dataset.train_images.shape
  pixel_mean = first.dataset.train_images.mean(axis=0) / 255.0
  epoch = sweep.make_sweep_train_epoch(
      train.make_train_step(padded, first.objective, first.optimizer), num_examples,
      config.batch_size, config.shuffle)

  def make_args():
    state = trainstate.init_state(padded, first.optimizer, first.keys.init, pixel_mean)
    stack = lambda trees: jax.tree.map(lambda *xs: jnp.stack(xs), *trees)
    masks = stack([sweep.latent_mask(e.model, padded, num_pixels) for e in exps])
    return (stack([state] * len(exps)), (masks, first.dataset.train_images),
            jnp.stack([e.keys.data for e in exps]), jnp.stack([e.keys.train for e in exps]), 0)

  mesh = sharding.model_mesh(len(exps), devices)
  models = P(sharding.MODEL_AXIS) if mesh is not None else REPLICATED
  return Program(name, epoch, make_args, mesh or _one_device(devices),
                 (models, (models, REPLICATED), models, models, REPLICATED),
                 first.steps_per_epoch, len(exps) * config.batch_size, len(exps))


def importance_sampling(config: ml_collections.ConfigDict, dataset: datasets.Dataset,
                        devices: Sequence[jax.Device], num_samples: int,
                        name: str = 'importance_sampling') -> Program:
  """importance.importance_sample's compiled call: num_samples importance samples for each of
  eval_batch_size images, eval_chunk_size at a time (a scan over the chunks)."""
  exp, pixel_mean = _experiment(config, dataset, None)
  batch, chunk = config.eval_batch_size, min(config.eval_chunk_size, num_samples)
  fn = jax.jit(lambda params, x, keys: importance._batch_stats(  # pylint: disable=protected-access
      exp.model, params, x, keys, num_samples, chunk))
  make_args = lambda: (exp.model.init(exp.keys.init, pixel_mean),
                       jnp.zeros((batch, exp.model.num_inputs), jnp.float32),
                       jax.random.split(exp.keys.eval, batch))
  return Program(name, fn, make_args, _one_device(devices), (REPLICATED,) * 3)


def ais_batch(config: ml_collections.ConfigDict, dataset: datasets.Dataset,
              devices: Sequence[jax.Device], options: ais.Options, batch_size: int,
              name: str = 'ais') -> Program:
  """ais.log_likelihood's compiled call: AIS (from the prior) of batch_size images."""
  exp, pixel_mean = _experiment(config, dataset, None)
  path = ais.VAEPath(exp.model, options.start)
  fn = jax.jit(lambda params, x, keys: ais._batch(  # pylint: disable=protected-access
      path, params, x, keys, options, None))
  make_args = lambda: (exp.model.init(exp.keys.init, pixel_mean),
                       jnp.zeros((batch_size, exp.model.num_inputs), jnp.float32),
                       jax.random.split(exp.keys.eval, batch_size))
  return Program(name, fn, make_args, _one_device(devices), (REPLICATED,) * 3)


def ais_gradient(config: ml_collections.ConfigDict, dataset: datasets.Dataset,
                 devices: Sequence[jax.Device], num_chains: int, batch_size: int,
                 name: str = 'ais_gradient') -> Program:
  """The value and gradient of log p(x, z) at every chain of batch_size images, as AIS's path
  computes them (ais.VAEPath): AIS's unit of work, each of its T steps taking L + 1 of them
  (one for the weight, L for the leapfrog steps) in each of its two passes."""
  exp, pixel_mean = _experiment(config, dataset, None)
  path_fn = ais.VAEPath(exp.model)

  def values_and_grads(params, x_BxD, z_BxCxZ):
    one = lambda x, z_CxZ: jax.vmap(jax.value_and_grad(path_fn(params, x).log_joint))(z_CxZ)
    return jax.vmap(one)(x_BxD, z_BxCxZ)

  make_args = lambda: (exp.model.init(exp.keys.init, pixel_mean),
                       jnp.zeros((batch_size, exp.model.num_inputs), jnp.float32),
                       jnp.zeros((batch_size, num_chains, latents.size(exp.model)), jnp.float32))
  return Program(name, jax.jit(values_and_grads), make_args, _one_device(devices),
                 (REPLICATED,) * 3)


def ais_options(num_steps: int = 1000, num_chains: int = 16,
                num_leapfrog_steps: int = 10) -> ais.Options:
  return ais.Options(num_steps=num_steps, num_chains=num_chains,
                     num_leapfrog_steps=num_leapfrog_steps)


def ais_test_images(config: ml_collections.ConfigDict, dataset: datasets.Dataset,
                    options: ais.Options, num_images: int) -> Callable[[], np.ndarray]:
  """() -> ais.log_likelihood of the first num_images test images (binarized) under the
  model's initial parameters, as experiments/evaluate.py --method=ais computes it [N]."""
  exp, pixel_mean = _experiment(config, dataset, None)
  params = exp.model.init(exp.keys.init, pixel_mean)
  x = exp.model.likelihood.prepare(exp.keys.analysis, dataset.test_images[:num_images])
  return lambda: ais.log_likelihood(exp.model, params, x, exp.keys.eval, options)['log_px']


def m2_epoch(config: ml_collections.ConfigDict, devices: Sequence[jax.Device],
             num_steps: int | None = None, name: str = 'm2') -> Program:
  """M2's scanned epoch (train_m2.make_train_epoch) on MNIST's split of config."""
  exp = train_m2.build(config)
  d = exp.data
  unlabelled = d.unlabelled_x[:num_steps * config.batch_size] if num_steps else d.unlabelled_x
  data_mean = np.concatenate([d.labelled_x, d.unlabelled_x]).mean(axis=0) / 255.0
  epoch = train_m2.make_train_epoch(
      train_m2.make_train_step(exp.model, exp.objective, exp.weight, exp.optimizer),
      len(unlabelled), config.batch_size, len(d.labelled_x), config.labelled_batch_size)
  make_args = lambda: (trainstate.init_state(exp.model, exp.optimizer, exp.keys.init, data_mean),
                       (unlabelled, d.labelled_x, d.labelled_y), exp.keys.data, exp.keys.train,
                       0)
  return Program(name, epoch, make_args, _one_device(devices),
                 (REPLICATED, (REPLICATED,) * 3) + (REPLICATED,) * 3,
                 len(unlabelled) // config.batch_size,
                 config.batch_size + config.labelled_batch_size)


def placed(program: Program, args: tuple) -> tuple:
  """args on program's devices: each leaf put with its argument's sharding."""
  sharded = lambda spec: jax.sharding.NamedSharding(program.mesh, spec)
  return tuple(jax.device_put(a, jax.tree.map(sharded, s, is_leaf=lambda x: isinstance(x, P)))
               for a, s in zip(args, program.specs))


def abstract_args(program: Program) -> tuple:
  """program's arguments as ShapeDtypeStructs with their shardings (nothing computed)."""
  shapes = jax.eval_shape(program.make_args)

  def with_sharding(spec: P, tree: Any) -> Any:
    if not isinstance(spec, P):  # A tuple argument: a spec per part.
      return tuple(with_sharding(s, t) for s, t in zip(spec, tree))
    sharding_ = jax.sharding.NamedSharding(program.mesh, spec)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding_,
                                                       weak_type=s.weak_type), tree)

  return tuple(with_sharding(s, a) for s, a in zip(program.specs, shapes))


def compile_program(program: Program) -> Any:
  """program.fn lowered for its abstract arguments and compiled for their devices."""
  return program.fn.lower(*abstract_args(program)).compile()

