"""A VAE's latents as one flat vector z = (z_1, ..., z_L), and the densities over it that
AIS and quadrature integrate: log p(z), log p(x | z), log q(z | x), and draws from p and q.

Every function is for one image x [D] and one z [sum of latent_dims], built from the model's
own layers (vaejax/models/vae.py), so a two-layer model's prior is its p(z_1 | z_2) p(z_2).
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from vaejax.models import distributions
from vaejax.models.vae import VAE, Params


def size(model: VAE) -> int:
  """The length of the flat z: the sum of the model's latent sizes."""
  return sum(model.latent_dims)


def split(model: VAE, z: ArrayLike) -> list[jax.Array]:
  """The flat z [size] as the layers' [z_1, ..., z_L]."""
  bounds = [sum(model.latent_dims[:l]) for l in range(1, model.num_layers)]
  return jnp.split(jnp.asarray(z), bounds)


def log_prior(model: VAE, params: Params, z: ArrayLike) -> jax.Array:
  """log p(z) = log p(z_L) + sum_l log p(z_l | z_{l+1}), a scalar."""
  return model.log_prior(params, split(model, z))


def log_likelihood(model: VAE, params: Params, x: ArrayLike, z: ArrayLike) -> jax.Array:
  """log p(x | z) = log p(x | z_1) of an image x [D] as the likelihood prepares it."""
  logits = model.decoder_layer(params, 0, split(model, z)[0])
  return model.likelihood.log_prob(x, logits, params['decoder'].get('log_scale'))


def log_joint(model: VAE, params: Params, x: ArrayLike, z: ArrayLike) -> jax.Array:
  """log p(x, z) = log p(z) + log p(x | z)."""
  return log_prior(model, params, z) + log_likelihood(model, params, x, z)


def log_posterior(model: VAE, params: Params, x: ArrayLike, z: ArrayLike) -> jax.Array:
  """log q(z | x) = sum_l log q(z_l | z_{l-1}), z_0 = x."""
  h, log_qz = x, 0.0
  for l, z_l in enumerate(split(model, z)):
    log_qz += distributions.gaussian_log_prob(z_l, *model.encoder_layer(params, l, h))
    h = z_l
  return log_qz


def sample_prior(model: VAE, params: Params, key: jax.Array) -> jax.Array:
  """One ancestral draw z ~ p(z), flat [size]."""
  return jnp.concatenate(model.sample_prior(params, key))


def sample_posterior(model: VAE, params: Params, x: ArrayLike, key: jax.Array) -> jax.Array:
  """One draw z ~ q(z | x), flat [size]."""
  zs, _, _ = model.sample_posterior(params, x, key)
  return jnp.concatenate(zs)
