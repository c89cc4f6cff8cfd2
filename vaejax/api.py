"""vaejax.load(workdir): a trained run as a few pure-array methods, for notebooks.

What a run offers follows its model: an unsupervised run (a VAE) encodes, decodes, samples
and scores images; a semi-supervised one (M2) classifies, samples by class and scores
images. Asking a run for what its model does not have is a one-line UserError.
"""

import dataclasses
import functools
import os
import pathlib
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.typing import ArrayLike

from vaejax import runs
from vaejax.errors import UserError
from vaejax.logpx import marginal
from vaejax.models import likelihoods
from vaejax.models import vae
from vaejax.models.m2 import M2
from vaejax.models.vae import VAE, Params
from vaejax.training import train_m2


@dataclasses.dataclass(frozen=True)
class Run:
  """A run's config, model and newest parameters. x is [N, D] (D = H * W * C of the run's
  images) with values in [0, 1].

  `model` is a VAE for unsupervised runs and an M2 for semi-supervised ones, whose inputs are
  the images (architecture m2) or an M1 run's latent means of them (m1m2: `inputs` maps
  images to them).
  """
  config: ml_collections.ConfigDict
  model: VAE | M2
  params: Params
  step: int
  inputs: Callable[[np.ndarray], np.ndarray] | None = None

  def _m2(self, what: str) -> M2:
    if not isinstance(self.model, M2):
      raise UserError(f'{what} needs a semi-supervised (M2) run; this run is an unsupervised '
                      f'{self.config.architecture} VAE with no classifier')
    return self.model

  def _vae(self, what: str) -> VAE:
    if not isinstance(self.model, VAE):
      raise UserError(f'{what} is for unsupervised (VAE) runs; this run is a semi-supervised '
                      f'{self.config.architecture} run: use class_probs, classify, sample or '
                      f'log_likelihood')
    return self.model

  def _images(self, what: str) -> M2:
    model = self._m2(what)
    if self.inputs is not None:
      raise UserError(f'{what}: an m1m2 run models an M1 run\'s latent means, not images; '
                      f'use its M1 run ({self.config.m1_workdir})')
    return model

  def class_probs(self, x: ArrayLike) -> np.ndarray:
    """q(y | x) [N, C] of images x [N, D] in [0, 1]."""
    model = self._m2('class_probs')
    x = np.asarray(x, np.float32)
    return train_m2.class_probs(model, self.params, self.inputs(x) if self.inputs else x)

  def classify(self, x: ArrayLike) -> np.ndarray:
    """The most probable class [N] of images x [N, D] in [0, 1]."""
    return np.argmax(self.class_probs(x), axis=-1)

  def encode(self, x: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """(mean, std) of q(z | x), each [N, latent_dim]."""
    return vae.encode_batch(self._vae('encode'), self.params, jnp.asarray(x, jnp.float32))

  def decode(self, z: ArrayLike) -> jax.Array:
    """The decoder's outputs [N, D] given latents z [N, latent_dim] (Bernoulli: logits)."""
    return vae.decode_batch(self._vae('decode'), self.params, jnp.asarray(z, jnp.float32))

  def mean(self, z: ArrayLike) -> jax.Array:
    """The mean images [N, D] in [0, 1] given latents z [N, latent_dim]."""
    return likelihoods.mean(vae.decode_batch(self._vae('mean'), self.params,
                                                jnp.asarray(z, jnp.float32)))

  def log_likelihood(self, x: ArrayLike, key: jax.Array, method: str = 'is',
                     **options) -> jax.Array:
    """Per-example log p(x) in nats, [N], of x as the run's likelihood prepares it (binary
    for Bernoulli, dequantized for Gaussian, k / 255 for logistic).

    method: 'is' (importance sampling; num_samples=5000), 'ais' (num_steps, num_chains,
    num_leapfrog_steps, start='prior' | 'posterior', ...: vaejax/logpx/ais.py) or 'quadrature'
    (exact for a 2-D latent space; half_width, num_points). See marginal.log_likelihood.
    An M2 run's is by importance sampling (num_samples=5000), summed over the classes.
    """
    if isinstance(self.model, M2):
      model = self._images('log_likelihood')
      if method != 'is':
        raise UserError(f"an M2 run's log p(x) is by importance sampling only (method='is'), "
                        f'not {method!r}')
      x, key = _checked_images(x, model, key)
      return jnp.asarray(train_m2.prepared_log_likelihood(
          model, self.params, x, key, options.get('num_samples', 5000)))
    x, key = _checked_images(x, self.model, key)
    return jnp.asarray(marginal.log_likelihood(self.model, self.params, x, key, method,
                                               **options))

  def sample(self, key: jax.Array, n: int, labels: ArrayLike | None = None) -> jax.Array:
    """n mean images [n, D] in [0, 1] of latents drawn from the prior; for an M2 run, of
    the classes `labels` [n] (default: 0, 1, ..., C - 1, 0, ...)."""
    if labels is None and not isinstance(self.model, M2):
      return _sample(self.model, self.params, key, n)
    model = self._images('sample with labels')
    labels = np.arange(n) % model.num_classes if labels is None else np.asarray(labels)
    if labels.shape != (n,) or labels.min() < 0 or labels.max() >= model.num_classes:
      raise UserError(f'labels must be {n} integers in 0..{model.num_classes - 1}')
    return likelihoods.mean(model.sample(self.params, key, labels))


def _checked_images(x: ArrayLike, model: VAE | M2,
                    key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """x as the model's likelihood takes it, and a key for what follows; a one-line UserError
  for images it cannot score.

  uint8 images are prepared with the likelihood (Bernoulli: binarized) from a key split off
  `key`; floats must be in [0, 1], and binary for a Bernoulli model.
  """
  x = np.asarray(x)
  if x.ndim != 2 or x.shape[1] != model.num_inputs:
    shape = getattr(model, 'image_shape', None)
    raise UserError(f'images must be [N, {model.num_inputs}]'
                    + (f' (N flattened {"x".join(map(str, shape))} images)' if shape else '')
                    + f', got {list(x.shape)}')
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


def load(workdir: str | os.PathLike, params: str = 'best', step: int | None = None) -> Run:
  """A run's config, model and parameters (runs.restore): no dataset is needed, and an m1m2
  run maps images to its M1 features with the feature map saved in it.

  Args:
    workdir: the run directory.
    params: for a semi-supervised run, 'best' (default): the parameters of the least
      validation error, those its results report; or 'last': its newest checkpoint's.
      Unsupervised runs have only their newest checkpoint's.
    step: the checkpoint to restore instead (e.g. to follow how features change as a run
      trains); None: as `params` says.
  """
  if params not in ('best', 'last'):
    raise UserError(f"params must be 'best' or 'last', got {params!r}")
  config = runs.read_config(workdir)
  inputs = None
  if config.architecture == 'm1m2':
    if not (pathlib.Path(workdir) / train_m2.M1_FILE).exists():
      raise UserError(f'{workdir} is an m1m2 run from before M1 feature maps were saved in '
                      'the run directory: train it again')
    inputs = train_m2.read_feature_map(str(workdir))[0]
  restored = runs.restore(workdir, step)
  best = (train_m2.read_best_params(str(workdir))
          if isinstance(restored.model, M2) and params == 'best' and step is None else None)
  if best is not None:
    return Run(config, restored.model, best[0], best[1], inputs)
  return Run(*restored, inputs)
