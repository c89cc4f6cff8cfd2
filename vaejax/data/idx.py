"""Any folder of MNIST-format IDX files as a TFDS dataset, stored as array_record.

The folder holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
t10k-labels-idx1-ubyte, each optionally gzipped (MNIST, Fashion-MNIST, KMNIST, ...).
`prepare(folder, data_dir)` builds it once with a TFDS builder (no TensorFlow involved) under
data_dir/idx_folder/<folder name>_<digest of the files>, and later calls reuse it: two folders
of one name, or a folder whose files were edited, never share a cache.
"""

import gzip
import hashlib
import pathlib
import re

import numpy as np
import tensorflow_datasets as tfds

from vaejax.errors import UserError

SPLIT_FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}


def read_idx(path: str | pathlib.Path) -> np.ndarray:
  """One IDX file of unsigned bytes (gzipped or not) as an array of its shape."""
  path = pathlib.Path(path)
  try:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == '.gz' else path.read_bytes()
  except (OSError, EOFError) as e:
    raise UserError(f'{path} is not a whole gzip file ({e})') from None
  if raw[:3] != b'\x00\x00\x08' or len(raw) < 4 + 4 * raw[3]:
    raise UserError(f'{path} is not an IDX file of unsigned bytes')
  ndim = raw[3]
  shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
  if len(raw) != 4 + 4 * ndim + int(np.prod(shape)):
    raise UserError(f'{path} is truncated or too long: its header says {shape}')
  return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find_file(folder: pathlib.Path, stem: str) -> pathlib.Path:
  for name in (stem, stem + '.gz'):
    if (folder / name).exists():
      return folder / name
  raise UserError(f'IDX folder {folder} has no {stem} (or {stem}.gz)')


def _digest(folder: pathlib.Path) -> str:
  """SHA-256 of the folder's four IDX files, their names and contents (first 12 hex digits)."""
  sha = hashlib.sha256()
  for stem in sorted(stem for files in SPLIT_FILES.values() for stem in files):
    path = find_file(folder, stem)
    sha.update(path.name.encode() + b'\0' + path.read_bytes())
  return sha.hexdigest()[:12]


class IdxFolder(tfds.core.GeneratorBasedBuilder):
  """A TFDS builder for one IDX folder; its config is named after the folder and its files'
  content."""
  VERSION = tfds.core.Version('1.0.0')

  def __init__(self, folder: str | pathlib.Path, **kwargs):
    self._folder = pathlib.Path(folder)
    name = re.sub(r'[^a-z0-9_]', '_', self._folder.absolute().name.lower()) or 'root'
    super().__init__(config=tfds.core.BuilderConfig(name=f'{name}_{_digest(self._folder)}'),
                     **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    rows, cols = read_idx(find_file(self._folder, SPLIT_FILES['test'][0])).shape[1:]
    return tfds.core.DatasetInfo(
        builder=self,
        description=f'IDX files of {self._folder.absolute()}',
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(rows, cols, 1), dtype=np.uint8),
            'label': tfds.features.Tensor(shape=(), dtype=np.int64),
        }))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(*files) for split, files in SPLIT_FILES.items()}

  def _generate_examples(self, images_stem: str, labels_stem: str):
    images = read_idx(find_file(self._folder, images_stem))
    labels = read_idx(find_file(self._folder, labels_stem))
    if len(images) != len(labels):
      raise UserError(f'{images_stem} has {len(images)} images but {labels_stem} '
                      f'{len(labels)} labels in {self._folder}')
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {'image': image[..., None], 'label': int(label)}


def prepare(folder: str | pathlib.Path, data_dir: str | None = None) -> IdxFolder:
  """The folder's TFDS builder, prepared as array_record under data_dir if not yet."""
  if not pathlib.Path(folder).is_dir():
    raise UserError(f'IDX folder {folder} does not exist')
  builder = IdxFolder(folder, data_dir=data_dir, file_format='array_record')
  if not builder.is_prepared():
    builder.download_and_prepare()
  return builder
