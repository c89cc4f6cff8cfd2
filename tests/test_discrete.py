"""Discrete-latent models (vaejax/models/discrete.py): exact answers by enumeration, the Concrete
relaxation's limit, straight-through's forward pass, and the densities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaejax.logpx import importance
from vaejax.models import discrete
from vaejax.models import distributions
from vaejax.models import vae
from tests import enumerable

MODELS = {'sbn': enumerable.SBN, 'categorical': enumerable.CATEGORICAL}


def test_categorical_log_prob_is_the_chosen_categories_log_probabilities():
  logits = jnp.array([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]])
  z = jnp.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
  expected = np.log(np.exp(2) / np.exp([0, 1, 2]).sum()) + np.log(
      np.exp(3) / np.exp([3, -1, 0.5]).sum())
  np.testing.assert_allclose(distributions.categorical_log_prob(z, logits), expected, rtol=1e-6)


@pytest.mark.parametrize('which', MODELS)
def test_p_and_q_are_normalized(which):
  """sum_x p(x) = 1 and sum_z q(z | x) = 1: catches a wrong density or a missing layer."""
  model = MODELS[which]
  p = enumerable.params(model)
  log_px = jax.vmap(lambda x: enumerable.exact_log_px(model, p, x))(enumerable.images(model))
  np.testing.assert_allclose(jax.nn.logsumexp(log_px), 0.0, atol=1e-5)
  log_q = enumerable.log_joint_and_q(model, p, enumerable.X[0])[1]
  np.testing.assert_allclose(jax.nn.logsumexp(log_q), 0.0, atol=1e-5)
  assert log_q.shape == ((64,) if which == 'sbn' else (9,))


@pytest.mark.parametrize('which', MODELS)
def test_importance_sampling_with_q_finds_the_exact_log_px(which):
  """The draws of sample_posterior follow the q that log_q scores: the IS estimate with q as
  the proposal (20,000 draws, standard error ~0.01 here) is the enumerated log p(x)."""
  model = MODELS[which]
  p = enumerable.params(model)
  exact = jax.vmap(lambda x: enumerable.exact_log_px(model, p, x))(enumerable.X)
  estimate = importance.importance_sample(model, p, enumerable.X, jax.random.key(3), 20000)
  np.testing.assert_allclose(estimate['log_px'], exact, atol=0.03)
  assert np.all(estimate['elbo'] < exact)


@pytest.mark.parametrize('which', MODELS)
def test_relaxed_bound_tends_to_the_discrete_one_as_the_temperature_falls(which):
  """The same draws' IWAE_2 bound, relaxed at tau and discrete: the mean gap over 4000 draws
  falls with tau, to under 0.05 nats (and a tenth of tau = 1's) at tau = 0.01."""
  model, p = MODELS[which], enumerable.params(MODELS[which])
  keys = jax.random.split(jax.random.key(4), 4000)
  def bound(relaxation, tau):
    logw = jax.vmap(lambda k: model.log_weights(p, enumerable.X[0], k, 2, relaxation=relaxation,
                                                temperature=tau))(keys)
    return jax.nn.logsumexp(logw, axis=1) - np.log(2)
  discrete_bound = bound(None, 1.0)
  gaps = [float(jnp.mean(jnp.abs(bound('concrete', tau) - discrete_bound)))
          for tau in (1.0, 0.3, 0.1, 0.01)]
  assert gaps[0] > gaps[1] > gaps[2] > gaps[3], gaps
  assert gaps[0] > 10 * gaps[3] and gaps[3] < 0.05, gaps


@pytest.mark.parametrize('which', MODELS)
def test_straight_through_forward_pass_is_the_discrete_draw(which):
  model, p = MODELS[which], enumerable.params(MODELS[which])
  key, x = jax.random.key(5), enumerable.X[0]
  hard = model.sample_posterior(p, x, key)[0]
  st = model.sample_posterior(p, x, key, relaxation='straight_through', temperature=0.5)[0]
  for a, b in zip(hard, st):
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a).tolist()) <= {0.0, 1.0}
  np.testing.assert_array_equal(
      model.log_weights(p, x, key, 3),
      model.log_weights(p, x, key, 3, relaxation='straight_through', temperature=0.5))
  # The discrete draw carries no gradient to the encoder's first layer; straight-through does.
  first = lambda relaxation: jax.grad(lambda q: jnp.sum(model.sample_posterior(
      {**p, 'encoder': q}, x, key, relaxation=relaxation, temperature=0.5)[0][-1]))(
          p['encoder'])['z1']
  assert all(np.all(g == 0) for g in jax.tree.leaves(first(None)))
  assert any(np.any(g != 0) for g in jax.tree.leaves(first('straight_through')))


def test_architectures():
  linear = vae.make_model('sbn_linear', 200)
  assert (linear.latent_dims, linear.hidden, linear.num_categories) == ((200,) * 3, (), 2)
  nonlinear = vae.make_model('sbn_nonlinear', 200)
  assert nonlinear.hidden == (200, 200)
  categorical = vae.make_model('categorical', 20)
  assert (categorical.latent_dims, categorical.num_categories, categorical.latent_dim) == (
      (20,), 10, 200)
  p = linear.init(jax.random.key(0), jnp.full(784, 0.2))
  assert p['encoder']['z1']['Dense_0']['kernel'].shape == (784, 200)
  assert p['decoder']['x']['Dense_0']['kernel'].shape == (200, 784)
  assert p['decoder']['prior'].shape == (200,)
  np.testing.assert_allclose(p['decoder']['x']['Dense_0']['bias'], np.log(0.2 / 0.8), rtol=1e-5)
  # A sample is binary and the mean images are probabilities.
  zs, x = linear.sample_joint(p, jax.random.key(1))
  assert [z.shape for z in zs] == [(200,)] * 3 and set(np.unique(x).tolist()) <= {0.0, 1.0}
  images = linear.sample(p, jax.random.key(2), 4)
  assert images.shape == (4, 784) and np.all((images >= 0) & (images <= 1))


def test_discrete_models_take_binary_images_only():
  with pytest.raises(discrete.UserError, match="likelihood must be 'bernoulli'"):
    vae.make_model('sbn_linear', 10, likelihood='gaussian')
