"""What every trainer builds the same way: the train state, a run's keys, its optimizer.

The VAE trainer (train.py), M2's (train_m2.py), the sweep (sweep.py) and loading a run
(runs.restore) all take these from here, so a checkpoint of any of them is a TrainState.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from vaejax.bounds import estimators
from vaejax.bounds.objectives import Objective, make_objective
from vaejax.models.vae import MNIST_SHAPE, VAE, make_model
from vaejax.training import optimizers

Params = Any


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
  elif config.schedule == 'cosine':
    lr = optax.cosine_decay_schedule(config.learning_rate, total_steps)
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


def objective_from_config(config: ml_collections.ConfigDict) -> Objective:
  exponential = config.temperature_schedule == 'exponential'
  return make_objective(config.objective, config.num_samples, config.num_groups,
                        config.ciwae_beta, config.gradient_estimator, config.temperature,
                        config.temperature_min if exponential else config.temperature,
                        config.temperature_decay if exponential else 0.0)


def init_state(model: Any, optimizer: optax.GradientTransformation, key: jax.Array,
               *init_args: Any, objective: Objective | None = None) -> TrainState:
  """A fresh state: model.init(key, *init_args) (a VAE or M2; e.g. the pixel mean) and the
  optimizer's, with the objective's estimator's parameters, if it has any
  (vaejax/bounds/estimators.py)."""
  # Strongly typed leaves: a weakly typed one (jnp.full(n, 0.5)) comes back from the first
  # epoch strongly typed, and the epoch would compile again for it.
  params = jax.tree.map(lambda x: jnp.asarray(x, x.dtype), model.init(key, *init_args))
  estimator_state = (None if objective is None
                     else estimators.init_state(objective, key, model.num_inputs))
  if estimator_state is not None:
    params['estimator'] = estimator_state
  return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))
