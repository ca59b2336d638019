"""Off-policy evaluation: what another policy's reward would have been, from a logged policy's data.

Each logged row is one action a logging policy took (an item shown at a position) with its
reward (clicked), the probability the logging policy had of taking it, and the probability
the target policy would have. Weighting each reward by ``target / logging`` makes the logged
rewards stand for the target's (inverse propensity scoring); the self-normalized form divides
by the weights' sum instead of n (a little bias, much less variance); the doubly robust form
starts from a reward model's estimate for the target and corrects it with the weighted error
of that model on what was logged (unbiased if either the propensities or the model are right).

Every estimator returns a 95% confidence interval from the normal approximation of its
per-row terms (for the self-normalized one, by the delta method), so an estimate is never
reported without how far it can be off. The exact propensities the service logs are what make
these unbiased; an estimate from rows whose logging propensity is 0 is refused.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class Estimate:
    estimate: float
    ci_low: float
    ci_high: float
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


def _arrays(*columns) -> list[np.ndarray]:
    arrays = [np.asarray(c, dtype=float) for c in columns]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
        raise ValueError("every column must be one-dimensional and of the same length")
    if not len(arrays[0]):
        raise ValueError("no logged rows")
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValueError("a value is missing or not finite")
    return arrays


def _weights(logging_propensity: np.ndarray, target_propensity: np.ndarray, max_weight: float | None) -> np.ndarray:
    """target / logging, clipped at ``max_weight`` if given (a bias towards the logged rewards
    in exchange for bounded variance, for when a few rows would otherwise carry the estimate)."""
    if np.any(logging_propensity <= 0) or np.any(logging_propensity > 1):
        raise ValueError("a logging propensity is outside (0, 1]: the row's action could not have been logged")
    if np.any(target_propensity < 0) or np.any(target_propensity > 1):
        raise ValueError("a target propensity is outside [0, 1]")
    weights = target_propensity / logging_propensity
    return weights if max_weight is None else np.minimum(weights, max_weight)


def _mean_with_interval(terms: np.ndarray) -> Estimate:
    n = len(terms)
    mean = float(terms.mean())
    half = Z_95 * float(terms.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return Estimate(mean, mean - half, mean + half, n)


def ips(reward, logging_propensity, target_propensity, max_weight: float | None = None) -> Estimate:
    """Inverse propensity scoring: the mean of reward x target / logging."""
    reward, logging_propensity, target_propensity = _arrays(reward, logging_propensity, target_propensity)
    return _mean_with_interval(reward * _weights(logging_propensity, target_propensity, max_weight))


def snips(reward, logging_propensity, target_propensity, max_weight: float | None = None) -> Estimate:
    """Self-normalized IPS: sum(w x reward) / sum(w), its interval by the delta method."""
    reward, logging_propensity, target_propensity = _arrays(reward, logging_propensity, target_propensity)
    w = _weights(logging_propensity, target_propensity, max_weight)
    n, total = len(w), float(w.sum())
    if total == 0:
        raise ValueError("the target policy would take none of the logged actions: nothing to normalize by")
    estimate = float((w * reward).sum()) / total
    # The ratio's linearization: each row contributes w (reward - estimate) / mean(w).
    terms = w * (reward - estimate) / (total / n)
    half = Z_95 * float(terms.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return Estimate(estimate, estimate - half, estimate + half, n)


def doubly_robust(reward, logging_propensity, target_propensity, reward_hat_logged, reward_hat_target) -> Estimate:
    """The reward model's estimate for the target policy (``reward_hat_target``: the expected
    reward under the target's own choice in that context), corrected by the weighted error of
    the model on the logged action (``reward - reward_hat_logged``)."""
    reward, logging_propensity, target_propensity, reward_hat_logged, reward_hat_target = _arrays(
        reward, logging_propensity, target_propensity, reward_hat_logged, reward_hat_target
    )
    w = _weights(logging_propensity, target_propensity, None)
    return _mean_with_interval(reward_hat_target + w * (reward - reward_hat_logged))
