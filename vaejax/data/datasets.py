"""Datasets as uint8 image arrays, binarization, and the seeded data order.

The default dataset, 'mnist', is the full MNIST bundled with vaejax (vaejax/bundled/README.md);
it needs no network. 'idx:FOLDER' turns a folder of IDX files into a TFDS dataset once
(vaejax/data/idx.py) and 'fashion_mnist' is Debian's Fashion-MNIST folder; 'tfds:NAME' reads a TFDS
dataset prepared in the TFDS data dir (mnist, fashion_mnist, kmnist, binarized_mnist,
omniglot, cifar10, ...). All three read with tfds.data_source (array_record files, no
TensorFlow). Images keep their shape and colours (cifar10: 32x32x3, omniglot: 105x105x3).
"""

import hashlib
import importlib.resources
import io
import pathlib
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vaejax.errors import UserError

MNIST_SHA256 = '39b9b1ffaa0ba4d8995a616551f0966941fe02a3fe79ba4a9db7373db16d53ad'
TFDS_PREFIX = 'tfds:'
IDX_PREFIX = 'idx:'
FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'  # Debian: dataset-fashion-mnist
SPLITS = ('train', 'test')


class Dataset(NamedTuple):
  """Images flattened to [N, H * W * C] uint8 intensities in 0..255, integer labels (-1 for
  a dataset without labels) and the images' shape (H, W, C)."""
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  image_shape: tuple[int, int, int]


def load_bundled_mnist() -> Dataset:
  """The bundled MNIST, its SHA-256 checked."""
  raw = importlib.resources.files('vaejax').joinpath('bundled/mnist.npz').read_bytes()
  digest = hashlib.sha256(raw).hexdigest()
  if digest != MNIST_SHA256:
    raise UserError(f'bundled MNIST is corrupt: SHA-256 {digest}, expected {MNIST_SHA256}')
  with np.load(io.BytesIO(raw)) as f:
    return Dataset(f['train_images'].reshape(-1, 784), f['train_labels'],
                   f['test_images'].reshape(-1, 784), f['test_labels'], (28, 28, 1))


def _read_source(source) -> tuple[np.ndarray, np.ndarray]:
  """(images [N, H, W, C] uint8, labels [N]) of a tfds data source with an 'image' and
  perhaps a 'label' (-1 without)."""
  examples = source.__getitems__(range(len(source)))
  images = np.stack([np.asarray(e['image']) for e in examples])
  if images.ndim == 3:  # [N, H, W]: one channel.
    images = images[..., None]
  if images.max() <= 1:  # Already binary (binarized_mnist): map {0, 1} to {0, 255}.
    images = images * 255
  labels = np.asarray([e.get('label', -1) for e in examples], np.int64)
  return images.astype(np.uint8), labels


def load_tfds(name: str, data_dir: str | None = None) -> Dataset:
  """A dataset prepared in the TFDS data dir, read with tfds.data_source; never downloads."""
  start = time.monotonic()
  import tensorflow_datasets as tfds
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as e:  # pylint: disable=broad-except
    raise UserError(f'unknown TFDS dataset {name!r}: {str(e).splitlines()[0]}') from None
  if not builder.is_prepared():
    raise UserError(
        f'TFDS dataset {name!r} is not prepared in {builder.data_dir_root} and cannot be '
        f'downloaded here; prepare it on a machine with network access with '
        f'`tfds build {name} --file_format=array_record` and copy it to that folder '
        f'(or pass --config.data_dir). Checked in {time.monotonic() - start:.1f}s.')
  return _dataset(name, {split: builder.as_data_source(split) for split in SPLITS})


def _dataset(name: str, sources) -> Dataset:
  train_images, train_labels = _read_source(sources['train'])
  test_images, test_labels = _read_source(sources['test'])
  if train_images.shape[1:] != test_images.shape[1:]:
    raise UserError(f'dataset {name!r} has train images of shape {train_images.shape[1:]} '
                    f'but test images of shape {test_images.shape[1:]}')
  return Dataset(train_images.reshape(len(train_images), -1), train_labels,
                 test_images.reshape(len(test_images), -1), test_labels,
                 train_images.shape[1:])


