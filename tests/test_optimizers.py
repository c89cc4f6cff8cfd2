"""The released IWAE code's Adam against a NumPy transcription, the stage rates, the cosine
schedule."""

import jax.numpy as jnp
import numpy as np
import optax

from vaejax.configs import tiny
from vaejax.training import optimizers
from vaejax.training import trainstate


def _theano_adam_numpy(params, grads, rates, b1=0.99, b2=0.999, eps=1e-4):
  """yburda/iwae optimizers.Adam, transcribed: every right-hand side is the value before the
  step (Theano's simultaneous updates); ascent on the bound = descent on these loss grads."""
  m, v, t = np.zeros_like(params), np.ones_like(params), 1.0
  path = []
  for g, lr in zip(grads, rates):
    alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    params, m, v, t = (params - alpha * m / (np.sqrt(v) + eps), b1 * m + (1 - b1) * g,
                       b2 * v + (1 - b2) * g**2, t + 1)
    path.append(params)
  return path


def test_released_adam_matches_the_numpy_transcription():
  rng = np.random.default_rng(0)
  params = rng.normal(size=(3, 4)).astype(np.float32)
  grads = [20 * rng.normal(size=(3, 4)).astype(np.float32) for _ in range(6)]
  rates = [1e-3, 1e-3, 1e-3, 7.2e-4, 7.2e-4, 7.2e-4]
  schedule = optax.piecewise_constant_schedule(1e-3, {3: 0.72})
  tx = optimizers.released_adam(schedule)
  state, p = tx.init(jnp.asarray(params)), jnp.asarray(params)
  expected = _theano_adam_numpy(params, grads, rates)
  for g, want in zip(grads, expected):
    updates, state = tx.update(jnp.asarray(g), state, p)
    p = optax.apply_updates(p, updates)
    np.testing.assert_allclose(p, want, rtol=1e-6, atol=1e-7)
  np.testing.assert_array_equal(expected[0], params)  # m starts at 0: the first step is zero.
  assert not np.allclose(expected[-1], params)


def test_stage_rates():
  np.testing.assert_allclose(optimizers.released_stage_rates(1e-3),
                             [1e-3, 7.2e-4, 5.2e-4, 3.7e-4, 2.7e-4, 1.9e-4, 1.4e-4, 1e-4],
                             rtol=1e-12)
  np.testing.assert_allclose(optimizers.paper_stage_rates(1e-3),
                             [1e-3 * 10**(-i / 7) for i in range(8)], rtol=1e-12)


def test_staged_schedule_matches_the_paper_at_3280_epochs():
  rates = optimizers.released_stage_rates(1e-3)
  schedule = optimizers.staged_schedule(rates, 3280)  # One step per epoch.
  stage_starts = np.cumsum([0] + [3**i for i in range(7)])
  for i, start in enumerate(stage_starts):
    np.testing.assert_allclose(schedule(start), rates[i], rtol=1e-6)
    if start > 0:
      np.testing.assert_allclose(schedule(start - 1), rates[i - 1], rtol=1e-6)
  np.testing.assert_allclose(schedule(3279), 1e-4, rtol=1e-6)


def test_cosine_schedule_falls_from_the_learning_rate_to_zero_over_the_run():
  """Adam's first update on a constant gradient is the learning rate itself: the schedule's
  value at each step shows in the step's update, from 2e-3 at step 0 to 0 at the last."""
  config = tiny.get_config()
  config.update(schedule='cosine', learning_rate=2e-3, num_epochs=4, adam_eps=1e-12)
  optimizer = trainstate.make_optimizer(config, steps_per_epoch=25)  # 100 steps.
  params, grads = jnp.zeros(1), jnp.ones(1)
  state, sizes = optimizer.init(params), []
  for _ in range(101):
    updates, state = optimizer.update(grads, state, params)
    sizes.append(-float(updates[0]))
  np.testing.assert_allclose(sizes[0], 2e-3, rtol=1e-5)
  np.testing.assert_allclose(sizes[50], 1e-3, rtol=1e-4)  # Halfway: half the rate.
  np.testing.assert_allclose(sizes[100], 0, atol=1e-12)
  assert np.all(np.diff(sizes) <= 0)
