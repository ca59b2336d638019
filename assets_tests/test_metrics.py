"""Evaluation metrics against values worked out by hand on small cases."""

import math

import numpy as np
import pytest

from dataflywheel.ranking.metrics import auc, calibration, log_loss, ndcg_at_k


def test_auc_counts_correctly_ordered_pairs_with_ties_as_half():
    # Positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4) (0.8>0.1) (0.4=0.4 -> 1/2) (0.4>0.1) = 3.5 / 4
    assert auc(np.array([1, 1, 0, 0]), np.array([0.8, 0.4, 0.4, 0.1])) == pytest.approx(0.875)
    assert auc(np.array([1, 0]), np.array([0.1, 0.9])) == 0.0
    assert auc(np.array([1, 1]), np.array([0.1, 0.9])) is None  # one class: undefined


def test_log_loss_and_calibration():
    labels, p = np.array([1, 0]), np.array([0.8, 0.4])
    assert log_loss(labels, p) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert calibration(labels, p) == pytest.approx(0.6 / 0.5)
    assert calibration(np.array([0, 0]), p) is None


def test_ndcg_ranks_each_request_by_score_and_skips_requests_without_positives():
    groups = np.array(["a", "a", "a", "b", "b", "c"])
    labels = np.array([0, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.5, 0.1, 0.7, 0.2, 0.3])
    # a: the positive is ranked 2nd -> 1/log2(3); b: 1st -> 1; c: no positive, skipped.
    assert ndcg_at_k(groups, labels, scores) == pytest.approx((1 / math.log2(3) + 1) / 2)
    # Cut at k=1: a's positive falls outside the top 1.
    assert ndcg_at_k(groups, labels, scores, k=1) == pytest.approx(0.5)
