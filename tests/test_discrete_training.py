"""Discrete-latent models and the estimators without reparameterization in the real trainer:
run directories, resumption with the estimator's state, evaluation, pictures, the notebook
API."""

import shutil

import jax
import numpy as np
import pytest

import vaejax
from vaejax import runs
from vaejax.training import train
from tests.conftest import tiny_config


def _config(small_mnist, **overrides):
  return tiny_config(**small_mnist, **{'architecture': 'sbn_linear', 'latent_dim': 10,
                                       'num_samples': 3, 'eval_num_samples': 8, **overrides})


@pytest.mark.heavy
def test_nvil_run_resumes_with_its_baseline_along_the_same_path(small_mnist, tmp_path):
  config = _config(small_mnist, gradient_estimator='nvil', num_epochs=2)  # 10 steps an epoch.
  a, b = tmp_path / 'a', tmp_path / 'b'
  results = train.train_and_evaluate(config, str(a))
  shutil.copytree(a, b)
  shutil.rmtree(b / runs.CHECKPOINT_DIR / '20')
  (b / runs.RESULTS_FILE).unlink()
  train.train_and_evaluate(config, str(b))
  assert (a / runs.METRICS_FILE).read_bytes() == (b / runs.METRICS_FILE).read_bytes()
  run_a, run_b = vaejax.load(a), vaejax.load(b)
  jax.tree.map(np.testing.assert_array_equal, run_a.params, run_b.params)
  state = run_a.params['estimator']
  assert float(state['mean']) < 0 and float(state['var']) > 0  # Moved from their zeros.
  assert results['iwae_k'] >= results['elbo'] and -results['nll'] >= results['iwae_k'] - 1
  assert np.isfinite([results['encoder_snr'], results['decoder_snr']]).all()
  assert {p.name.rsplit('_', 1)[0] for p in (a / runs.PICTURES_DIR).iterdir()} == {
      'prior_samples', 'reconstructions'}
  x = np.asarray(run_a.sample(jax.random.key(0), 3) > 0.5, np.float32)
  assert run_a.log_likelihood(x, jax.random.key(1), num_samples=10).shape == (3,)


def test_concrete_run_anneals_its_temperature(small_mnist, tmp_path):
  config = _config(small_mnist, architecture='categorical', latent_dim=4, objective='vae',
                   num_samples=1, gradient_estimator='concrete',
                   temperature_schedule='exponential', temperature_min=0.5,
                   temperature_decay=0.05)
  results = train.train_and_evaluate(config, str(tmp_path))
  assert np.isfinite(results['nll'])
  temperature = vaejax.load(tmp_path).params['estimator']['temperature']
  np.testing.assert_allclose(temperature, max(0.5, np.exp(-0.05 * 10)), rtol=1e-5)
