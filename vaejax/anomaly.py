"""Scoring how well a score separates anomalies: AUROC and AUPRC, with ties handled."""

import numpy as np


def auroc(scores: np.ndarray, is_anomaly: np.ndarray) -> float:
  """Probability that a random anomaly scores above a random normal example (ties count 1/2)."""
  scores, is_anomaly = np.asarray(scores, np.float64), np.asarray(is_anomaly, bool)
  order = np.argsort(scores, kind='stable')
  ranks = np.empty(len(scores))
  sorted_scores = scores[order]
  # Average ranks over ties (1-based), then the Mann-Whitney U statistic.
  _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
  average = first + (counts + 1) / 2.0
  ranks[order] = np.repeat(average, counts)
  num_pos, num_neg = is_anomaly.sum(), (~is_anomaly).sum()
  u = ranks[is_anomaly].sum() - num_pos * (num_pos + 1) / 2.0
  return float(u / (num_pos * num_neg))


def auprc(scores: np.ndarray, is_anomaly: np.ndarray) -> float:
  """Average precision: mean over anomalies of the precision among scores >= theirs."""
  scores, is_anomaly = np.asarray(scores, np.float64), np.asarray(is_anomaly, bool)
  precisions = [np.mean(is_anomaly[scores >= s]) for s in scores[is_anomaly]]
  return float(np.mean(precisions))
