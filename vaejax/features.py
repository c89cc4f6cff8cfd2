"""M1: a trained VAE's posterior means E_q[z | x] as features for other tasks.

For one stochastic layer the mean of q(z | x) is exact; for two, `layers='top'` gives E_q[z_2 | x]
(averaged over draws of z_1, vaejax/evaluate.py's posterior_means) and `layers='all'` the
means of both layers side by side. Images go in as grey levels x / 255, the mean of their
binarizations.
"""

import jax
import jax.numpy as jnp
import numpy as np

from vaejax import evaluate
from vaejax.errors import UserError
from vaejax.models import VAE, Params

LAYERS = ('top', 'all')
BATCH = 1000


def posterior_means(model: VAE, params: Params, images: np.ndarray, key: jax.Array,
                    layers: str = 'top', num_samples: int = 100) -> np.ndarray:
  """Features [N, F] of uint8 images [N, D]: the posterior means of the chosen layers.

  Args:
    model: the VAE.
    params: its parameters.
    images: uint8 images [N, D].
    key: draws of z_1 for the upper layer's mean (unused with one stochastic layer).
    layers: 'top' (z_L) or 'all' (z_1 ... z_L concatenated).
    num_samples: draws of the lower layers per image for the upper layers' means.
  """
  if layers not in LAYERS:
    raise UserError(f'unknown feature layers {layers!r}; choose one of {LAYERS}')
  num_samples = num_samples if model.num_layers > 1 else 1  # Exact for one layer.
  parts = []
  for i in range(0, len(images), BATCH):
    x = jnp.asarray(images[i:i + BATCH], jnp.float32) / 255.0
    means = evaluate.posterior_means(model, params, x, jax.random.fold_in(key, i), num_samples)
    parts.append(np.concatenate([np.asarray(m) for m in means], axis=1) if layers == 'all'
                 else np.asarray(means[-1]))
  return np.concatenate(parts)


def standardize(features: np.ndarray, reference: np.ndarray) -> np.ndarray:
  """Features shifted and scaled by the mean and std of reference's (training features)."""
  return (features - reference.mean(axis=0)) / (reference.std(axis=0) + 1e-6)
