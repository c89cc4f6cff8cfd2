"""Discrete-latent models small enough to enumerate, and their exact answers.

A sigmoid belief net of two layers of 3 Bernoulli units over 2x2 binary images (64 latent
configurations, 16 images) and a categorical model of 2 variables of 3 categories (9
configurations). Every answer here is a finite sum over all configurations (or K-tuples of
them): log p(x), E_q[bound], grad KL(p(z | x) || q).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from vaejax.bounds import objectives
from vaejax.models import discrete

SBN = discrete.DiscreteVAE((3, 3), (), 2, image_shape=(2, 2, 1))
CATEGORICAL = discrete.DiscreteVAE((2,), (4,), 3, image_shape=(2, 2, 1))
X = jnp.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]])


def params(model, seed=0):
  """The model's init, every leaf moved by N(0, 0.5^2) noise so that nothing is symmetric."""
  p = model.init(jax.random.key(seed), jnp.full(model.num_inputs, 0.4))
  leaves, tree = jax.tree.flatten(p)
  keys = jax.random.split(jax.random.key(seed + 100), len(leaves))
  return jax.tree.unflatten(tree, [l + 0.5 * jax.random.normal(k, l.shape)
                                   for l, k in zip(leaves, keys)])


def _layer_values(model, l):
  if model.num_categories == 2:
    return [jnp.array(v, jnp.float32) for v in itertools.product((0, 1), repeat=model.latent_dims[l])]
  eye = np.eye(model.num_categories)
  return [jnp.asarray(np.concatenate(v), jnp.float32)
          for v in itertools.product(eye, repeat=model.latent_dims[l])]


def configurations(model):
  """Every z = [z_1, ..., z_L], each layer stacked: a list of L arrays [N, width]."""
  layers = [_layer_values(model, l) for l in range(model.num_layers)]
  combos = list(itertools.product(*layers))
  return [jnp.stack([c[l] for c in combos]) for l in range(model.num_layers)]


def images(model):
  """Every binary image [2^D, D]."""
  return jnp.array(list(itertools.product((0.0, 1.0), repeat=model.num_inputs)))


def log_joint_and_q(model, p, x):
  """(log p(x, z), log q(z | x)) [N] over every configuration z."""
  zs = configurations(model)
  def one(*z):
    log_px_given_z, log_pz = model.log_joint_terms(p, x, list(z))
    return log_px_given_z + log_pz, model.log_q(p, x, list(z))
  return jax.vmap(one)(*zs)


def exact_log_px(model, p, x):
  return jax.nn.logsumexp(log_joint_and_q(model, p, x)[0])


def expected_bound(objective: objectives.Objective, model, p, x_B):
  """mean_b E_{z_1..K ~ q}[bound(log w_1..K)], summed over all K-tuples of configurations."""
  def one(x):
    log_joint, log_q = log_joint_and_q(model, p, x)
    n, k = log_joint.shape[0], objective.total_samples
    index = jnp.array(list(itertools.product(range(n), repeat=k)))  # [N^K, K]
    logw = (log_joint - log_q)[index]
    return jnp.sum(jnp.exp(jnp.sum(log_q[index], axis=1)) * jax.vmap(objective.value)(logw))
  return jnp.mean(jax.vmap(one)(x_B))


def kl_posterior_q(model, p, x_B, q_params=None):
  """mean_b KL(p(z | x_b) || q(z | x_b)), q with q_params' encoder if given."""
  def one(x):
    log_joint, _ = log_joint_and_q(model, jax.lax.stop_gradient(p), x)
    q = p if q_params is None else {**p, 'encoder': q_params}
    log_q = log_joint_and_q(model, q, x)[1]
    log_post = log_joint - jax.nn.logsumexp(log_joint)
    return jnp.sum(jnp.exp(log_post) * (log_post - log_q))
  return jnp.mean(jax.vmap(one)(x_B))


def expected_sleep_loss(model, p, encoder):
  """E_{(z, x) ~ p}[-log q(z | x)] with the encoder `encoder`, over every (x, z)."""
  q = {**p, 'encoder': encoder}
  def one(x):
    log_joint, _ = log_joint_and_q(model, p, x)
    return -jnp.sum(jnp.exp(log_joint) * log_joint_and_q(model, q, x)[1])
  return jnp.sum(jax.vmap(one)(images(model)))
