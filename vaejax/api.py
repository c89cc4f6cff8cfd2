"""vaejax.load(workdir): a trained run as a few pure-array methods, for notebooks."""

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.typing import ArrayLike

from vaejax import data
from vaejax import evaluate
from vaejax import likelihoods
from vaejax import models
from vaejax import runs
from vaejax import train
from vaejax.errors import UserError
from vaejax.models import VAE, Params, make_model


@dataclasses.dataclass(frozen=True)
class Run:
  """A run's config, model and newest parameters. x is [N, D] (D = H * W * C of the run's
  images) with values in [0, 1]."""
  config: ml_collections.ConfigDict
  model: VAE
  params: Params
  step: int

  def encode(self, x: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """(mean, std) of q(z | x), each [N, latent_dim]."""
    return models.encode_batch(self.model, self.params, jnp.asarray(x, jnp.float32))

  def decode(self, z: ArrayLike) -> jax.Array:
    """The decoder's outputs [N, D] given latents z [N, latent_dim] (Bernoulli: logits)."""
    return models.decode_batch(self.model, self.params, jnp.asarray(z, jnp.float32))

  def mean(self, z: ArrayLike) -> jax.Array:
    """The mean images [N, D] in [0, 1] given latents z [N, latent_dim]."""
    return likelihoods.mean(self.decode(z))

  def log_likelihood(self, x: ArrayLike, num_samples: int, key: jax.Array) -> jax.Array:
    """Per-example importance-sampled log p(x) in nats, [N], of x as the run's likelihood
    prepares it (binary for Bernoulli, dequantized for Gaussian, k / 255 for logistic)."""
    x, key = _checked_images(x, self.model, key)
    stats = evaluate.importance_sample(self.model, self.params, jnp.asarray(x, jnp.float32),
                                       key, num_samples)
    return jnp.asarray(stats['log_px'])

  def sample(self, key: jax.Array, n: int) -> jax.Array:
    """n mean images [n, D] in [0, 1] of latents drawn from the prior."""
    return _sample(self.model, self.params, key, n)


def _checked_images(x: ArrayLike, model: VAE, key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """x as the model's likelihood takes it, and a key for what follows; a one-line UserError
  for images it cannot score.

  uint8 images are prepared with the likelihood (Bernoulli: binarized) from a key split off
  `key`; floats must be in [0, 1], and binary for a Bernoulli model.
  """
  x = np.asarray(x)
  if x.ndim != 2 or x.shape[1] != model.num_pixels:
    raise UserError(f'images must be [N, {model.num_pixels}] (N flattened '
                    f'{"x".join(map(str, model.image_shape))} images), got {list(x.shape)}')
  if x.dtype == np.uint8:
    prepare_key, key = jax.random.split(key)
    return model.likelihood.prepare(prepare_key, jnp.asarray(x)), key
  if np.isnan(x).any():
    raise UserError('images contain NaN')
  if x.min() < 0 or x.max() > 1:
    raise UserError(f'image values must be in [0, 1] (or uint8), got [{x.min()}, {x.max()}]')
  if model.likelihood.name == 'bernoulli' and not np.isin(x, (0, 1)).all():
    raise UserError('a Bernoulli model scores binary images: binarize them, or pass uint8 '
                    'images to be binarized with the run\'s likelihood and key')
  return jnp.asarray(x, jnp.float32), key


@functools.partial(jax.jit, static_argnums=(0, 3))
def _sample(model, params, key, n):
  return model.sample(params, key, n)


def load(workdir: str | os.PathLike) -> Run:
  """Restores a run's config and the parameters of its newest complete checkpoint.

  The images' shape comes from the run's run.json (runs from before it: from its dataset).
  """
  config = runs.read_config(workdir)
  image_shape = runs.read_run_info(workdir).get('image_shape') or data.load(
      config.dataset, config.data_dir or None).image_shape
  model = make_model(config.architecture, config.latent_dim, tuple(image_shape),
                     config.likelihood)
  optimizer = train.make_optimizer(config, steps_per_epoch=1)
  target = jax.eval_shape(lambda: train.init_state(model, optimizer, jax.random.key(0),
                                                   jnp.zeros(model.num_pixels)))
  checkpoints = runs.Checkpoints(workdir)
  step = max(checkpoints.verified_steps(), default=None)
  if step is None:
    raise UserError(f'{workdir} holds no complete checkpoint yet')
  state = checkpoints.restore(step, target)
  checkpoints.close()
  return Run(config, model, state.params, step)
