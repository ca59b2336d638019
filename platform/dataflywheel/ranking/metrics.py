"""Ranking and calibration metrics on plain arrays (exact, not streaming approximations)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

EPS = 1e-7


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half; None if one class only."""
    labels = np.asarray(labels, bool)
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    if len(labels) == 0:
        return None
    p = np.clip(np.asarray(probabilities, float), EPS, 1 - EPS)
    y = np.asarray(labels, float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def calibration(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """Mean predicted over observed rate: 1.0 is calibrated, above 1 over-predicts."""
    observed = float(np.mean(labels)) if len(labels) else 0.0
    return float(np.mean(probabilities)) / observed if observed > 0 else None


def ndcg_at_k(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray, k: int = 10) -> float | None:
    """Mean NDCG@k over groups (requests) with at least one positive label.

    Each group's items are ranked by score (ties broken by order of appearance); gains
    are the labels, discounted by log2(rank + 1).
    """
    groups, labels, scores = np.asarray(groups), np.asarray(labels, float), np.asarray(scores, float)
    order = np.lexsort((np.arange(len(scores)), -scores, groups))
    groups, labels = groups[order], labels[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    ends = np.r_[starts[1:], len(groups)]
    values = []
    for start, end in zip(starts, ends):
        gains = labels[start:end]
        if gains.sum() == 0:
            continue
        discounts = 1 / np.log2(np.arange(2, min(k, len(gains)) + 2))
        dcg = float((gains[:k] * discounts).sum())
        ideal = float((np.sort(gains)[::-1][:k] * discounts).sum())
        values.append(dcg / ideal)
    return float(np.mean(values)) if values else None
