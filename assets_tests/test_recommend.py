"""The ranking policy's two pure steps: exposure floors, and exploration with exact propensities."""

from collections import Counter

import numpy as np
import pytest

from dataflywheel.serving.recommend import explore, exposure_floors


def test_without_floors_the_list_is_the_top_k_by_score():
    score = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    groups = {"new": np.zeros(5, bool)}
    assert exposure_floors(score, groups, {"new": 0.5}, 3) == [1, 3, 2]


@pytest.mark.parametrize("seed", range(30))
def test_every_prefix_keeps_its_floor_while_the_group_has_candidates(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(20, 200)), int(rng.integers(5, 30))
    score = rng.random(n)
    new = rng.random(n) < rng.uniform(0.01, 0.2)  # few new items, ranked anywhere; some in small containers too
    small = rng.random(n) < rng.uniform(0.01, 0.2)
    floors = {"new": float(rng.uniform(0, 0.5)), "small": float(rng.uniform(0, 0.5))}
    order = exposure_floors(score, {"new": new, "small": small}, floors, k)
    assert len(order) == len(set(order)) == min(k, n)
    for length in range(1, len(order) + 1):
        prefix = order[:length]
        assert sum(new[i] for i in prefix) >= min(int(floors["new"] * length), new.sum())
        assert sum(small[i] for i in prefix) >= min(int(floors["small"] * length), small.sum())
    # Outside the groups, the order is by score.
    free = [i for i in order if not new[i] and not small[i]]
    assert free == sorted(free, key=lambda i: -score[i])


@pytest.mark.parametrize("epsilon", [0.1, 0.5])
def test_logged_propensities_are_the_frequencies_the_policy_shows_items_with(epsilon):
    order, n_candidates, k = [4, 0, 7, 2], 12, 4
    rng = np.random.default_rng(11)
    draws = 40_000
    seen, logged = Counter(), {}
    for _ in range(draws):
        for position, (item, propensity, _) in enumerate(explore(order, n_candidates, k, epsilon, rng)):
            seen[(item, position)] += 1
            logged.setdefault((item, position), propensity)
    for key, propensity in logged.items():
        standard_error = (propensity * (1 - propensity) / draws) ** 0.5
        assert abs(seen[key] / draws - propensity) < 5 * standard_error + 1e-9, key
    for position in range(k):  # each slot's propensities over everything it can show sum to one
        assert sum(p for (item, pos), p in logged.items() if pos == position) == pytest.approx(1.0)


def test_an_item_is_never_shown_twice_in_a_list():
    rng = np.random.default_rng(5)
    for _ in range(2_000):
        shown = [item for item, _, _ in explore(list(range(10)), 30, 10, 0.5, rng)]
        assert len(shown) == len(set(shown))


def test_too_few_candidates_to_explore_with_show_the_list_with_certainty():
    shown = explore([1, 0, 2], 4, 3, 0.5, np.random.default_rng(0))
    assert shown == [(1, 1.0, False), (0, 1.0, False), (2, 1.0, False)]
