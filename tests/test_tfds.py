"""Named TFDS datasets: prepared ones are read with tfds.data_source, without TensorFlow."""

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from vaejax import data
from vaejax import train
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
  dataset = data.load('tfds:tiny_digits', data_dir)
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
