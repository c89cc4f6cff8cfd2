"""Bounds and their gradients: objectives of log weights, estimators, a batch's gradient."""
