"""Bounds on log p(x) from per-example log importance weights, and their gradient weights.

Every objective is a function of one example's log weights logw [S] (REFERENCE.md, section 2):

  vae    ELBO_K   = mean_k log w_k
  iwae   IWAE_K   = logsumexp_k log w_k - log K
  miwae  MIWAE(M, K): the mean of M independent IWAE_K bounds (S = M * K samples)
  ciwae  CIWAE(beta) = beta * ELBO_K + (1 - beta) * IWAE_K
  piwae  PIWAE(M, K): IWAE_{MK} for the decoder's gradient, MIWAE(M, K) for the encoder's

A gradient of sum_k c_k log w_k is a weighted sum of per-sample gradients, so each objective
hands the training step one weight vector c per network (`gradient_weights`). The encoder's
gradient estimator picks its weights:

  reparam  the plain reparameterization gradient of the encoder's objective
  stl      "sticking the landing" (Roeder et al. 2017): the same weights, log q evaluated with
           the encoder's parameters held fixed, so its score term is dropped
  dreg     doubly reparameterized (Tucker et al. 2018): like stl, with each IWAE group's
           normalized weights squared (w~_k^2 instead of w~_k); for the ELBO it equals stl

and the estimators that do without the reparameterization trick (score, nvil, vimco,
rws_wake, rws_sleep, concrete, straight_through) are vaejax/bounds/estimators.py's.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from vaejax.errors import UserError

OBJECTIVES = ('vae', 'iwae', 'miwae', 'ciwae', 'piwae')
REPARAMETERIZED = ('reparam', 'stl', 'dreg')
WITHOUT_REPARAMETERIZATION = ('score', 'nvil', 'vimco', 'rws_wake', 'rws_sleep', 'concrete',
                              'straight_through')
ESTIMATORS = REPARAMETERIZED + WITHOUT_REPARAMETERIZATION


def elbo(logw: ArrayLike) -> jax.Array:
  """ELBO_K: the mean log weight."""
  return jnp.mean(logw)


def iwae(logw: ArrayLike) -> jax.Array:
  """IWAE_K: log of the mean importance weight."""
  return jax.nn.logsumexp(logw) - math.log(jnp.shape(logw)[0])


def miwae(logw: ArrayLike, num_groups: int) -> jax.Array:
  """MIWAE(M, K): the mean of M IWAE_K bounds over consecutive groups of K samples."""
  return jnp.mean(jax.vmap(iwae)(jnp.reshape(logw, (num_groups, -1))))


def ciwae(logw: ArrayLike, beta: float) -> jax.Array:
  """CIWAE(beta) = beta * ELBO_K + (1 - beta) * IWAE_K."""
  return beta * elbo(logw) + (1 - beta) * iwae(logw)


def _squared_group_weights(logw: jax.Array, num_groups: int) -> jax.Array:
  """(1 / M) * w~_k^2, w~ normalized within each of M groups: DReG's weights for MIWAE."""
  w = jax.nn.softmax(jnp.reshape(logw, (num_groups, -1)), axis=-1)
  return jnp.reshape(w * w, (-1,)) / num_groups


@dataclasses.dataclass(frozen=True)
class Objective:
  """A training objective and the encoder's gradient estimator.

  Attributes:
    name: one of OBJECTIVES.
    num_samples: K, samples per importance-weighted group.
    num_groups: M, for miwae and piwae (1 otherwise).
    beta: the ELBO's share in ciwae.
    estimator: one of ESTIMATORS.
    temperature: the Concrete relaxation's starting temperature (concrete, straight_through).
    temperature_min: the temperature's floor.
    temperature_decay: r in tau_s = max(temperature_min, temperature * exp(-r s)) at step s
      (0: constant).
  """
  name: str
  num_samples: int
  num_groups: int = 1
  beta: float = 0.5
  estimator: str = 'reparam'
  temperature: float = 1.0
  temperature_min: float = 1.0
  temperature_decay: float = 0.0

  @property
  def total_samples(self) -> int:
    """S, the number of log weights drawn per example."""
    return self.num_samples * (self.num_groups if self.name in ('miwae', 'piwae') else 1)

  @property
  def stops_q_params(self) -> bool:
    """Whether log q is evaluated with the encoder's parameters held fixed."""
    return self.estimator != 'reparam'

  @property
  def shares_weights(self) -> bool:
    """Whether both networks use the same weights, so one backward pass serves both."""
    if self.name == 'piwae':
      return False
    return self.estimator != 'dreg' or self.name == 'vae'

  def value(self, logw: ArrayLike) -> jax.Array:
    """The bound the decoder ascends, for one example (the reported training bound)."""
    if self.name == 'vae':
      return elbo(logw)
    if self.name in ('iwae', 'piwae'):
      return iwae(logw)
    if self.name == 'miwae':
      return miwae(logw, self.num_groups)
    return ciwae(logw, self.beta)

  def encoder_value(self, logw: ArrayLike) -> jax.Array:
    """The bound the encoder ascends, for one example."""
    if self.name == 'piwae':
      return miwae(logw, self.num_groups)
    return self.value(logw)

  def gradient_weights(self, logw: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """(decoder, encoder) weights c [S]: each network's gradient is sum_k c_k grad log w_k."""
    logw = jax.lax.stop_gradient(jnp.asarray(logw))
    decoder = jax.grad(self.value)(logw)
    if self.estimator != 'dreg':
      return decoder, jax.grad(self.encoder_value)(logw)
    if self.name == 'vae':
      return decoder, decoder
    if self.name == 'ciwae':
      return decoder, self.beta / logw.shape[0] + (1 - self.beta) * _squared_group_weights(logw, 1)
    groups = 1 if self.name == 'iwae' else self.num_groups
    return decoder, _squared_group_weights(logw, groups)


def make_objective(name: str, num_samples: int, num_groups: int = 1, beta: float = 0.5,
                   estimator: str = 'reparam', temperature: float = 1.0,
                   temperature_min: float = 1.0, temperature_decay: float = 0.0) -> Objective:
  """Validates the settings and returns the Objective (estimators.check then checks the
  estimator against the model and the objective)."""
  if name not in OBJECTIVES:
    raise UserError(f'unknown objective {name!r}; choose one of {OBJECTIVES}')
  if estimator not in ESTIMATORS:
    raise UserError(f'unknown gradient estimator {estimator!r}; choose one of {ESTIMATORS}')
  if num_samples < 1:
    raise UserError(f'num_samples (K) must be at least 1, got {num_samples}')
  if num_groups < 1:
    raise UserError(f'num_groups (M) must be at least 1, got {num_groups}')
  if not 0.0 <= beta <= 1.0:
    raise UserError(f'ciwae_beta must be in [0, 1], got {beta}')
  if not 0 < temperature_min <= temperature:
    raise UserError(f'the temperatures must satisfy 0 < temperature_min <= temperature, got '
                    f'{temperature_min} and {temperature}')
  if temperature_decay < 0:
    raise UserError(f'temperature_decay must be >= 0, got {temperature_decay}')
  return Objective(name, num_samples, num_groups if name in ('miwae', 'piwae') else 1,
                   beta, estimator, temperature, temperature_min, temperature_decay)
