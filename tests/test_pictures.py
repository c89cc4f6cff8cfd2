"""Pictures: grid layout, what each picture shows, and that training writes them."""

import jax
import jax.numpy as jnp
import numpy as np

from vaejax import pictures
from vaejax import runs
from vaejax.models import vae


def _model(latent_dim):
  model = vae.make_model('one_layer', latent_dim)
  return model, model.init(jax.random.key(0), jnp.full(784, 0.2))


def test_tile_places_images_in_rows():
  images = np.stack([np.full(784, i / 10) for i in range(5)])
  grid = pictures.tile(images, cols=3)
  assert grid.shape == (2 * 29 - 1, 3 * 29 - 1)
  np.testing.assert_allclose(grid[29 + 5, 29 + 5], 0.4)  # Row 1, column 1: image 4.
  np.testing.assert_allclose(grid[29 + 5, 2 * 29 + 5], 1.0)  # Past the last image: blank.


def test_tile_keeps_colours():
  images = np.stack([np.full((32, 32, 3), [i / 10, 0.5, 1 - i / 10]).ravel() for i in range(4)])
  grid = pictures.tile(images, cols=2, image_shape=(32, 32, 3))
  assert grid.shape == (2 * 33 - 1, 2 * 33 - 1, 3)
  np.testing.assert_allclose(grid[33 + 5, 33 + 5], [0.3, 0.5, 0.7])  # Image 3.
  np.testing.assert_allclose(grid[32, 5], [1.0, 1.0, 1.0])  # The gap between rows.


def test_pictures_of_a_two_dimensional_latent_space():
  model, params = _model(2)
  x = np.asarray(jax.random.uniform(jax.random.key(1), (40, 784)))
  out = pictures.all_pictures(model, params, x, np.arange(40) % 10, jax.random.key(2))
  assert set(out) == {'prior_samples', 'reconstructions', 'traversals', 'manifold',
                      'latent_scatter'}
  assert out['prior_samples'].shape == (8 * 29 - 1, 8 * 29 - 1)
  assert out['traversals'].shape == (2 * 29 - 1, 9 * 29 - 1)  # One row per latent dimension.
  assert out['manifold'].shape == (20 * 29 - 1, 20 * 29 - 1)
  # Rows of originals alternate with rows of reconstructions.
  np.testing.assert_allclose(out['reconstructions'][:28, :28], x[0].reshape(28, 28))
  for name in ('prior_samples', 'reconstructions', 'traversals', 'manifold'):
    assert out[name].min() >= 0 and out[name].max() <= 1


def test_interpolation_ends_decode_the_endpoints():
  model, params = _model(5)
  x = np.asarray(jax.random.uniform(jax.random.key(3), (4, 784)))
  grid = pictures.interpolations(model, params, x[:2], x[2:], steps=5)
  recon = pictures.reconstructions(model, params, np.concatenate([x, x]))  # 8 per row.
  np.testing.assert_allclose(grid[:28, :28], recon[29:29 + 28, :28], rtol=1e-5)
  np.testing.assert_allclose(grid[:28, 4 * 29:4 * 29 + 28], recon[29:29 + 28, 2 * 29:2 * 29 + 28],
                             rtol=1e-5)


def test_training_writes_pictures(trained_run):
  workdir, results = trained_run
  written = sorted(p.name for p in (workdir / runs.PICTURES_DIR).iterdir())
  step = results['step']
  assert written == [f'{n}_{step}.png' for n in ('prior_samples', 'reconstructions',
                                                 'traversals')]
