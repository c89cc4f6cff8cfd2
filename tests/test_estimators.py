"""STL and DReG: unbiased where the math says, and what they change about the variance."""

import jax
import jax.numpy as jnp
import numpy as np

from vaejax import diagnostics
from vaejax import objectives
from tests.linear_gaussian import LinearGaussian

NUM_DRAWS = 20000


def _encoder_draws(objective, model, params, x, key):
  draws = diagnostics.gradient_draws(model, objective, params, x, key, NUM_DRAWS)
  return jnp.concatenate([leaf.reshape(NUM_DRAWS, -1)
                          for leaf in jax.tree.leaves(draws['encoder'])], axis=1)


def _setup():
  model = LinearGaussian()
  params = model.init(jax.random.key(0))
  x = jax.random.normal(jax.random.key(1), (2, model.x_dim))
  return model, params, x


def _z_against_reparam(name, k, estimator, seed):
  """|mean(g_estimator - g_reparam)| of the encoder in standard errors, paired draws."""
  model, params, x = _setup()
  key = jax.random.key(seed)
  reparam = _encoder_draws(objectives.make_objective(name, k), model, params, x, key)
  other = _encoder_draws(objectives.make_objective(name, k, estimator=estimator), model,
                         params, x, key)
  diff = np.asarray(other - reparam)
  stderr = diff.std(axis=0) / np.sqrt(diff.shape[0])
  assert np.all(stderr > 0), 'the estimators agree draw by draw: nothing is tested'
  return np.abs(diff.mean(axis=0)) / stderr


def test_stl_is_unbiased_for_k1():
  z = _z_against_reparam('vae', 1, 'stl', seed=2)
  assert np.all(z < 4.5), z


def test_dreg_has_the_iwae_gradient_in_expectation():
  z = _z_against_reparam('iwae', 5, 'dreg', seed=3)
  assert np.all(z < 4.5), z


def test_stl_is_biased_for_iwae():
  """A test that can fail: STL's IWAE encoder gradient is biased (Tucker et al. 2018)."""
  z = _z_against_reparam('iwae', 5, 'stl', seed=4)
  assert np.max(z) > 10, z


def test_encoder_snr_falls_with_k_for_iwae_less_so_for_dreg():
  model, params, x = _setup()
  snr = lambda name, k, est: diagnostics.gradient_snr(
      model, objectives.make_objective(name, k, estimator=est), params, x,
      jax.random.key(5), 2000)
  iwae = [snr('iwae', k, 'reparam') for k in (1, 10, 100)]
  dreg = [snr('iwae', k, 'dreg') for k in (1, 10, 100)]
  assert iwae[0]['encoder_snr'] > iwae[1]['encoder_snr'] > iwae[2]['encoder_snr']
  assert iwae[0]['decoder_snr'] < iwae[2]['decoder_snr']
  for k in (1, 2):
    assert dreg[k]['encoder_snr'] > 1.25 * iwae[k]['encoder_snr']
  falls = lambda r: r[2]['encoder_snr'] / r[0]['encoder_snr']
  assert falls(dreg) > falls(iwae)
