"""Pictures of what a model learned, as [H, W] grey images in [0, 1] (and one scatter plot).

Prior samples, test images beside their reconstructions, latent traversals, interpolations,
and for a 2-D latent space the decoded manifold and the encoded test set coloured by label.
"""

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from vaejax import models
from vaejax.models import VAE, Params

SIDE = 28


def tile(images: np.ndarray, cols: int) -> np.ndarray:
  """Images [N, 784] in [0, 1] as one grid image, cols per row, a 1-pixel gap between."""
  images = np.asarray(images).reshape(-1, SIDE, SIDE)
  rows = -(-len(images) // cols)
  grid = np.ones((rows * (SIDE + 1) - 1, cols * (SIDE + 1) - 1), np.float32)
  for i, image in enumerate(images):
    r, c = divmod(i, cols)
    grid[r * (SIDE + 1):r * (SIDE + 1) + SIDE, c * (SIDE + 1):c * (SIDE + 1) + SIDE] = image
  return grid


def _decode_probs(model: VAE, params: Params, z: jax.Array) -> jax.Array:
  return jax.nn.sigmoid(models.decode_batch(model, params, z))


def _encode_means(model: VAE, params: Params, x: jax.Array) -> jax.Array:
  return models.encode_batch(model, params, x)[0]


def prior_samples(model: VAE, params: Params, key: jax.Array, n: int = 64) -> np.ndarray:
  """Decoded pixel probabilities of z ~ p(z), an 8-column grid."""
  return tile(model.sample(params, key, n), 8)


def reconstructions(model: VAE, params: Params, x: np.ndarray) -> np.ndarray:
  """Rows of 8 test images, each followed by a row of their reconstructions from E_q[z]."""
  x = np.asarray(x, np.float32)[:len(x) // 8 * 8]
  recon = np.asarray(_decode_probs(model, params, _encode_means(model, params, x)))
  pairs = np.stack([x.reshape(-1, 8, 784), recon.reshape(-1, 8, 784)], axis=1)
  return tile(pairs.reshape(-1, 784), 8)


def traversals(model: VAE, params: Params, x: np.ndarray, num_dims: int = 10,
               steps: int = 9, span: float = 3.0) -> np.ndarray:
  """Row d: x[0]'s E_q[z] with dimension d swept over [-span, span], the others fixed.

  The num_dims dimensions whose means vary most over x [N, 784] are shown, most first.
  """
  means = np.asarray(_encode_means(model, params, np.asarray(x, np.float32)))
  dims = np.argsort(-means.var(axis=0))[:num_dims]
  values = np.linspace(-span, span, steps)
  z = np.repeat(means[:1], len(dims) * steps, axis=0)
  z[np.arange(len(z)), np.repeat(dims, steps)] = np.tile(values, len(dims))
  return tile(_decode_probs(model, params, jnp.asarray(z)), steps)


def interpolations(model: VAE, params: Params, x_a: np.ndarray, x_b: np.ndarray,
                   steps: int = 10) -> np.ndarray:
  """Row i: decodings along the straight line from E_q[z | x_a[i]] to E_q[z | x_b[i]]."""
  z_a = np.asarray(_encode_means(model, params, np.asarray(x_a, np.float32)))
  z_b = np.asarray(_encode_means(model, params, np.asarray(x_b, np.float32)))
  t = np.linspace(0, 1, steps)[None, :, None]
  z = (1 - t) * z_a[:, None] + t * z_b[:, None]
  return tile(_decode_probs(model, params, jnp.asarray(z.reshape(-1, z.shape[-1]))), steps)


def manifold(model: VAE, params: Params, size: int = 20) -> np.ndarray:
  """For a 2-D latent space: decodings over a grid of the prior's quantiles (5% to 95%)."""
  quantiles = jax.scipy.stats.norm.ppf(np.linspace(0.05, 0.95, size))
  z1, z2 = np.meshgrid(quantiles, quantiles[::-1])
  z = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(np.float32)
  return tile(_decode_probs(model, params, jnp.asarray(z)), size)


def latent_scatter(model: VAE, params: Params, x: np.ndarray, labels: np.ndarray):
  """For a 2-D latent space: a matplotlib figure of E_q[z | x] coloured by label."""
  means = np.asarray(_encode_means(model, params, np.asarray(x, np.float32)))
  fig, ax = plt.subplots(figsize=(5, 5))
  points = ax.scatter(means[:, 0], means[:, 1], c=labels, cmap='tab10', s=2)
  fig.colorbar(points, ax=ax, label='label')
  ax.set(xlabel='z_1', ylabel='z_2', title='test set, encoded means')
  fig.tight_layout()
  return fig


def all_pictures(model: VAE, params: Params, x: np.ndarray, labels: np.ndarray,
                 key: jax.Array) -> dict:
  """The pictures training writes at each evaluation: name -> grid image (or figure)."""
  pictures = {
      'prior_samples': prior_samples(model, params, key),
      'reconstructions': reconstructions(model, params, x[:32]),
      'traversals': traversals(model, params, x[:1000]),
  }
  if model.latent_dim == 2:
    pictures['manifold'] = manifold(model, params)
    pictures['latent_scatter'] = latent_scatter(model, params, x, labels)
  return pictures
