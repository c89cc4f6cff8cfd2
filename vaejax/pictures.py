"""Pictures of what a model learned, as grids in [0, 1] (and one scatter plot).

A grid is [H, W] for grey-level images and [H, W, C] for colour ones; decoded images are the
likelihood's mean (vaejax/models/likelihoods.py).

Prior samples, test images beside their reconstructions, latent traversals, interpolations,
and for a 2-D latent space the decoded manifold and the encoded test set coloured by label.
"""

import jax
import jax.numpy as jnp
from matplotlib import figure
import numpy as np

from vaejax.models import likelihoods
from vaejax.models import vae
from vaejax.models.vae import VAE, Params


def tile(images: np.ndarray, cols: int,
         image_shape: tuple[int, int, int] = vae.MNIST_SHAPE) -> np.ndarray:
  """Images [N, H * W * C] in [0, 1] as one grid, cols per row, a 1-pixel gap between.

  Returns:
    [rows * (H + 1) - 1, cols * (W + 1) - 1] for C = 1, with a trailing axis of C otherwise.
  """
  height, width, colours = image_shape
  images = np.asarray(images).reshape(-1, height, width, colours)
  rows = -(-len(images) // cols)
  grid = np.ones((rows * (height + 1) - 1, cols * (width + 1) - 1, colours), np.float32)
  for i, image in enumerate(images):
    r, c = divmod(i, cols)
    top, left = r * (height + 1), c * (width + 1)
    grid[top:top + height, left:left + width] = image
  return grid[..., 0] if colours == 1 else grid


def _decode_probs(model: VAE, params: Params, z: jax.Array) -> jax.Array:
  return likelihoods.mean(vae.decode_batch(model, params, z))


def _encode_means(model: VAE, params: Params, x: jax.Array) -> jax.Array:
  return vae.encode_batch(model, params, x)[0]


def prior_samples(model: VAE, params: Params, key: jax.Array, n: int = 64) -> np.ndarray:
  """Decoded pixel probabilities of z ~ p(z), an 8-column grid."""
  return tile(model.sample(params, key, n), 8, model.image_shape)


def reconstructions(model: VAE, params: Params, x: np.ndarray) -> np.ndarray:
  """Rows of 8 test images (fewer if x has fewer), each followed by a row of their
  reconstructions from E_q[z]."""
  cols = min(8, len(x))
  x = np.asarray(x, np.float32)[:len(x) // cols * cols]
  recon = np.asarray(_decode_probs(model, params, _encode_means(model, params, x)))
  d = model.num_inputs
  pairs = np.stack([x.reshape(-1, cols, d), recon.reshape(-1, cols, d)], axis=1)
  return tile(pairs.reshape(-1, d), cols, model.image_shape)


def traversals(model: VAE, params: Params, x: np.ndarray, num_dims: int = 10,
               steps: int = 9, span: float = 3.0) -> np.ndarray:
  """Row d: x[0]'s E_q[z] with dimension d swept over [-span, span], the others fixed.

  The num_dims dimensions whose means vary most over x [N, D] are shown, most first.
  """
  means = np.asarray(_encode_means(model, params, np.asarray(x, np.float32)))
  dims = np.argsort(-means.var(axis=0))[:num_dims]
  values = np.linspace(-span, span, steps)
  z = np.repeat(means[:1], len(dims) * steps, axis=0)
  z[np.arange(len(z)), np.repeat(dims, steps)] = np.tile(values, len(dims))
  return tile(_decode_probs(model, params, jnp.asarray(z)), steps, model.image_shape)


def interpolations(model: VAE, params: Params, x_a: np.ndarray, x_b: np.ndarray,
                   steps: int = 10) -> np.ndarray:
  """Row i: decodings along the straight line from E_q[z | x_a[i]] to E_q[z | x_b[i]]."""
  z_a = np.asarray(_encode_means(model, params, np.asarray(x_a, np.float32)))
  z_b = np.asarray(_encode_means(model, params, np.asarray(x_b, np.float32)))
  t = np.linspace(0, 1, steps)[None, :, None]
  z = (1 - t) * z_a[:, None] + t * z_b[:, None]
  return tile(_decode_probs(model, params, jnp.asarray(z.reshape(-1, z.shape[-1]))), steps,
              model.image_shape)


def manifold(model: VAE, params: Params, size: int = 20) -> np.ndarray:
  """For a 2-D latent space: decodings over a grid of the prior's quantiles (5% to 95%)."""
  quantiles = jax.scipy.stats.norm.ppf(np.linspace(0.05, 0.95, size))
  z1, z2 = np.meshgrid(quantiles, quantiles[::-1])
  z = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(np.float32)
  return tile(_decode_probs(model, params, jnp.asarray(z)), size, model.image_shape)


def latent_scatter(model: VAE, params: Params, x: np.ndarray, labels: np.ndarray):
  """For a 2-D latent space: a matplotlib figure of E_q[z | x] coloured by label (drawn
  without pyplot, so a notebook's backend is left alone)."""
  means = np.asarray(_encode_means(model, params, np.asarray(x, np.float32)))
  fig = figure.Figure(figsize=(5, 5))
  ax = fig.subplots()
  points = ax.scatter(means[:, 0], means[:, 1], c=labels, cmap='tab10', s=2)
  fig.colorbar(points, ax=ax, label='label')
  ax.set(xlabel='z_1', ylabel='z_2', title='test set, encoded means')
  fig.tight_layout()
  return fig


def all_pictures(model: VAE, params: Params, x: np.ndarray, labels: np.ndarray,
                 key: jax.Array) -> dict:
  """The pictures training writes at each evaluation: name -> grid image (or figure).

  Traversals sweep a Gaussian latent over [-3, 3]: discrete-latent models have none.
  """
  pictures = {
      'prior_samples': prior_samples(model, params, key),
      'reconstructions': reconstructions(model, params, x[:32]),
  }
  if model.reparameterizable:
    pictures['traversals'] = traversals(model, params, x[:1000])
  if model.latent_dim == 2:
    pictures['manifold'] = manifold(model, params)
    pictures['latent_scatter'] = latent_scatter(model, params, x, labels)
  return pictures


def class_samples(model, params: Params, key: jax.Array,
                  image_shape: tuple[int, int, int], num_styles: int = 10) -> np.ndarray:
  """M2: row y decodes num_styles draws z ~ p(z) with class y, the same z in each column."""
  z = jax.random.normal(key, (num_styles, model.latent_dim))
  classes = np.arange(model.num_classes)
  outputs = jax.vmap(jax.vmap(model.decode, in_axes=(None, 0, None)), in_axes=(None, None, 0))(
      params, z, classes)
  return tile(likelihoods.mean(outputs.reshape(-1, model.num_inputs)), num_styles, image_shape)


def analogies(model, params: Params, x: np.ndarray,
              image_shape: tuple[int, int, int]) -> np.ndarray:
  """M2: row i is test image x[i], then its style E_q[z | x, y] (y its most probable class)
  decoded with every class."""
  x = jnp.asarray(x, jnp.float32)
  y = jnp.argmax(jax.vmap(model.class_logits, in_axes=(None, 0))(params, x), axis=-1)
  z = jax.vmap(model.encode, in_axes=(None, 0, 0))(params, x, y)[0]
  classes = np.arange(model.num_classes)
  outputs = jax.vmap(jax.vmap(model.decode, in_axes=(None, None, 0)), in_axes=(None, 0, None))(
      params, z, classes)
  rows = jnp.concatenate([x[:, None], likelihoods.mean(outputs)], axis=1)
  return tile(rows.reshape(-1, model.num_inputs), model.num_classes + 1, image_shape)


def m2_pictures(model, params: Params, x: np.ndarray, image_shape: tuple[int, int, int],
                key: jax.Array) -> dict:
  """The pictures M2 training writes at each evaluation; x are test images [N, D] in [0, 1]."""
  return {'class_samples': class_samples(model, params, key, image_shape),
          'analogies': analogies(model, params, x[:8], image_shape)}
