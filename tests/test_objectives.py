"""Bounds: their ordering, their relations, and their agreement with an exact log p(x)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaejax.bounds import objectives
from vaejax.logpx import importance
from vaejax.models import vae
from tests.linear_gaussian import LinearGaussian


def _random_logw(seed, shape):
  return 5.0 * jax.random.normal(jax.random.key(seed), shape) - 90.0


def test_iwae_at_least_elbo_per_example():
  logw = _random_logw(0, (1000, 7))
  assert jnp.all(jax.vmap(objectives.iwae)(logw) >= jax.vmap(objectives.elbo)(logw))


def test_bound_relations():
  logw = _random_logw(1, (12,))
  np.testing.assert_allclose(objectives.miwae(logw, 1), objectives.iwae(logw), rtol=1e-6)
  np.testing.assert_allclose(objectives.miwae(logw, 12), objectives.elbo(logw), rtol=1e-6)
  np.testing.assert_allclose(objectives.ciwae(logw, 1.0), objectives.elbo(logw), rtol=1e-6)
  np.testing.assert_allclose(objectives.ciwae(logw, 0.0), objectives.iwae(logw), rtol=1e-6)
  expected = np.mean([np.logaddexp.reduce(g) - math.log(4) for g in np.reshape(logw, (3, 4))])
  np.testing.assert_allclose(objectives.miwae(logw, 3), expected, rtol=1e-6)
  # IWAE_12 >= MIWAE(3, 4) >= ELBO: more samples per group, tighter bound.
  assert objectives.iwae(logw) >= objectives.miwae(logw, 3) >= objectives.elbo(logw)


def test_iwae_rises_with_k_on_average():
  model = vae.make_model('one_layer', 10)
  params = model.init(jax.random.key(0), jnp.full(784, 0.2))
  x = jax.random.bernoulli(jax.random.key(1), 0.2, (200, 784)).astype(jnp.float32)
  bounds = [np.mean(importance.importance_sample(model, params, x, jax.random.key(k), k)['log_px'])
            for k in (1, 5, 50)]
  assert bounds[0] < bounds[1] < bounds[2], bounds


@pytest.mark.parametrize('name', objectives.OBJECTIVES)
def test_every_bound_below_exact_log_px_and_iwae_converges(name):
  model = LinearGaussian()
  params = model.init(jax.random.key(0))
  x = jax.random.normal(jax.random.key(1), (model.x_dim,))
  exact = model.exact_log_px(params, x)
  objective = objectives.make_objective(name, num_samples=4, num_groups=2, beta=0.3)
  keys = jax.random.split(jax.random.key(2), 4000)
  logw = jax.vmap(lambda k: model.log_weights(params, x, k, objective.total_samples))(keys)
  values = jax.vmap(objective.value)(logw)
  stderr = jnp.std(values) / math.sqrt(len(keys))
  assert jnp.mean(values) < exact + 3 * stderr
  if name in ('vae', 'ciwae'):  # Loose bounds: strictly below, not within noise.
    assert jnp.mean(values) < exact - 5 * stderr


def _numpy_bounds(logw, num_groups, beta):
  """ELBO, CIWAE(beta), MIWAE(M, S / M), IWAE_S of log weights [N, S], written in NumPy."""
  logw = np.asarray(logw, np.float64)
  lme = lambda a: np.logaddexp.reduce(a, axis=-1) - np.log(a.shape[-1])
  elbo, iwae = logw.mean(axis=1), lme(logw)
  miwae = lme(logw.reshape(len(logw), num_groups, -1)).mean(axis=1)
  return {'vae': elbo, 'ciwae': beta * elbo + (1 - beta) * iwae, 'miwae': miwae, 'iwae': iwae}


def test_bounds_match_numpy_and_are_strictly_ordered():
  """ELBO < CIWAE(0.5) < MIWAE(2, 8) < IWAE_16 on a tiny real VAE, each from the same log
  weights as a NumPy reference, each gap by more than 5 standard errors (an IWAE returning
  the ELBO, or a MIWAE returning the IWAE, fails)."""
  model = vae.VAE((2,), ((8,),), ((8,),), image_shape=(3, 3, 1))
  params = model.init(jax.random.key(0), jnp.full(9, 0.3))
  x = jax.random.bernoulli(jax.random.key(1), 0.3, (2000, 9)).astype(jnp.float32)
  keys = jax.random.split(jax.random.key(2), len(x))
  logw = jax.vmap(model.log_weights, in_axes=(None, 0, 0, None))(params, x, keys, 16)
  want = _numpy_bounds(logw, 2, 0.5)
  got = {}
  for name in want:
    objective = objectives.make_objective(name, num_samples=8 if name == 'miwae' else 16,
                                          num_groups=2 if name == 'miwae' else 1, beta=0.5)
    got[name] = np.asarray(jax.vmap(objective.value)(logw))
    np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5)
  order = ['vae', 'ciwae', 'miwae', 'iwae']
  for low, high in zip(order, order[1:]):
    gap = got[high] - got[low]
    assert gap.mean() > 5 * gap.std() / math.sqrt(len(gap)), (low, high, gap.mean())


def test_importance_sampled_log_px_matches_exact_linear_gaussian():
  model = LinearGaussian()
  params = model.init(jax.random.key(0))
  x = jax.random.normal(jax.random.key(3), (16, model.x_dim))
  exact = jax.vmap(model.exact_log_px, in_axes=(None, 0))(params, x)
  gaps = []
  for k in (1, 10, 100, 20000):
    estimate = importance.importance_sample(model, params, x, jax.random.key(4), k,
                                          batch_size=8, chunk_size=500)['log_px']
    gaps.append(float(np.mean(exact - estimate)))
  # E[IWAE_k] <= log p(x) and rises with k; at k = 20000 the estimate is within noise of it
  # (the mean gap over keys 4-9: -0.008 to 0.035; at k = 5000 it spread from -0.02 to 0.08).
  assert gaps[0] > gaps[1] > gaps[2] > 0, gaps
  assert abs(gaps[3]) < 0.05, gaps


def test_exact_posterior_gives_exact_log_px_with_one_sample():
  # A diagonal q cannot match a full posterior covariance; use a model with z_dim = 1.
  x = jax.random.normal(jax.random.key(5), (4,))
  model1 = LinearGaussian(z_dim=1)
  params1 = model1.init(jax.random.key(0))
  mean, cov = model1.exact_posterior(params1, x)
  params1['encoder'] = {'a': jnp.zeros((1, model1.x_dim)), 'c': mean,
                        'log_std': 0.5 * jnp.log(jnp.diag(cov))}
  logw = model1.log_weights(params1, x, jax.random.key(6), 7)
  np.testing.assert_allclose(logw, model1.exact_log_px(params1, x) * np.ones(7), rtol=1e-5)


def test_evaluation_does_not_depend_on_batch_or_chunk_size():
  model = LinearGaussian()
  params = model.init(jax.random.key(0))
  x = jax.random.normal(jax.random.key(7), (10, model.x_dim))
  nll = lambda batch_size, chunk_size: importance.importance_sample(
      model, params, x, jax.random.key(8), 30, batch_size, chunk_size)['log_px']
  reference = nll(4, 30)
  for batch_size, chunk_size in ((10, 30), (4, 7)):  # Same draws: rounding only.
    np.testing.assert_allclose(nll(batch_size, chunk_size), reference, rtol=1e-6)
  assert not np.allclose(importance.importance_sample(model, params, x, jax.random.key(9), 30,
                                                    4, 30)['log_px'], reference, rtol=1e-6)


def test_partial_last_chunk_is_masked():
  model = LinearGaussian()
  params = model.init(jax.random.key(0))
  x = jax.random.normal(jax.random.key(9), (model.x_dim,))
  key = jax.random.key(10)
  got = importance.importance_sample(model, params, x[None], key, 10, chunk_size=4)['log_px'][0]
  example_key = jax.random.fold_in(key, 0)
  terms = [model.log_weight_terms(params, x, jax.random.fold_in(example_key, j))
           for j in range(10)]
  logw = jnp.stack([t['log_px_given_z'] + t['log_pz'] - t['log_qz'] for t in terms])
  np.testing.assert_allclose(got, objectives.iwae(logw), rtol=1e-6)
