"""Rebuilds vaejax/bundled/mnist.npz from the MNIST IDX files.

Usage: python scripts/bundle_mnist.py ../shared/data/mnist vaejax/bundled/mnist.npz
Then update MNIST_SHA256 in vaejax/data/datasets.py with the printed digest.
"""

import hashlib
import pathlib
import sys

import numpy as np

from vaejax.data.idx import read_idx


def main(src: str, dst: str) -> None:
  src_dir = pathlib.Path(src)
  arrays = {
      'train_images': read_idx(src_dir / 'train-images-idx3-ubyte.gz'),
      'train_labels': read_idx(src_dir / 'train-labels-idx1-ubyte.gz'),
      'test_images': read_idx(src_dir / 't10k-images-idx3-ubyte.gz'),
      'test_labels': read_idx(src_dir / 't10k-labels-idx1-ubyte.gz'),
  }
  np.savez_compressed(dst, **arrays)
  print(hashlib.sha256(pathlib.Path(dst).read_bytes()).hexdigest())


if __name__ == '__main__':
  main(*sys.argv[1:])
