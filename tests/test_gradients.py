"""The training step's gradients against central finite differences, in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaejax.bounds import gradients
from vaejax.bounds import objectives
from vaejax.models import vae
from tests.linear_gaussian import LinearGaussian


def _directional_fd(f, params, direction, eps=1e-5):
  shift = lambda s: jax.tree.map(lambda p, d: p + s * d, params, direction)
  return (f(shift(eps)) - f(shift(-eps))) / (2 * eps)


def _random_like(tree, key):
  leaves, treedef = jax.tree.flatten(tree)
  keys = jax.random.split(key, len(leaves))
  return treedef.unflatten([jax.random.normal(k, l.shape, l.dtype) for k, l in zip(keys, leaves)])


def _dot(a, b):
  return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _only(tree, part):
  return {k: jax.tree.map(jnp.zeros_like, v) if k != part else v for k, v in tree.items()}


TINY_ONE_LAYER = vae.VAE((3,), ((8,),), ((8,),))
TINY_TWO_LAYER = vae.VAE((3, 2), ((8,), (4,)), ((8,), (4,)))


@pytest.mark.parametrize('name, model', [('vae', TINY_ONE_LAYER), ('iwae', TINY_ONE_LAYER),
                                         ('miwae', TINY_ONE_LAYER), ('ciwae', TINY_ONE_LAYER),
                                         ('vae', TINY_TWO_LAYER), ('iwae', TINY_TWO_LAYER)])
def test_reparameterized_gradient_matches_finite_differences(name, model):
  with jax.enable_x64(True):
    params = jax.tree.map(lambda p: p.astype(jnp.float64),
                          model.init(jax.random.key(0), jnp.full(784, 0.3)))
    x = jax.random.bernoulli(jax.random.key(1), 0.3, (2, 784)).astype(jnp.float64)
    objective = objectives.make_objective(name, num_samples=3, num_groups=2, beta=0.4)
    key = jax.random.key(2)
    loss = lambda p: gradients.loss_and_grads(model, objective, p, x, key)[0]
    _, grads = gradients.loss_and_grads(model, objective, params, x, key)
    direction = _random_like(params, jax.random.key(3))
    np.testing.assert_allclose(_dot(grads, direction),
                               _directional_fd(loss, params, direction), rtol=1e-6)


def test_piwae_gradients_follow_two_objectives():
  """PIWAE: the decoder ascends IWAE_{MK}, the encoder MIWAE(M, K)."""
  with jax.enable_x64(True):
    model = LinearGaussian()
    params = jax.tree.map(lambda p: p.astype(jnp.float64), model.init(jax.random.key(0)))
    x = jax.random.normal(jax.random.key(1), (3, model.x_dim), jnp.float64)
    objective = objectives.make_objective('piwae', num_samples=3, num_groups=2)
    key = jax.random.key(2)
    _, grads = gradients.loss_and_grads(model, objective, params, x, key)
    direction = _random_like(params, jax.random.key(3))
    for part, bound in (('decoder', objectives.iwae),
                        ('encoder', lambda w: objectives.miwae(w, 2))):
      def loss(p):
        logw = jax.vmap(model.log_weights, in_axes=(None, 0, 0, None))(
            p, x, jax.random.split(key, 3), 6)
        return -jnp.mean(jax.vmap(bound)(logw))
      d = _only(direction, part)
      np.testing.assert_allclose(_dot(grads, d), _directional_fd(loss, params, d), rtol=1e-6)
