"""AUROC and AUPRC against their definitions."""

import numpy as np
import pytest

from vaejax import anomaly


def test_perfect_and_reversed_separation():
  scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
  labels = np.array([False, False, False, True, True])
  assert anomaly.auroc(scores, labels) == 1.0 and anomaly.auprc(scores, labels) == 1.0
  assert anomaly.auroc(-scores, labels) == 0.0


def test_auroc_is_the_pairwise_win_rate_with_ties_halved():
  rng = np.random.default_rng(0)
  scores = rng.integers(0, 5, 300).astype(float)  # Many ties.
  labels = rng.random(300) < 0.2
  pos, neg = scores[labels], scores[~labels]
  wins = (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()
  assert anomaly.auroc(scores, labels) == pytest.approx(wins, rel=1e-12)


def test_auprc_by_hand():
  scores = np.array([0.9, 0.8, 0.7, 0.6])
  labels = np.array([True, False, True, False])
  assert anomaly.auprc(scores, labels) == pytest.approx((1 / 1 + 2 / 3) / 2)
