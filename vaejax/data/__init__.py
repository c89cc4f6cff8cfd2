"""Datasets: the bundled MNIST, TFDS data sources, IDX folders; binarization and data orders."""
