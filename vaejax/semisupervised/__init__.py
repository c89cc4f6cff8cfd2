"""Semi-supervised pieces: the labelled splits, M1's features, classifiers on few labels."""
