"""Named TFDS datasets: prepared ones are read with tfds.data_source, without TensorFlow."""

import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.testing import mocking

from vaejax.data import datasets
from vaejax.training import train
from tests.conftest import tiny_config


class TinyDigits(tfds.core.GeneratorBasedBuilder):
  """Random 28x28 uint8 images with labels: a stand-in for a prepared MNIST-like dataset."""
  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'image': tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
        'label': tfds.features.ClassLabel(num_classes=10)}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {'train': self._generate_examples(0, 40), 'test': self._generate_examples(1, 10)}

  def _generate_examples(self, seed, n):
    for i, image in enumerate(images(seed, n)):
      yield i, {'image': image, 'label': i % 10}


def images(seed, n):
  return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  path = tmp_path_factory.mktemp('tfds')
  TinyDigits(data_dir=str(path), file_format='array_record').download_and_prepare()
  return str(path)


def test_prepared_dataset_loads_without_tensorflow(data_dir):
  dataset = datasets.load('tfds:tiny_digits', data_dir)
  assert 'tensorflow' not in sys.modules
  assert dataset.train_images.shape == (40, 784) and dataset.train_images.dtype == np.uint8
  expected = images(0, 40).reshape(40, 784)
  assert sorted(map(bytes, dataset.train_images)) == sorted(map(bytes, expected))
  assert sorted(dataset.test_labels.tolist()) == list(range(10))


def test_training_runs_on_a_tfds_dataset(data_dir, tmp_path):
  config = tiny_config(dataset='tfds:tiny_digits', data_dir=data_dir, batch_size=10,
                       num_epochs=2, eval_batch_size=5)
  results = train.train_and_evaluate(config, str(tmp_path))
  assert results['step'] == 8 and np.isfinite(results['nll'])


NUM_MOCKED = 6


class _MockSource(list):
  """A data source of fixed examples, read with __getitems__ as datasets.load reads a real one."""

  def __getitems__(self, keys):
    return [self[k] for k in keys]


def _mock_source(builder, split, **kwargs):
  """Random examples of the builder's real features. (TFDS 4.9's own data_source mock
  cannot serve __getitems__: it calls its reader without the source as `self`.)"""
  del split, kwargs
  examples = mocking.RandomFakeGenerator(builder.info.features, NUM_MOCKED)
  return _MockSource(examples[i] for i in range(NUM_MOCKED))


@pytest.mark.parametrize('name, image_shape, labelled', [
    ('mnist', (28, 28, 1), True), ('fashion_mnist', (28, 28, 1), True),
    ('kmnist', (28, 28, 1), True), ('binarized_mnist', (28, 28, 1), False),
    ('omniglot', (105, 105, 3), True), ('cifar10', (32, 32, 3), True)])
def test_named_tfds_datasets_load_through_mock_data(monkeypatch, name, image_shape, labelled):
  # mock_data fakes the reading (from the datasets' own feature specs), not the preparation.
  monkeypatch.setattr(tfds.core.DatasetBuilder, 'is_prepared', lambda self: True)
  with tfds.testing.mock_data(num_examples=NUM_MOCKED, policy=tfds.testing.MockPolicy.USE_CODE,
                              as_data_source_fn=_mock_source):
    dataset = datasets.load(f'tfds:{name}')
  assert 'tensorflow' not in sys.modules
  assert dataset.image_shape == image_shape
  d = int(np.prod(image_shape))
  assert dataset.train_images.shape == dataset.test_images.shape == (NUM_MOCKED, d)
  assert dataset.train_images.dtype == np.uint8
  assert dataset.train_labels.shape == (NUM_MOCKED,)
  assert np.all(dataset.train_labels >= 0) if labelled else np.all(dataset.train_labels == -1)


def test_colour_dataset_trains_and_writes_colour_pictures(monkeypatch, tmp_path):
  monkeypatch.setattr(tfds.core.DatasetBuilder, 'is_prepared', lambda self: True)
  config = tiny_config(dataset='tfds:cifar10', likelihood='logistic', batch_size=3,
                       eval_batch_size=3, snr_num_draws=2)
  with tfds.testing.mock_data(num_examples=NUM_MOCKED, policy=tfds.testing.MockPolicy.USE_CODE,
                              as_data_source_fn=_mock_source):
    results = train.train_and_evaluate(config, str(tmp_path))
  assert results['step'] == 2 and np.isfinite(results['bits_per_dim'])
  picture = plt.imread(tmp_path / 'pictures' / 'prior_samples_2.png')
  assert picture.shape[2] >= 3 and not np.allclose(picture[..., 0], picture[..., 1])
