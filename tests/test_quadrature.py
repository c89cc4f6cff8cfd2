"""Quadrature: exact log p(x) of 2-D latent models."""

import functools

import jax
import numpy as np
import pytest

import vaejax
from vaejax.logpx import quadrature
from vaejax.models.vae import VAE

from linear_gaussian import LinearGaussian


def test_quadrature_equals_the_linear_gaussian_log_px():
  model = LinearGaussian(x_dim=4, z_dim=2)
  params = model.init(jax.random.key(0))
  x = 2 * jax.random.normal(jax.random.key(1), (5, 4))
  exact = jax.vmap(model.exact_log_px, in_axes=(None, 0))(params, x)
  got = quadrature.log_marginal(functools.partial(model.log_joint, params), x, 8.0, 300)
  np.testing.assert_allclose(got, exact, atol=1e-3)


def test_quadrature_needs_one_two_dimensional_layer():
  model = VAE((3,), ((8,),), ((8,),))
  params = model.init(jax.random.key(0), np.full(784, 0.3))
  with pytest.raises(vaejax.UserError, match='2 units'):
    quadrature.log_likelihood(model, params, np.zeros((1, 784)))
