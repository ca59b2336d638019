"""A two-arm comparison that may be looked at after every batch of traffic: the mixture
sequential probability ratio test (mSPRT) of Johari, Pekelis and Walsh ("Always valid
inference", 2017), for the difference of two means.

A fixed-horizon test checked over and over finds a "significant" difference sooner or later
even when there is none; the mSPRT's p-value and confidence interval are valid at every
look, so a canary can be judged continuously and stopped the moment it is clear. With a
normal mixing distribution N(0, tau^2) over the difference and the normal approximation of
each arm's mean (the variance pooled from both arms' per-unit outcomes), the likelihood ratio
after n units is

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 * d^2 / (2 V (V + tau^2)))

where d is the observed difference (challenger minus champion) and V its variance. The test
rejects "no difference" once Lambda >= 1 / alpha; the always-valid p-value is min(1, 1 / max
Lambda so far), and the confidence interval is every difference the test would not reject.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class SequentialResult:
    difference: float  # challenger's mean minus the champion's
    ci_low: float  # always-valid (1 - alpha) interval for the difference, at the look it is from
    ci_high: float
    p_value: float  # always-valid
    n_champion: int  # units at the look the result is from
    n_challenger: int

    def significant(self, alpha: float) -> bool:
        return self.p_value <= alpha


def msprt(champion: np.ndarray, challenger: np.ndarray, tau: float, alpha: float = 0.05) -> SequentialResult:
    """Compare the per-unit outcomes of two arms at one look (for a canary: clicks per served list):
    ``msprt_over_time`` with every unit served at the same instant.

    ``tau`` is the scale of differences worth detecting (the mixing distribution's standard
    deviation): the test is most powerful for differences of about that size."""
    a, b = np.asarray(champion, dtype=float), np.asarray(challenger, dtype=float)
    return msprt_over_time(a, np.zeros(len(a)), b, np.zeros(len(b)), tau, alpha)


def msprt_over_time(
    champion: np.ndarray,
    champion_at: np.ndarray,
    challenger: np.ndarray,
    challenger_at: np.ndarray,
    tau: float,
    alpha: float = 0.05,
    first_look: int = 2,
) -> SequentialResult:
    """The test looked at after every unit, in the order the units were served (``*_at``; units
    served at the same time are looked at together), from ``first_look`` units per arm on: the
    result (difference, interval, units) at the first look that rejects, where the test stops
    however late it is read, else at the last look, with the always-valid p-value of the whole
    sequence (the running minimum).

    Judging only the data at hand at each verdict would forget a difference that was clear at an
    earlier look and diluted since (a champion that improved during the canary): the outcome would
    depend on when the verdict happened to run."""
    a, b = np.asarray(champion, dtype=float), np.asarray(challenger, dtype=float)
    at = np.concatenate([np.asarray(champion_at, dtype=float), np.asarray(challenger_at, dtype=float)])
    order = np.argsort(at, kind="stable")
    at, values = at[order], np.concatenate([a, b])[order]
    is_b = np.concatenate([np.zeros(len(a), bool), np.ones(len(b), bool)])[order]
    n_b = np.cumsum(is_b)
    n_a = np.arange(1, len(values) + 1) - n_b
    last_of_its_time = np.append(at[1:] != at[:-1], True)
    looks = (n_a >= max(first_look, 2)) & (n_b >= max(first_look, 2)) & last_of_its_time
    if not looks.any():
        return SequentialResult(0.0, -math.inf, math.inf, 1.0, len(a), len(b))
    n_a, n_b = n_a[looks], n_b[looks]
    mean_a, squares_a = _running_moments(np.where(is_b, 0.0, values), looks, n_a)
    mean_b, squares_b = _running_moments(np.where(is_b, values, 0.0), looks, n_b)
    d, v = mean_b - mean_a, _variance_of_difference(squares_a + squares_b, n_a, n_b)
    log_lambda = np.where(v > 0, _log_lambda(d, np.where(v > 0, v, 1.0), tau * tau), -np.inf)
    p_values = np.minimum(1.0, np.exp(-log_lambda))
    rejected = np.flatnonzero(p_values <= alpha)
    stop = int(rejected[0]) if len(rejected) else len(d) - 1
    result = _result(float(d[stop]), float(v[stop]), tau, alpha, int(n_a[stop]), int(n_b[stop]))
    return replace(result, p_value=float(p_values[: stop + 1].min()))


def _running_moments(values: np.ndarray, looks: np.ndarray, n: np.ndarray):
    """One arm's mean and sum of squared deviations from it at each look (``values`` zero where
    the unit is not the arm's; outcomes are small counts, so the one-pass form loses nothing)."""
    total = np.cumsum(values)[looks]
    mean = total / n
    return mean, np.maximum(np.cumsum(values * values)[looks] - n * mean * mean, 0.0)


def _variance_of_difference(squares, n_a, n_b):
    """The variance of the difference of the two means from the pooled variance of both arms (the
    variance under "no difference"): an arm that has seen no click or engagement yet has no
    variance of its own, and trusting that would make a rare outcome look certain."""
    return squares / (n_a + n_b - 2) * (1 / n_a + 1 / n_b)


def _log_lambda(d, v, t2):
    return 0.5 * np.log(v / (v + t2)) + t2 * d * d / (2 * v * (v + t2))


def _result(d: float, v: float, tau: float, alpha: float, n_a: int, n_b: int) -> SequentialResult:
    if v == 0.0:  # no variation in either arm yet: nothing to judge by
        return SequentialResult(d, -math.inf, math.inf, 1.0, n_a, n_b)
    t2 = tau * tau
    p_value = min(1.0, math.exp(-float(_log_lambda(d, v, t2))))
    half = math.sqrt(2 * v * (v + t2) / t2 * (math.log(1 / alpha) + 0.5 * math.log((v + t2) / v)))
    return SequentialResult(d, d - half, d + half, p_value, n_a, n_b)
