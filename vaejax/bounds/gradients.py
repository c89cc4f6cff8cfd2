"""A training step's loss and gradient estimate: one forward pass, a backward pass per network."""

import functools

import jax
import jax.numpy as jnp

from vaejax.bounds import estimators
from vaejax.bounds.objectives import Objective
from vaejax.models.vae import VAE, Params


def loss_and_grads(model: VAE, objective: Objective, params: Params, x: jax.Array,
                   key: jax.Array) -> tuple[jax.Array, Params]:
  """The batch's mean negative bound and the estimator's gradient of it.

  Args:
    model: the VAE.
    objective: the bound and the encoder's gradient estimator.
    params: model parameters.
    x: images [B, D], as the model's likelihood prepares them.
    key: the batch's sampling key (one key per example is split from it).

  Returns:
    (loss, grads): -mean_b bound(x_b) and a gradient pytree like params.
  """
  if objective.estimator in estimators.NAMES:  # No reparameterization: estimators.py.
    return estimators.loss_grads_and_state(model, objective, params, x, key)[:2]
  batch_size = x.shape[0]
  keys = jax.random.split(key, batch_size)
  per_example = functools.partial(model.log_weights, num_samples=objective.total_samples,
                                  stop_q_params=objective.stops_q_params)
  logw_BxS, pullback = jax.vjp(
      lambda p: jax.vmap(per_example, in_axes=(None, 0, 0))(p, x, keys), params)
  decoder_w, encoder_w = jax.vmap(objective.gradient_weights)(logw_BxS)
  (grads,) = pullback(-decoder_w / batch_size)
  if not objective.shares_weights:
    (encoder_grads,) = pullback(-encoder_w / batch_size)
    grads = {'encoder': encoder_grads['encoder'], 'decoder': grads['decoder']}
  loss = -jnp.mean(jax.vmap(objective.value)(logw_BxS))
  return loss, grads
