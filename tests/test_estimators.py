"""STL and DReG: unbiased where the math says, and what they change about the variance.

The unbiasedness tests run on the linear-Gaussian model of the tests (which writes its own
stop-gradient) and on tiny real vae.VAE ones with one and two stochastic layers (2x2 binary
images, 4 hidden units), where the stop-gradient is vaejax's own.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaejax.bounds import diagnostics
from vaejax.bounds import objectives
from vaejax.models import vae
from tests.linear_gaussian import LinearGaussian

NUM_DRAWS = {'linear_gaussian': 20000, 'one_layer': 5000, 'two_layer': 5000}


def _encoder_draws(objective, model, params, x, key, num_draws):
  draws = diagnostics.gradient_draws(model, objective, params, x, key, num_draws)
  return jnp.concatenate([leaf.reshape(num_draws, -1)
                          for leaf in jax.tree.leaves(draws['encoder'])], axis=1)


MODELS = ('linear_gaussian', 'one_layer', 'two_layer')


def _setup(which='linear_gaussian'):
  if which == 'linear_gaussian':
    model = LinearGaussian()
    params = model.init(jax.random.key(0))
    return model, params, jax.random.normal(jax.random.key(1), (2, model.x_dim))
  if which == 'one_layer':
    model = vae.VAE((2,), ((4,),), ((4,),), image_shape=(2, 2, 1))
  else:
    model = vae.VAE((3, 2), ((4,), (3,)), ((4,), (3,)), image_shape=(2, 2, 1))
  params = model.init(jax.random.key(0), jnp.full(4, 0.4))
  x = jnp.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]])
  return model, params, x


def _z_against_reparam(name, k, estimator, seed, which='linear_gaussian', num_groups=1):
  """|mean(g_estimator - g_reparam)| of the encoder in standard errors, paired draws."""
  model, params, x = _setup(which)
  key = jax.random.key(seed)
  objective = lambda est: objectives.make_objective(name, k, num_groups, estimator=est)
  reparam = _encoder_draws(objective('reparam'), model, params, x, key, NUM_DRAWS[which])
  other = _encoder_draws(objective(estimator), model, params, x, key, NUM_DRAWS[which])
  diff = np.asarray(other - reparam)
  stderr = diff.std(axis=0) / np.sqrt(diff.shape[0])
  assert np.all(stderr > 0), 'the estimators agree draw by draw: nothing is tested'
  return np.abs(diff.mean(axis=0)) / stderr


@pytest.mark.parametrize('which', MODELS)
def test_stl_is_unbiased_for_k1(which):
  z = _z_against_reparam('vae', 1, 'stl', seed=2, which=which)
  assert np.all(z < 4.5), z


@pytest.mark.parametrize('which', MODELS)
def test_dreg_has_the_iwae_gradient_in_expectation(which):
  z = _z_against_reparam('iwae', 5, 'dreg', seed=3, which=which)
  assert np.all(z < 4.5), z


@pytest.mark.parametrize('name, num_groups', [('miwae', 2), ('ciwae', 1), ('piwae', 2)])
def test_dreg_has_the_encoder_objectives_gradient_in_expectation(name, num_groups):
  z = _z_against_reparam(name, 3, 'dreg', seed=6, which='one_layer', num_groups=num_groups)
  assert np.all(z < 4.5), z


@pytest.mark.parametrize('which', MODELS)
def test_stl_is_biased_for_iwae(which):
  """The same test can fail: STL's IWAE encoder gradient is biased (Tucker et al. 2018)."""
  z = _z_against_reparam('iwae', 5, 'stl', seed=4, which=which)
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
