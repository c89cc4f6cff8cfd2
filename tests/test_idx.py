"""IDX folders (MNIST format) as TFDS datasets."""

import gzip
import pathlib

import numpy as np
import pytest

from vaejax.data import datasets
from vaejax.data import idx
from vaejax.errors import UserError
from tests.conftest import write_idx

SHARED_FASHION_MNIST = pathlib.Path(__file__).parents[2] / 'shared' / 'data' / 'fashion_mnist'


@pytest.fixture
def idx_folder(tmp_path):
  folder = tmp_path / 'tiny_idx'
  folder.mkdir()
  rng = np.random.default_rng(0)
  arrays = {}
  for split, (images, labels) in idx.SPLIT_FILES.items():
    n = 12 if split == 'train' else 5
    arrays[split] = (rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n))
    write_idx(folder / f'{images}.gz', arrays[split][0])
    write_idx(folder / f'{labels}.gz', arrays[split][1])
  return folder, arrays


def test_idx_folder_round_trips_through_tfds(idx_folder, tmp_path):
  folder, arrays = idx_folder
  dataset = datasets.load(f'idx:{folder}', str(tmp_path / 'tfds'))
  images, labels = arrays['train']
  expected = sorted(zip(map(bytes, images.reshape(12, 784).astype(np.uint8)), labels))
  assert sorted(zip(map(bytes, dataset.train_images), dataset.train_labels)) == expected
  assert dataset.test_images.shape == (5, 784)
  assert [p.name for p in (tmp_path / 'tfds' / 'idx_folder').glob('tiny_idx_*/1.0.0')] == [
      '1.0.0']
  again = datasets.load(f'idx:{folder}', str(tmp_path / 'tfds'))  # Prepared once, then read.
  np.testing.assert_array_equal(again.train_images, dataset.train_images)


def test_idx_cache_is_keyed_by_content(idx_folder, tmp_path):
  folder, arrays = idx_folder
  other = tmp_path / 'elsewhere' / folder.name  # Same name, other images.
  other.mkdir(parents=True)
  for split, (images_file, labels_file) in idx.SPLIT_FILES.items():
    images, labels = arrays[split]
    write_idx(other / f'{images_file}.gz', 255 - images)
    write_idx(other / f'{labels_file}.gz', labels)
  first = datasets.load(f'idx:{folder}', str(tmp_path / 'tfds'))
  second = datasets.load(f'idx:{other}', str(tmp_path / 'tfds'))
  np.testing.assert_array_equal(np.sort(second.test_images, 0),
                                np.sort(255 - first.test_images, 0))
  write_idx(folder / 't10k-images-idx3-ubyte.gz', arrays['test'][0] // 2)  # Edited.
  edited = datasets.load(f'idx:{folder}', str(tmp_path / 'tfds'))
  np.testing.assert_array_equal(np.sort(edited.test_images, 0),
                                np.sort(first.test_images // 2, 0))


def test_truncated_idx_files(idx_folder, tmp_path):
  folder, _ = idx_folder
  path = folder / 't10k-images-idx3-ubyte.gz'
  raw = gzip.decompress(path.read_bytes())
  path.write_bytes(gzip.compress(raw[:-10]))
  with pytest.raises(UserError, match='is truncated or too long'):
    datasets.load(f'idx:{folder}', str(tmp_path / 'tfds'))
  path.write_bytes(gzip.compress(raw)[:-20])
  with pytest.raises(UserError, match='is not a whole gzip file'):
    datasets.load(f'idx:{folder}', str(tmp_path / 'tfds'))


def test_bad_idx_folders(tmp_path):
  with pytest.raises(UserError, match='does not exist'):
    datasets.load(f'idx:{tmp_path}/nowhere')
  with pytest.raises(UserError, match='has no t10k-images-idx3-ubyte'):
    datasets.load(f'idx:{tmp_path}', str(tmp_path / 'tfds'))


def test_fashion_mnist_alias_says_how_to_install(monkeypatch, tmp_path):
  monkeypatch.setattr(datasets, 'FASHION_MNIST_DIR', str(tmp_path / 'absent'))
  with pytest.raises(UserError, match='apt-get install dataset-fashion-mnist'):
    datasets.load('fashion_mnist')


# The real Fashion-MNIST: Debian's package (.ci/run installs it), else ../shared/data's copy.
# Its IDX files are read directly: the TFDS round trip is the tiny folder's above (preparing
# the real 70,000 images as TFDS takes ~20 s of the suite and tests nothing more).
FASHION_MNIST = next((folder for folder in (pathlib.Path(datasets.FASHION_MNIST_DIR),
                                            SHARED_FASHION_MNIST) if folder.is_dir()), None)


@pytest.mark.skipif(FASHION_MNIST is None, reason=f'{datasets.FASHION_MNIST_DIR} is absent: '
                    'apt-get install dataset-fashion-mnist')
def test_real_fashion_mnist():
  for split, count in (('train', 60000), ('test', 10000)):
    images_stem, labels_stem = idx.SPLIT_FILES[split]
    images = idx.read_idx(idx.find_file(FASHION_MNIST, images_stem))
    labels = idx.read_idx(idx.find_file(FASHION_MNIST, labels_stem))
    assert images.shape == (count, 28, 28) and 0 < images.mean() < 255
    np.testing.assert_array_equal(np.bincount(labels), [count // 10] * 10)