def load_idx_folder(folder: str, data_dir: str | None = None) -> Dataset:
  """An IDX folder, turned into an array_record TFDS dataset once, read with data_source."""
  from vaejax.data import idx  # pylint: disable=g-import-not-at-top  (imports TFDS: slow)
  builder = idx.prepare(folder, data_dir)
  return _dataset(f'{IDX_PREFIX}{folder}', {split: builder.as_data_source(split)
                                            for split in SPLITS})


def load(name: str, data_dir: str | None = None) -> Dataset:
  """Loads 'mnist' (bundled), 'fashion_mnist' (Debian's IDX files), 'idx:FOLDER' or 'tfds:NAME'."""
  if name == 'mnist':
    return load_bundled_mnist()
  if name == 'fashion_mnist':
    if not pathlib.Path(FASHION_MNIST_DIR).is_dir():
      raise UserError(f'Fashion-MNIST is not in {FASHION_MNIST_DIR}: install it with '
                      f'`apt-get install dataset-fashion-mnist`, or use idx:FOLDER')
    return load_idx_folder(FASHION_MNIST_DIR, data_dir)
  if name.startswith(IDX_PREFIX):
    return load_idx_folder(name[len(IDX_PREFIX):], data_dir)
  if name.startswith(TFDS_PREFIX):
    return load_tfds(name[len(TFDS_PREFIX):], data_dir)
  raise UserError(f"unknown dataset {name!r}; use 'mnist' (bundled), 'fashion_mnist', "
                  f"'idx:FOLDER' or 'tfds:NAME' (e.g. tfds:kmnist, tfds:cifar10)")


def fixed_binarization(images: np.ndarray, key: jax.Array) -> np.ndarray:
  """One Bernoulli draw per pixel, kept for good: images of 0 and 255."""
  probs = jnp.asarray(images, jnp.float32) / 255.0
  return np.asarray(jax.random.bernoulli(key, probs), np.uint8) * 255


def binarize(key: jax.Array, images: jax.Array) -> jax.Array:
  """A fresh Bernoulli draw of every pixel: uint8 intensities -> float32 {0, 1}."""
  return jax.random.bernoulli(key, images.astype(jnp.float32) / 255.0).astype(jnp.float32)


def binarizations(key: jax.Array, grey: jax.Array, num: int) -> jax.Array:
  """num Bernoulli draws of every pixel of grey levels [..., D] in [0, 1]: float32 {0, 1}
  [num, ..., D]."""
  return jax.random.bernoulli(key, jnp.broadcast_to(grey, (num,) + grey.shape)).astype(
      jnp.float32)


def epoch_batches(data_key: jax.Array, epoch: jax.Array, num_examples: int,
                  batch_size: int, shuffle: bool = True) -> jax.Array:
  """Indices [steps, batch_size] of one epoch, a function of (data_key, epoch) alone.

  Without shuffle, every epoch takes the examples in their order (as the IWAE paper's released
  code does). The last num_examples % batch_size examples of each order are dropped.
  """
  if shuffle:
    order = jax.random.permutation(jax.random.fold_in(data_key, epoch), num_examples)
  else:
    order = jnp.arange(num_examples)
  steps = num_examples // batch_size
  return order[:steps * batch_size].reshape(steps, batch_size)


def cycling_batches(key: jax.Array, first_step: jax.Array, steps: int, num_examples: int,
                    batch_size: int) -> jax.Array:
  """Indices [steps, batch_size] of steps first_step ... from a set read over and over, a new
  order each pass: step s takes positions s * batch_size ... of the concatenated orders
  permutation(fold_in(key, pass)). Row s is a function of (key, s) alone; the orders of all
  the passes the steps touch are drawn at once (one vmapped permutation, not one a step).
  """
  step = first_step + jnp.arange(steps)
  positions = step[:, None] * batch_size + jnp.arange(batch_size)[None]
  first_pass = positions[0, 0] // num_examples
  num_passes = (steps * batch_size - 1) // num_examples + 2  # The most the positions touch.
  orders = jax.vmap(lambda p: jax.random.permutation(jax.random.fold_in(key, p), num_examples))(
      first_pass + jnp.arange(num_passes))
  return orders[positions // num_examples - first_pass, positions % num_examples]
