"""A two-arm comparison that may be looked at after every batch of traffic: the mixture
sequential probability ratio test (mSPRT) of Johari, Pekelis and Walsh ("Always valid
inference", 2017), for the difference of two means.

A fixed-horizon test checked over and over finds a "significant" difference sooner or later
even when there is none; the mSPRT's p-value and confidence interval are valid at every
look, so a canary can be judged continuously and stopped the moment it is clear. With a
normal mixing distribution N(0, tau^2) over the difference and the normal approximation of
each arm's mean (variance estimated from the arm's own per-unit outcomes), the likelihood ratio
after n units is

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 * d^2 / (2 V (V + tau^2)))

where d is the observed difference (challenger minus champion) and V its variance. The test
rejects "no difference" once Lambda >= 1 / alpha; the always-valid p-value is min(1, 1 / max
Lambda so far), and the confidence interval is every difference the test would not reject.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SequentialResult:
    difference: float  # challenger's mean minus the champion's
    ci_low: float  # always-valid (1 - alpha) interval for the difference
    ci_high: float
    p_value: float  # always-valid, for this look (take the running minimum across looks)
    n_champion: int
    n_challenger: int

    def significant(self, alpha: float) -> bool:
        return self.p_value <= alpha


def msprt(champion: np.ndarray, challenger: np.ndarray, tau: float, alpha: float = 0.05) -> SequentialResult:
    """Compare the per-unit outcomes of two arms (for a canary: clicks per served list).

    ``tau`` is the scale of differences worth detecting (the mixing distribution's standard
    deviation): the test is most powerful for differences of about that size."""
    a, b = np.asarray(champion, dtype=float), np.asarray(challenger, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return SequentialResult(0.0, -math.inf, math.inf, 1.0, len(a), len(b))
    d = float(b.mean() - a.mean())
    v = float(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    if v == 0.0:  # no variation in either arm yet: nothing to judge by
        return SequentialResult(d, -math.inf, math.inf, 1.0, len(a), len(b))
    t2 = tau * tau
    log_lambda = 0.5 * math.log(v / (v + t2)) + t2 * d * d / (2 * v * (v + t2))
    p_value = min(1.0, math.exp(-log_lambda))
    half = math.sqrt(2 * v * (v + t2) / t2 * (math.log(1 / alpha) + 0.5 * math.log((v + t2) / v)))
    return SequentialResult(d, d - half, d + half, p_value, len(a), len(b))
