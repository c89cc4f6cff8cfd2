"""M1: a trained VAE's posterior q(z | x) as features for other tasks.

A FeatureMap turns images into the moments (mean and std) of q(z | x) of the chosen units: the
means are the features a probe or M1 + M2 classifies, and M1 + M2 trains on fresh draws
mean + std * eps (Kingma et al.'s released code). Two choices, measured in the README:

- the input: the grey levels x / 255 (`binarizations=0`, the released code's), or the images
  binarized `binarizations` times, q's moments then those of the mixture over the draws
  (the mean of the means; the variance the mean of the variances plus that of the means);
- the units and their scale: `scaling='standardized'` keeps the active units (posterior-mean
  variance over the training images > importance.ACTIVE_UNIT_THRESHOLD) and standardizes them;
  `scaling='released'` keeps the units whose posterior-mean std over the first
  RELEASED_UNIT_IMAGES unlabelled images exceeds 0.1, unscaled.

For two stochastic layers, `layers='top'` gives q(z_L | x) with the lower layers at their
means, `layers='all'` every layer side by side. `encoder_hidden` gives the other features a
probe can read: the activations of the last hidden layer of q(z_1 | x)'s MLP.
"""

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vaejax.data import datasets
from vaejax.errors import UserError
from vaejax.logpx import importance
from vaejax.models.vae import VAE, Params
from vaejax.semisupervised import classifiers

LAYERS = ('top', 'all')
SCALINGS = ('standardized', 'released')
RELEASED_UNIT_IMAGES = 1000
BATCH = 1000


def _in_batches(fn: Callable, images: np.ndarray, *per_image: jax.Array):
  """fn(images as float32, *per_image) over BATCH images at a time, its outputs (an array or
  a tuple of arrays, one row per image) concatenated as numpy arrays."""
  parts = [fn(jnp.asarray(images[i:i + BATCH], jnp.float32), *(a[i:i + BATCH] for a in per_image))
           for i in range(0, len(images), BATCH)]
  return jax.tree.map(lambda *rows: np.concatenate([np.asarray(r) for r in rows]), *parts)


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _moments(model: VAE, params: Params, images: jax.Array, layers: str, binarizations: int,
             keys: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(mean, std) [N, F] of q of grey images [N, D]: image i's draws from keys[i]."""
  def of_input(x):
    moments = model.encode_layers(params, x)
    pick = moments if layers == 'all' else moments[-1:]
    return tuple(jnp.concatenate([m[j] for m in pick]) for j in (0, 1))

  def one(grey, key):
    if binarizations == 0:
      return of_input(grey)
    means, stds = jax.vmap(of_input)(datasets.binarizations(key, grey, binarizations))
    mean = jnp.mean(means, axis=0)
    return mean, jnp.sqrt(jnp.mean(stds**2, axis=0) + jnp.var(means, axis=0))

  return jax.vmap(one)(images, keys)


def posterior_moments(model: VAE, params: Params, images: np.ndarray, key: jax.Array,
                      layers: str = 'top', binarizations: int = 0) -> tuple[np.ndarray,
                                                                            np.ndarray]:
  """(mean, std) [N, F] of q(z | x) for grey images [N, D] in [0, 1] (module docstring);
  image i's binarizations are drawn from fold_in(key, i), whatever the batching."""
  if layers not in LAYERS:
    raise UserError(f'unknown feature layers {layers!r}; choose one of {LAYERS}')
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(len(images)))
  return _in_batches(lambda x, k: _moments(model, params, x, layers, binarizations, k),
                     images, keys)


@functools.partial(jax.jit, static_argnums=0)
def _encoder_hidden(model: VAE, params: Params, images: jax.Array) -> jax.Array:
  return jax.vmap(lambda x: model.hidden_features(params, x))(images)


def encoder_hidden(model: VAE, params: Params, images: np.ndarray) -> np.ndarray:
  """The last hidden layer [N, H] of q(z_1 | x)'s MLP for grey images [N, D] in [0, 1]."""
  return _in_batches(lambda x: _encoder_hidden(model, params, x), images)


class FeatureMap(NamedTuple):
  """Grey images [N, D] in [0, 1] -> (mean, std) of q(z | x) of the kept units, each (value - shift)
  / scale for the means and std / scale for the stds."""
  model: VAE
  params: Params
  key: jax.Array
  layers: str
  binarizations: int
  units: np.ndarray
  shift: np.ndarray
  scale: np.ndarray

  def moments(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = posterior_moments(self.model, self.params, images, self.key, self.layers,
                                  self.binarizations)
    return ((mean[:, self.units] - self.shift) / self.scale, std[:, self.units] / self.scale)

  def __call__(self, images: np.ndarray) -> np.ndarray:
    """The features [N, F]: the means."""
    return self.moments(images)[0]


def make_feature_map(model: VAE, params: Params, train_images: np.ndarray,
                     unlabelled: np.ndarray, key: jax.Array, layers: str = 'top',
                     binarizations: int = 0, scaling: str = 'standardized') -> FeatureMap:
  """The FeatureMap of a trained VAE, its units and scale from the grey training images
  [N, D] in [0, 1] (unlabelled: the indices of the unlabelled ones, for scaling='released')."""
  if scaling not in SCALINGS:
    raise UserError(f'unknown feature scaling {scaling!r}; choose one of {SCALINGS}')
  if scaling == 'released':
    images = train_images[np.asarray(unlabelled)[:RELEASED_UNIT_IMAGES]]
  else:
    images = train_images
  mean = posterior_moments(model, params, images, key, layers, binarizations)[0]
  units = np.flatnonzero(mean.var(axis=0) > importance.ACTIVE_UNIT_THRESHOLD)
  if units.size == 0:
    raise UserError('the M1 run has no active latent units to use as features')
  if scaling == 'released':
    shift, scale = np.zeros(units.size, np.float32), np.ones(units.size, np.float32)
  else:
    shift, scale = mean[:, units].mean(axis=0), mean[:, units].std(axis=0)
  return FeatureMap(model, params, key, layers, binarizations, units, shift, scale)


def probe(feature_map: Callable[[np.ndarray], np.ndarray], dataset: datasets.Dataset, s,
          key: jax.Array, hiddens: tuple[tuple[int, ...], ...] = ((), (500,))) -> dict:
  """classifiers.probe of feature_map (grey images [N, D] in [0, 1] -> [N, F]: a FeatureMap's
  means, encoder_hidden, or the pixels themselves) of the dataset's images (splits s)."""
  return classifiers.probe(feature_map(dataset.train_images / 255.0), dataset.train_labels,
                           feature_map(dataset.test_images / 255.0), dataset.test_labels, s,
                           key, hiddens)
