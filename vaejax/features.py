"""M1: a trained VAE's posterior means E_q[z | x] as features for other tasks.

The features are the means of the active units, standardized (FeatureMap).

For one stochastic layer the mean of q(z | x) is exact; for two, `layers='top'` gives E_q[z_2 | x]
(averaged over draws of z_1, vaejax/evaluate.py's posterior_means) and `layers='all'` the
means of both layers side by side. Images go in as grey levels in [0, 1] (for a Bernoulli
model, the mean of their binarizations).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vaejax import data
from vaejax import evaluate
from vaejax.errors import UserError
from vaejax.models import VAE, Params

LAYERS = ('top', 'all')
BATCH = 1000


def posterior_means(model: VAE, params: Params, x: np.ndarray, key: jax.Array,
                    layers: str = 'top', num_samples: int = 100) -> np.ndarray:
  """Features [N, F] of images x [N, D] in [0, 1]: the posterior means of the chosen layers.

  Args:
    model: the VAE.
    params: its parameters.
    x: images [N, D] in [0, 1].
    key: draws of z_1 for the upper layer's mean (unused with one stochastic layer).
    layers: 'top' (z_L) or 'all' (z_1 ... z_L concatenated).
    num_samples: draws of the lower layers per image for the upper layers' means.
  """
  if layers not in LAYERS:
    raise UserError(f'unknown feature layers {layers!r}; choose one of {LAYERS}')
  num_samples = num_samples if model.num_layers > 1 else 1  # Exact for one layer.
  parts = []
  for i in range(0, len(x), BATCH):
    means = evaluate.posterior_means(model, params, jnp.asarray(x[i:i + BATCH], jnp.float32),
                                     jax.random.fold_in(key, i), num_samples)
    parts.append(np.concatenate([np.asarray(m) for m in means], axis=1) if layers == 'all'
                 else np.asarray(means[-1]))
  return np.concatenate(parts)


class FeatureMap(NamedTuple):
  """Images [N, D] in [0, 1] -> the posterior means of the active units (those whose mean
  varies over the training set by more than evaluate.ACTIVE_UNIT_THRESHOLD), standardized by
  the training set's mean and std. The inactive units' means are constant up to noise, which
  standardizing would blow up to unit scale."""
  model: VAE
  params: Params
  key: jax.Array
  layers: str
  active: np.ndarray
  mean: np.ndarray
  std: np.ndarray

  def __call__(self, x: np.ndarray) -> np.ndarray:
    z = posterior_means(self.model, self.params, x, self.key, self.layers)[:, self.active]
    return (z - self.mean) / self.std


def dataset_features(model: VAE, params: Params, dataset: data.Dataset, key: jax.Array,
                     layers: str = 'top') -> tuple[data.Dataset, FeatureMap]:
  """The dataset with its images replaced by their features (float32 [N, F], shape
  (1, 1, F)), and the FeatureMap that made them."""
  train = posterior_means(model, params, dataset.train_images / 255.0, key, layers)
  active = np.flatnonzero(train.var(axis=0) > evaluate.ACTIVE_UNIT_THRESHOLD)
  if active.size == 0:
    raise UserError('the run has no active latent units to use as features')
  train = train[:, active]
  feature_map = FeatureMap(model, params, key, layers, active, train.mean(axis=0),
                           train.std(axis=0))
  return dataset._replace(
      train_images=(train - feature_map.mean) / feature_map.std,
      test_images=feature_map(dataset.test_images / 255.0),
      image_shape=(1, 1, active.size)), feature_map
