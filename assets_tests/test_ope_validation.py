"""Off-policy estimates against reality: a target policy's estimate from the logging policy's
logs contains, within its 95% interval, the click rate the policy gets when deployed, about
as often as a 95% interval should; the logged click rate taken as it is does not."""

import numpy as np
import pytest

from conftest import MONDAY
from dataflywheel.ranking import off_policy
from dataflywheel.simulator import ope_check
from dataflywheel.simulator.config import SimulationConfig
from dataflywheel.simulator.world import build_world

CONFIG = SimulationConfig(days=3, events_per_day=100_000, seed=11, start=MONDAY)
SEEDS = range(1, 6)


@pytest.fixture(scope="module")
def checks():
    world = build_world(CONFIG)
    return {seed: ope_check.check(world, CONFIG, day=1, n_requests=3_000, seed=seed) for seed in SEEDS}


def test_estimates_contain_the_deployed_click_rate_as_often_as_their_level_says(checks):
    every = [c for by_seed in checks.values() for c in by_seed]
    assert {c.policy for c in every} == set(ope_check.TARGETS)
    rates = {c.policy: c.deployed.estimate for c in checks[1]}
    assert max(rates.values()) > 1.3 * min(rates.values())  # the policies are told apart
    for estimator in ("ips", "snips", "doubly_robust"):
        covered = sum(c.covered(estimator) for c in every)
        # 20 intervals at 95%: 17 or more cover unless the estimator is off (binomial tail < 2%).
        assert covered >= 17, (estimator, covered)


def test_the_logged_click_rate_unweighted_does_not(checks):
    """The check has power: crediting every target with the logging policy's own click rate
    (what ignoring the propensities amounts to) misses the policies unlike it."""
    world = build_world(CONFIG)
    missed = 0
    for seed in SEEDS:
        logged = ope_check.log_day(world, CONFIG, 1, 3_000, np.random.default_rng([seed, 5]))
        ones = np.ones(len(logged.clicked))
        naive = off_policy.ips(logged.clicked, ones, ones)
        for c in checks[seed]:
            if c.policy in ("own team first", "newest first"):
                missed += not naive.ci_low <= c.deployed.estimate <= naive.ci_high
    assert missed >= 8, missed  # of 10
