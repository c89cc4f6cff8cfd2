"""The bundled MNIST, its checksum, and binarization."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaejax.data import datasets
from vaejax.errors import UserError


def test_bundled_mnist_is_the_official_split():
  mnist = datasets.load('mnist')
  assert mnist.train_images.shape == (60000, 784) and mnist.train_images.dtype == np.uint8
  assert mnist.test_images.shape == (10000, 784)
  np.testing.assert_array_equal(np.bincount(mnist.train_labels),
                                [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])


def test_checksum_mismatch_is_reported(monkeypatch):
  monkeypatch.setattr(datasets, 'MNIST_SHA256', '0' * 64)
  with pytest.raises(UserError, match='bundled MNIST is corrupt'):
    datasets.load('mnist')


def test_dynamic_binarization_is_fresh_and_unbiased():
  images = jnp.full((200, 784), 51, jnp.uint8)  # Intensity 0.2.
  a = datasets.binarize(jax.random.key(0), images)
  b = datasets.binarize(jax.random.key(1), images)
  assert set(np.unique(a).tolist()) == {0.0, 1.0}
  assert not np.array_equal(a, b)
  np.testing.assert_allclose(a.mean(), 0.2, atol=0.005)


def test_fixed_binarization_is_kept():
  images = np.full((100, 784), 128, np.uint8)
  fixed = datasets.fixed_binarization(images, jax.random.key(0))
  assert set(np.unique(fixed).tolist()) == {0, 255}
  np.testing.assert_array_equal(datasets.binarize(jax.random.key(5), jnp.asarray(fixed)),
                                fixed / 255)
