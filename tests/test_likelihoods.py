"""Pixel likelihoods: each against a reference, bits per dimension, and a tiny training run."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from vaejax.data import datasets
from vaejax.logpx import importance
from vaejax.models import distributions
from vaejax.models import likelihoods
from vaejax.training import train
from vaejax.training import trainstate
from tests.conftest import tiny_config

LEVELS = np.arange(256)


def test_bernoulli_is_the_binarized_bernoulli_of_before():
  images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (3, 784)), jnp.uint8)
  bernoulli = likelihoods.make_likelihood('bernoulli')
  x = bernoulli.prepare(jax.random.key(0), images)
  np.testing.assert_array_equal(x, datasets.binarize(jax.random.key(0), images))
  logits = jax.random.normal(jax.random.key(1), (784,)) * 3
  np.testing.assert_array_equal(bernoulli.log_prob(x[0], logits, None),
                                distributions.bernoulli_log_prob(x[0], logits))


def test_grey_bernoulli_is_the_cross_entropy_of_the_grey_levels():
  grey = likelihoods.make_likelihood('bernoulli_grey')
  images = jnp.asarray(LEVELS, jnp.uint8)
  x = grey.prepare(jax.random.key(0), images)
  np.testing.assert_array_equal(x, grey.prepare(jax.random.key(1), images))  # No draw.
  np.testing.assert_allclose(x, LEVELS / 255.0, rtol=1e-6)
  logits = jnp.linspace(-6, 6, 256)
  p = scipy.special.expit(np.asarray(logits, np.float64))
  cross_entropy = -np.sum(LEVELS / 255.0 * np.log(p) + (1 - LEVELS / 255.0) * np.log1p(-p))
  np.testing.assert_allclose(grey.log_prob(x, logits, None), -cross_entropy, rtol=1e-5)


def test_gaussian_is_a_dequantized_density_minus_d_log_256():
  gaussian = likelihoods.make_likelihood('gaussian')
  images = jnp.asarray(LEVELS, jnp.uint8)
  x = gaussian.prepare(jax.random.key(0), images)
  assert np.all((x >= LEVELS / 256) & (x <= (LEVELS + 1) / 256))  # In the level's own cell.
  logits = jnp.linspace(-4, 4, 256)
  log_scale = jnp.linspace(-5, 0, 256)
  expected = np.sum(jax.scipy.stats.norm.logpdf(x, jax.nn.sigmoid(logits), jnp.exp(log_scale)))
  np.testing.assert_allclose(gaussian.log_prob(x, logits, log_scale),
                             expected - 256 * math.log(256), rtol=1e-5)


@pytest.mark.parametrize('loc, log_scale', [(0.5, -3.0), (0.0, -1.0), (1.0, -6.0),
                                            (0.3, -9.0), (0.7, 2.0), (-3.0, -4.0)])
def test_discretized_logistic_sums_to_one_and_matches_the_cdf(loc, log_scale):
  x = LEVELS / 255.0
  log_p = likelihoods.discretized_logistic_log_prob(jnp.asarray(x, jnp.float32), loc,
                                                    log_scale)
  assert np.all(np.isfinite(log_p))
  np.testing.assert_allclose(np.sum(np.exp(np.asarray(log_p, np.float64))), 1.0, atol=1e-4)
  cdf = lambda v: scipy.special.expit((v - loc) / np.exp(log_scale))
  edges = np.concatenate([[-np.inf], (LEVELS[:-1] + 0.5) / 255.0, [np.inf]])
  direct = cdf(edges[1:]) - cdf(edges[:-1])
  big = direct > 1e-6  # Where float64 differences of the CDF are accurate.
  np.testing.assert_allclose(np.exp(log_p[big]), direct[big], rtol=1e-3, atol=1e-6)


def test_logistic_levels_and_summed_log_prob():
  logistic = likelihoods.make_likelihood('logistic')
  images = jnp.asarray(LEVELS, jnp.uint8)
  x = logistic.prepare(None, images)
  np.testing.assert_allclose(x, LEVELS / 255.0, rtol=1e-6)
  logits, log_scale = jnp.zeros(256), jnp.full(256, -2.0)
  np.testing.assert_allclose(
      logistic.log_prob(x, logits, log_scale),
      jnp.sum(likelihoods.discretized_logistic_log_prob(x, 0.5, log_scale)), rtol=1e-6)


def test_bits_per_dim_is_nats_over_d_ln_2():
  assert importance.bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
  assert importance.bits_per_dim(3072.0, 3072) == pytest.approx(1 / math.log(2))


@pytest.mark.parametrize('likelihood', ['bernoulli', 'bernoulli_grey', 'gaussian', 'logistic'])
def test_a_tiny_epoch_improves_the_test_nll(likelihood):
  config = tiny_config(likelihood=likelihood, batch_size=50)
  exp = train.build(config)
  images = exp.dataset.train_images[:1000]
  test_images = exp.dataset.test_images[:100]
  state = trainstate.init_state(exp.model, exp.optimizer, exp.keys.init,
                           images.mean(axis=0) / 255.0)
  if likelihood not in ('bernoulli', 'bernoulli_grey'):
    assert state.params['decoder']['log_scale'].shape == (784,)
  measure = lambda params: importance.evaluate(exp.model, params, test_images, exp.keys.eval,
                                             8, 2, 100, 8)
  before = measure(state.params)
  epoch = train.make_train_epoch(
      train.make_train_step(exp.model, exp.objective, exp.optimizer), 1000, 50)
  state, metrics = epoch(state, jnp.asarray(images), exp.keys.data, exp.keys.train, 0)
  after = measure(state.params)
  assert np.all(np.isfinite(metrics['loss']))
  assert np.isfinite(after['nll']) and after['nll'] < before['nll'] - 5, (before, after)
  assert after['bits_per_dim'] == pytest.approx(after['nll'] / (784 * math.log(2)))
  assert after['bits_per_dim'] > 0
