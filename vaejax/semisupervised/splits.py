"""The semi-supervised splits of a training set: validation, labelled and unlabelled images.

Validation is the last num_validation training images (model selection only; the test set is
never used for it). The labelled subset is num_labels images, num_labels / C of each of the C
classes, drawn from the rest as a function of (seed, num_labels) alone, so an M1 probe and an
M2 run with the same seed and N see the same labels. Every other image of the rest is used
without its label.
"""

from typing import NamedTuple

import numpy as np

from vaejax.data import datasets
from vaejax.errors import UserError


class Splits(NamedTuple):
  """Indices into the training set; labelled and unlabelled together are the non-validation
  images (with num_labels = 0, all of them are labelled and none unlabelled)."""
  labelled: np.ndarray
  unlabelled: np.ndarray
  validation: np.ndarray
  num_classes: int


def num_classes(labels: np.ndarray) -> int:
  """C, the number of classes of integer labels 0..C-1; a UserError without labels."""
  if labels.size == 0 or labels.min() < 0:
    raise UserError('semi-supervised learning needs a dataset with labels; this one has none')
  return int(labels.max()) + 1


def make_splits(labels: np.ndarray, num_labels: int, num_validation: int, seed: int) -> Splits:
  """Validation, labelled and unlabelled indices of a training set with these labels.

  Args:
    labels: the training labels [N].
    num_labels: labelled images, a multiple of the number of classes (0: all of them).
    num_validation: the last num_validation images are the validation set.
    seed: with num_labels, the only input of the labelled draw.
  """
  classes = num_classes(labels)
  rest = len(labels) - num_validation
  if not 0 < num_validation < len(labels):
    raise UserError(f'num_validation must be between 1 and {len(labels) - 1} (the training '
                    f'images less one), got {num_validation}')
  if num_labels < 0 or num_labels % classes:
    raise UserError(f'num_labels must be a multiple of the {classes} classes (or 0 for all), '
                    f'got {num_labels}')
  if num_labels > rest:
    raise UserError(f'num_labels {num_labels} is larger than the {rest} training images '
                    f'outside the validation set')
  validation = np.arange(rest, len(labels))
  if num_labels == 0:
    return Splits(np.arange(rest), np.arange(0), validation, classes)
  rng = np.random.default_rng([seed, num_labels])
  per_class = num_labels // classes
  chosen = []
  for c in range(classes):
    of_class = np.flatnonzero(labels[:rest] == c)
    if len(of_class) < per_class:
      raise UserError(f'class {c} has only {len(of_class)} training images outside the '
                      f'validation set; num_labels {num_labels} needs {per_class} of each')
    chosen.append(rng.choice(of_class, per_class, replace=False))
  labelled = np.sort(np.concatenate(chosen))
  return Splits(labelled, np.setdiff1d(np.arange(rest), labelled), validation, classes)


class LabelledData(NamedTuple):
  """A dataset cut into its semi-supervised splits: inputs [N, D] (uint8 images or float
  features), labels [N]."""
  labelled_x: np.ndarray
  labelled_y: np.ndarray
  unlabelled_x: np.ndarray
  validation_x: np.ndarray
  validation_y: np.ndarray
  test_x: np.ndarray
  test_y: np.ndarray
  splits: Splits


def split_dataset(dataset: datasets.Dataset, s: Splits) -> LabelledData:
  """The dataset's training images cut into the splits s (labels kept for the labelled and
  validation images only); its test set as it is."""
  train_x, train_y = dataset.train_images, dataset.train_labels
  return LabelledData(train_x[s.labelled], train_y[s.labelled], train_x[s.unlabelled],
                      train_x[s.validation], train_y[s.validation], dataset.test_images,
                      dataset.test_labels, s)
