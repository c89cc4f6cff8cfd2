"""vaejax.load: a saved run as a handful of array functions."""

import jax
import numpy as np

import vaejax
from vaejax import data


def test_load_restores_the_trained_run(trained_run):
  workdir, results = trained_run
  run = vaejax.load(workdir)
  assert run.step == results['step']
  x = data.load('mnist').test_images[:8] / 255.0
  mean, std = run.encode(x)
  assert mean.shape == std.shape == (8, 50) and np.all(std > 0)
  logits = run.decode(mean)
  assert logits.shape == (8, 784)
  samples = run.sample(jax.random.key(0), 5)
  assert samples.shape == (5, 784) and np.all((samples >= 0) & (samples <= 1))


def test_log_likelihood_is_deterministic_per_key_and_bounded_by_the_elbo(trained_run):
  workdir, _ = trained_run
  run = vaejax.load(workdir)
  x = (data.load('mnist').test_images[:16] > 127).astype(np.float32)
  a = run.log_likelihood(x, jax.random.key(1), num_samples=100)
  np.testing.assert_array_equal(a, run.log_likelihood(x, jax.random.key(1), num_samples=100))
  assert a.shape == (16,) and np.all(a < 0)
  one_sample = np.mean(run.log_likelihood(x, jax.random.key(2), num_samples=1))
  assert np.mean(a) > one_sample
