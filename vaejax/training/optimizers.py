"""The optimizers and learning-rate schedules of the configs: optax's Adam, the Adam of the IWAE
paper's released code, and the paper's eight stages (as written, and as the code runs them)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

PAPER_STAGES = 8
PAPER_EPOCHS = sum(3**i for i in range(PAPER_STAGES))  # 3280


class ReleasedAdamState(NamedTuple):
  count: jax.Array  # int32 scalar: the number of updates made
  mu: optax.Updates
  nu: optax.Updates


def released_adam(learning_rate: optax.ScalarOrSchedule, b1: float = 0.99, b2: float = 0.999,
                  eps: float = 1e-4) -> optax.GradientTransformation:
  """Adam as the IWAE paper's released Theano code (yburda/iwae, optimizers.py) runs it.

  The second moment starts at ones, the timestep at 1, and eps is added to sqrt(v). Theano
  applies all of a step's updates at once, each computed from the old values, so update t
  (t = 1, 2, ...) moves the parameters by
  -lr_t * sqrt(1 - b2^t) / (1 - b1^t) * m_{t-1} / (sqrt(v_{t-1}) + eps), with the moments
  before this step's gradient (m_0 = 0: the first update is zero), and then folds the gradient
  into m and v. lr_t is the schedule at t - 1 updates made.
  """
  def init(params):
    return ReleasedAdamState(jnp.zeros((), jnp.int32), jax.tree.map(jnp.zeros_like, params),
                             jax.tree.map(jnp.ones_like, params))

  def update(grads, state, params=None):
    del params
    t = (state.count + 1).astype(jnp.float32)
    lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
    alpha = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
    updates = jax.tree.map(lambda m, v: -alpha * m / (jnp.sqrt(v) + eps), state.mu, state.nu)
    mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * jnp.square(g), state.nu, grads)
    return updates, ReleasedAdamState(state.count + 1, mu, nu)

  return optax.GradientTransformation(init, update)


def paper_stage_rates(learning_rate: float) -> list[float]:
  """The paper's text: stage i (1..8) at learning_rate * 10^(-(i-1)/7)."""
  return [learning_rate * 10**(-i / 7) for i in range(PAPER_STAGES)]


def released_stage_rates(learning_rate: float) -> list[float]:
  """The released code: stage i at 1e-4 * round(10^(1-(i-1)/7), 1), here scaled by
  learning_rate / 1e-3 (exactly the code's at learning_rate 1e-3: 1e-3, 7.2e-4, 5.2e-4, ...)."""
  return [learning_rate * round(10**(1 - i / 7), 1) / 10 for i in range(PAPER_STAGES)]


def staged_schedule(rates: list[float], total_steps: int) -> optax.Schedule:
  """Stage i (of 8) runs 3^(i-1)/3280 of the steps at rates[i-1]: with 3280 epochs exactly the
  paper's stages; shorter runs keep their proportions."""
  ends = np.cumsum([3**i for i in range(PAPER_STAGES)]) / PAPER_EPOCHS
  boundaries = [int(round(e * total_steps)) for e in ends[:-1]]
  return optax.join_schedules([optax.constant_schedule(r) for r in rates], boundaries)
