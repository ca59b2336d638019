"""Do the off-policy estimates hold? Estimate policies from a logging policy's logs, then deploy them.

The simulator's logging policy (popularity in the tenant, 10% uniform exploration, one draw
per slot: ``DaySampler.feed_slots``) logs a day of home-feed slots with their exact
propensities and the clicks the hidden truth decided. Each target policy below is a
distribution over the same tenant's eligible items, so its propensity for any logged item is
exact. IPS, SNIPS and doubly robust (``ranking.off_policy``) estimate each target's click rate
per slot from those logs; then the target is deployed on the same day's requests (its own
draws, its own clicks) and its click rate measured. The reward model of the doubly robust
estimator is fitted on the day before (a click rate per position and same-team flag), never
on the day it is judged on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dataflywheel.ranking import off_policy
from dataflywheel.simulator.activity import FEED_SIZE, DaySampler
from dataflywheel.simulator.config import SimulationConfig
from dataflywheel.simulator.world import World

# A target policy: weights over candidate items for one user at one time (not normalized).
Weights = Callable[[World, int, np.ndarray, float], np.ndarray]

TARGETS: dict[str, Weights] = {
    "uniform": lambda w, user, items, now_s: np.ones(len(items)),
    "own team first": lambda w, user, items, now_s: np.where(w.item_team[items] == w.user_team[user], 50.0, 1.0),
    "newest first": lambda w, user, items, now_s: np.exp(-(now_s - w.item_created_s[items]) / (2 * 86_400)) + 0.01,
    "popular, sharper": lambda w, user, items, now_s: w.item_popularity[items] ** 2,
}


@dataclass(frozen=True)
class Logged:
    users: np.ndarray
    items: np.ndarray
    positions: np.ndarray
    now_s: np.ndarray
    propensity: np.ndarray
    clicked: np.ndarray


@dataclass(frozen=True)
class PolicyCheck:
    policy: str
    deployed: off_policy.Estimate  # the click rate the policy got when deployed (with its own interval)
    estimates: dict[str, off_policy.Estimate]  # estimator -> estimate from the logs

    def covered(self, estimator: str) -> bool:
        e = self.estimates[estimator]
        return e.ci_low <= self.deployed.estimate <= e.ci_high


def log_day(world: World, config: SimulationConfig, day: int, n_requests: int, rng: np.random.Generator) -> Logged:
    """The logging policy's slots on ``n_requests`` home-feed requests of ``day``, with their clicks."""
    sampler = DaySampler(world, config, day, rng)
    users = np.repeat(sampler.users(n_requests), FEED_SIZE)
    now_s = np.repeat((sampler.times_us(users[::FEED_SIZE]) - config.start_us) // 1_000_000, FEED_SIZE)
    positions = np.tile(np.arange(FEED_SIZE), n_requests)
    items, propensity = sampler.feed_slots(users)
    ok = items >= 0
    users, items, positions, now_s, propensity = (a[ok] for a in (users, items, positions, now_s, propensity))
    clicked = rng.random(len(users)) < world.oracle_ctr(users, items, positions, now_s)
    return Logged(users, items, positions, now_s, propensity, clicked.astype(float))


def _eligible(world: World, user: int, day_start_s: int) -> np.ndarray:
    """The items the logging policy can show ``user`` on a day: the tenant's, created before it."""
    lo, hi = world.tenant_items[0][world.user_tenant[user]], world.tenant_items[1][world.user_tenant[user]]
    items = np.arange(lo, hi)
    return items[world.item_created_s[items] < day_start_s]


def check(world: World, config: SimulationConfig, day: int, n_requests: int, seed: int) -> list[PolicyCheck]:
    """Every target policy's estimates from ``day``'s logs against its deployed click rate."""
    rng = np.random.default_rng([seed, 5])
    reward_model = _position_team_rates(world, log_day(world, config, day - 1, n_requests, rng))
    logged = log_day(world, config, day, n_requests, rng)
    day_start_s = day * 86_400
    requests = np.flatnonzero(logged.positions == 0)  # the first slot of each logged list
    checks = []
    for name, weights in TARGETS.items():
        target_p = np.empty(len(logged.users))
        hat_target = np.empty(len(logged.users))
        deployed_clicks = []
        for start, end in zip(requests, [*requests[1:], len(logged.users)]):
            user, now_s = int(logged.users[start]), float(logged.now_s[start])
            eligible = _eligible(world, user, day_start_s)
            w = weights(world, user, eligible, now_s)
            pi = w / w.sum()
            slots = slice(start, end)
            target_p[slots] = pi[np.searchsorted(eligible, logged.items[slots])]
            same_team = world.item_team[eligible] == world.user_team[user]
            hat_target[slots] = [pi @ reward_model(p, same_team) for p in logged.positions[slots]]
            # Deployed: the policy's own draws for the same request, and the truth's clicks on them.
            shown = rng.choice(eligible, size=end - start, p=pi)
            truth = world.oracle_ctr(np.full(end - start, user), shown, logged.positions[slots], now_s)
            deployed_clicks.append(rng.random(end - start) < truth)
        logged_same_team = world.item_team[logged.items] == world.user_team[logged.users]
        hat_logged = np.array([reward_model(p, np.array([s]))[0] for p, s in zip(logged.positions, logged_same_team)])
        deployed = np.concatenate(deployed_clicks).astype(float)
        half = off_policy.Z_95 * deployed.std(ddof=1) / math.sqrt(len(deployed))
        checks.append(
            PolicyCheck(
                name,
                off_policy.Estimate(
                    float(deployed.mean()), deployed.mean() - half, deployed.mean() + half, len(deployed)
                ),
                {
                    "ips": off_policy.ips(logged.clicked, logged.propensity, target_p),
                    "snips": off_policy.snips(logged.clicked, logged.propensity, target_p),
                    "doubly_robust": off_policy.doubly_robust(
                        logged.clicked, logged.propensity, target_p, hat_logged, hat_target
                    ),
                },
            )
        )
    return checks


def _position_team_rates(world: World, logged: Logged) -> Callable[[int, np.ndarray], np.ndarray]:
    """A plain reward model from a day of logs: the click rate per (position, same team)."""
    same_team = world.item_team[logged.items] == world.user_team[logged.users]
    rates = np.zeros((FEED_SIZE, 2))
    for p in range(FEED_SIZE):
        for s in (0, 1):
            hit = (logged.positions == p) & (same_team == s)
            rates[p, s] = (logged.clicked[hit].sum() + 1) / (hit.sum() + 20)  # shrunk towards 5%
    return lambda position, same: rates[position, same.astype(int)]
