"""AIS and BDMC against exact log p(x): the linear-Gaussian model and 2-D VAEs by quadrature."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vaejax
from vaejax.data import datasets
from vaejax.logpx import ais
from vaejax.logpx import marginal
from vaejax.logpx import quadrature
from vaejax.models.vae import VAE

from linear_gaussian import LinearGaussian

ROOT = pathlib.Path(__file__).parent.parent


def _vae(latent_dims, hidden, decoder_scale=1.0):
  """A randomly initialised small VAE on MNIST's shape; decoder_scale sharpens p(x | z)."""
  model = VAE(latent_dims, tuple((h,) for h in hidden), tuple((h,) for h in hidden))
  pixel_mean = datasets.load('mnist').train_images[:1000].mean(0) / 255
  params = model.init(jax.random.key(0), pixel_mean)
  params['decoder']['x']['Dense_1']['kernel'] *= decoder_scale
  return model, params


def _test_images(n):
  return datasets.binarize(jax.random.key(1), jnp.asarray(datasets.load('mnist').test_images[:n]))


def test_ais_converges_to_the_linear_gaussian_log_px():
  model = LinearGaussian(x_dim=4, z_dim=2)
  params = model.init(jax.random.key(0))
  x = 2 * jax.random.normal(jax.random.key(1), (4, 4))
  exact = jax.vmap(model.exact_log_px, in_axes=(None, 0))(params, x)
  errors = {}
  for num_steps in (10, 500):
    options = ais.Options(num_steps=num_steps, num_chains=64, num_leapfrog_steps=5,
                          initial_step_size=0.2)
    got = ais.estimate(model.ais_path, params, x, jax.random.key(2), options)['log_px']
    errors[num_steps] = np.mean(np.abs(got - exact))
  assert errors[500] < 0.1  # Nats, mean over the 4 images.
  assert errors[500] < errors[10]


def test_ais_and_importance_sampling_match_quadrature_on_a_2d_vae():
  """On a sharpened decoder's own samples (as the BDMC test): the posterior is far from the
  prior and from q, so that one importance sample misses log p(x) by ~2 nats (measured 2.06;
  0.93 unsharpened); 5000 samples by 0.02, AIS with 200 steps by 0.08."""
  model, params = _vae((2,), (32,), decoder_scale=4.0)
  x, _ = ais.simulate(model, params, jax.random.key(5), 8)
  exact = quadrature.log_likelihood(model, params, x)
  one = marginal.log_likelihood(model, params, x, jax.random.key(2), 'is', num_samples=1)
  is_ = marginal.log_likelihood(model, params, x, jax.random.key(2), 'is', num_samples=5000)
  ais_ = marginal.log_likelihood(model, params, x, jax.random.key(3), 'ais', num_steps=200,
                                 num_chains=16)
  assert np.median(exact - one) > 1.5
  assert np.median(np.abs(is_ - exact)) < 0.05
  assert np.median(np.abs(ais_ - exact)) < 0.15


@pytest.mark.heavy
def test_two_layer_ais_from_prior_and_from_posterior_agree():
  model, params = _vae((4, 2), (16, 8))
  x = _test_images(8)
  options = dict(num_steps=200, num_chains=16)
  from_prior = marginal.log_likelihood(model, params, x, jax.random.key(3), 'ais', **options)
  from_q = marginal.log_likelihood(model, params, x, jax.random.key(4), 'ais',
                                   start='posterior', **options)
  is_ = marginal.log_likelihood(model, params, x, jax.random.key(2), 'is', num_samples=1000)
  assert np.median(np.abs(from_prior - from_q)) < 0.25
  # The random encoder's q(z_1 | x) is a poor proposal: AIS is the tighter bound.
  assert np.mean(from_prior) > np.mean(is_) and np.mean(from_q) > np.mean(is_)


def test_bdmc_brackets_the_exact_log_px_and_its_gap_falls_with_the_steps():
  model, params = _vae((2,), (32,), decoder_scale=4.0)
  x, z = ais.simulate(model, params, jax.random.key(5), 16)
  assert set(np.unique(x)) == {0.0, 1.0}
  exact = np.mean(quadrature.log_likelihood(model, params, x))
  gaps = []
  for num_steps in (5, 20, 100):
    bounds = ais.bdmc(ais.VAEPath(model), params, x, z, jax.random.key(3),
                      ais.Options(num_steps=num_steps, num_chains=4))
    lower, upper = np.mean(bounds['log_px']), np.mean(bounds['upper'])
    assert lower < exact < upper
    gaps.append(upper - lower)
  assert gaps[0] > gaps[1] > gaps[2] > 0  # Measured: 3.7, 1.7, 0.5 nats.


def test_estimates_do_not_depend_on_the_batch_size():
  model, params = _vae((2,), (8,))
  x = _test_images(5)
  options = ais.Options(num_steps=5, num_chains=3, num_leapfrog_steps=2)
  a = ais.log_likelihood(model, params, x, jax.random.key(0), options, batch_size=2)
  b = ais.log_likelihood(model, params, x, jax.random.key(0), options, batch_size=5)
  np.testing.assert_allclose(a['log_px'], b['log_px'], rtol=1e-6)


@pytest.mark.parametrize('options, message', [
    ({'start': 'middle'}, 'unknown AIS start'),
    ({'num_steps': 0}, 'num_steps must be at least 1'),
    ({'num_samples': 10}, "method 'ais' takes options"),
])
def test_bad_ais_options_are_user_errors(options, message):
  model, params = _vae((2,), (8,))
  with pytest.raises(vaejax.UserError, match=message):
    marginal.log_likelihood(model, params, _test_images(1), jax.random.key(0), 'ais', **options)


def _evaluate(*args, returncode=0):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu'}
  result = subprocess.run([sys.executable, str(ROOT / 'experiments' / 'evaluate.py'), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
  assert result.returncode == returncode, result.stderr[-3000:]
  return result.stdout if returncode == 0 else result.stderr


def test_evaluate_script_writes_each_method_and_bad_input_is_one_line(trained_run, tmp_path):
  workdir, _ = trained_run
  copy = tmp_path / 'run'
  shutil.copytree(workdir, copy)
  small = ['--num_images=3', '--num_steps=4', '--num_chains=2', '--num_leapfrog_steps=2']
  out = _evaluate(f'--workdir={copy}', '--method=ais', *small)
  assert '| method | images | log p(x) | seconds |' in out and '| ais | 3 |' in out
  results = json.loads((copy / 'evaluation_ais.json').read_text())
  assert results['options']['num_steps'] == 4 and len(results['per_image']['log_px']) == 3
  assert results['log_px']['mean'] < 0
  _evaluate(f'--workdir={copy}', '--method=bdmc', *small)
  bdmc = json.loads((copy / 'evaluation_bdmc.json').read_text())
  assert set(bdmc['per_image']) == {'lower', 'upper', 'gap'}
  err = _evaluate(f'--workdir={copy}', '--method=quadrature', '--num_images=3', returncode=1)
  assert err.strip() == ('error: quadrature needs one stochastic layer of 2 units, not latent '
                         'sizes (50,)')
