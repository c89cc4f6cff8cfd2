"""Strict numerics for every test: no implicit rank promotion, shared tiny configs.

Tests marked heavy are collected first. Tests marked multidevice need 8 devices:
scripts/test.sh runs them in a process of their own with JAX_NUM_CPU_DEVICES=8 (8 simulated
CPU devices), where they fail if fewer appear; elsewhere they are skipped.
"""

import fcntl
import gzip
import os

import jax
import numpy as np
import pytest

from vaejax.configs import tiny
from vaejax.data import datasets
from vaejax.data import idx

jax.config.update('jax_numpy_rank_promotion', 'raise')
MULTIDEVICE_COUNT = 8


def pytest_runtest_setup(item):
  if item.get_closest_marker('multidevice') and jax.device_count() < MULTIDEVICE_COUNT:
    if os.environ.get('JAX_NUM_CPU_DEVICES') == str(MULTIDEVICE_COUNT):
      pytest.fail(f'JAX_NUM_CPU_DEVICES={MULTIDEVICE_COUNT} but only {jax.device_count()} '
                  f'devices appear ({jax.devices()})')
    pytest.skip(f'needs {MULTIDEVICE_COUNT} devices: run with '
                f'JAX_NUM_CPU_DEVICES={MULTIDEVICE_COUNT} (scripts/test.sh does)')


def pytest_collection_modifyitems(items):
  """The heavy tests first, so that the workers start them early and no worker ends the suite
  alone on one of them (the order is otherwise the files')."""
  items.sort(key=lambda item: item.get_closest_marker('heavy') is None)


def tiny_config(**overrides):
  """vaejax/configs/tiny.py (the paper's model, one short epoch) with overrides."""
  config = tiny.get_config()
  config.update(**overrides)
  return config


@pytest.fixture(scope='session')
def trained_run(tmp_path_factory):
  """A one-epoch run shared by the tests that only read a finished run. Trained once for all
  the pytest-xdist workers, in their common temporary folder: the first to get there trains
  it, the others find it finished and read its results."""
  from vaejax.training import train
  if os.environ.get('PYTEST_XDIST_WORKER'):
    root = tmp_path_factory.getbasetemp().parent  # pytest-N/, the workers' popen-gwI/ above.
  else:
    root = tmp_path_factory.mktemp('shared')
  with (root / 'trained.lock').open('w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    results = train.train_and_evaluate(tiny_config(), str(root / 'trained'))
  return root / 'trained', results


def write_idx(path, array):
  """array as a gzipped IDX file (the MNIST format)."""
  header = bytes([0, 0, 8, array.ndim]) + b''.join(d.to_bytes(4, 'big') for d in array.shape)
  path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture(scope='session')
def small_mnist(tmp_path_factory):
  """Config overrides for the first 2000 training and 500 test images of the bundled MNIST,
  an IDX folder prepared as a TFDS dataset: real data for runs that need to be quick."""
  root = tmp_path_factory.mktemp('small_mnist')
  folder = root / 'mnist2000'
  folder.mkdir()
  mnist = datasets.load('mnist')
  splits = {'train': (mnist.train_images[:2000], mnist.train_labels[:2000]),
            'test': (mnist.test_images[:500], mnist.test_labels[:500])}
  for split, (images_file, labels_file) in idx.SPLIT_FILES.items():
    images, labels = splits[split]
    write_idx(folder / f'{images_file}.gz', images.reshape(-1, 28, 28))
    write_idx(folder / f'{labels_file}.gz', labels)
  overrides = {'dataset': f'idx:{folder}', 'data_dir': str(root / 'tfds')}
  datasets.load(overrides['dataset'], overrides['data_dir'])  # Prepared once, here.
  return overrides
