"""The canary's pieces: the always-valid test, the decision and its guardrails, the sticky share,
and the target propensities the off-policy gate replays with."""

from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import orjson
import polars as pl
import pytest

from dataflywheel.lifecycle.canary import Arm, CanaryRules, arms, decide, in_canary, served_lists
from dataflywheel.lifecycle.sequential import msprt, msprt_over_time
from dataflywheel.serving.recommend import explore, slot_propensity

RULES = CanaryRules()


def _clicks(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Clicks per list of ten slots."""
    return rng.binomial(10, rate, n).astype(float)


def _arm(
    clicks: np.ndarray, predicted_ratio: float = 1.0, fallbacks: int = 0, ms: float = 3.0, new: float = 0.25
) -> Arm:
    """One arm's lists, served evenly over the canary (the two arms interleave)."""
    served_at = np.linspace(0.0, 3_600.0, len(clicks))
    return Arm(served_at, clicks, clicks * 0.4, clicks * predicted_ratio, np.full(len(clicks), ms), fallbacks, new)


def _first_rejection(a: np.ndarray, b: np.ndarray, looks: range, test) -> int | None:
    return next((n for n in looks if test(a[:n], b[:n])), None)


def test_looking_after_every_batch_keeps_the_false_alarm_rate_at_alpha():
    """Two identical arms, judged after every 50 lists up to 5,000: the mSPRT rarely cries wolf;
    a fixed-horizon z-test looked at as often does, many times more."""
    rng = np.random.default_rng(3)
    looks = range(50, 5_001, 50)
    always_valid, naive = 0, 0
    for _ in range(200):
        a, b = _clicks(rng, 5_000, 0.07), _clicks(rng, 5_000, 0.07)
        always_valid += _first_rejection(a, b, looks, lambda x, y: msprt(x, y, tau=0.1).significant(0.05)) is not None

        def z_test(x, y):
            se = np.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y))
            return abs(y.mean() - x.mean()) / se > 1.96

        naive += _first_rejection(a, b, looks, z_test) is not None
    assert always_valid / 200 <= 0.06
    assert naive / 200 >= 0.2


def test_a_real_difference_is_found_and_its_interval_holds_it():
    rng = np.random.default_rng(4)
    a, b = _clicks(rng, 3_000, 0.05), _clicks(rng, 3_000, 0.07)
    n = _first_rejection(a, b, range(50, 3_001, 50), lambda x, y: msprt(x, y, tau=0.1).significant(0.05))
    assert n is not None and n < 3_000
    result = msprt(a, b, tau=0.1)
    assert result.difference > 0 and result.ci_low <= 0.2 <= result.ci_high


@pytest.mark.parametrize(
    "rate, champion_lists, challenger_lists",
    [(0.07, 3_000, 3_000), (0.002, 8_000, 2_000)],  # clicks; a rare outcome (engagements) on a 20% share
)
def test_looking_after_every_list_keeps_the_false_alarm_rate_at_alpha(rate, champion_lists, challenger_lists):
    """The verdict's form of the test: every list a look, from the first hundred per arm on. With
    a rare outcome an arm often has none yet: its own variance is zero, and the test must not take
    that for certainty (each arm's own variance raised false alarms to 10% at 0.002)."""
    rng = np.random.default_rng(13)
    alarms = 0
    for _ in range(300):
        a, b = _clicks(rng, champion_lists, rate), _clicks(rng, challenger_lists, rate)
        a_at, b_at = rng.random(champion_lists), rng.random(challenger_lists)
        alarms += msprt_over_time(a, a_at, b, b_at, 0.1, first_look=100).significant(0.05)
    assert alarms / 300 <= 0.05


def test_a_difference_clear_early_is_not_forgotten_when_it_fades():
    """A champion that was worse for the canary's first hours and then caught up (its chain
    learned): on all the lists at once the difference is gone, but the test stopped when it was
    clear, and every later verdict reads that same look."""
    rng = np.random.default_rng(12)
    champion_at, challenger_at = rng.random(3_000), rng.random(3_000)
    champion = np.where(champion_at < 0.3, _clicks(rng, 3_000, 0.045), _clicks(rng, 3_000, 0.075))
    challenger = _clicks(rng, 3_000, 0.07)
    assert not msprt(champion, challenger, tau=0.1).significant(0.05)  # a verdict on all lists at once
    result = msprt_over_time(champion, champion_at, challenger, challenger_at, 0.1, first_look=100)
    assert result.significant(0.05) and result.difference > 0
    assert 150 < result.n_challenger < 900  # well after the first look, before the champion caught up

    def verdict(until: float) -> str:
        def arm(served_at: np.ndarray, clicks: np.ndarray) -> Arm:
            order = np.argsort(served_at)
            kept = served_at[order] <= until
            return replace(_arm(clicks[order][kept]), served_at=served_at[order][kept])

        return decide(arm(champion_at, champion), arm(challenger_at, challenger), RULES).summary()

    assert verdict(0.4) == verdict(0.7) == verdict(1.0)
    assert verdict(1.0).startswith("clicks per list +")


def test_a_miscalibrated_challenger_is_rolled_back_even_with_the_same_clicks():
    rng = np.random.default_rng(5)
    champion, challenger = _arm(_clicks(rng, 800, 0.07)), _arm(_clicks(rng, 200, 0.07), predicted_ratio=20.0)
    decision = decide(champion, challenger, RULES)
    assert decision.action == "rollback" and "predicted / observed" in decision.summary()


def test_calibration_is_judged_against_the_champions_own():
    """After a broken champion both arms learned from skewed data: a challenger off by 20x beside a
    champion off by 5x the other way is no worse calibrated (by the rule's factor); the same 20x
    beside a calibrated champion is."""
    rng = np.random.default_rng(8)
    clicks = _clicks(rng, 800, 0.07), _clicks(rng, 300, 0.07)
    skewed = decide(_arm(clicks[0], predicted_ratio=5.0), _arm(clicks[1], predicted_ratio=0.05), RULES)
    calibrated = decide(_arm(clicks[0]), _arm(clicks[1], predicted_ratio=0.05), RULES)
    assert "predicted / observed" not in skewed.summary()
    assert calibrated.action == "rollback" and "predicted / observed" in calibrated.summary()


def test_a_failing_challenger_is_rolled_back_at_once():
    rng = np.random.default_rng(6)
    decision = decide(_arm(_clicks(rng, 20, 0.07)), _arm(_clicks(rng, 5, 0.07), fallbacks=3), RULES)
    assert decision.action == "rollback" and "error rate" in decision.summary()


def test_a_slow_challenger_is_rolled_back():
    rng = np.random.default_rng(7)
    decision = decide(_arm(_clicks(rng, 800, 0.07)), _arm(_clicks(rng, 200, 0.07), ms=40.0), RULES)
    assert decision.action == "rollback" and "scoring p90" in decision.summary()  # 200 lists: the p90


def test_a_few_stalled_requests_are_not_a_slow_challenger_but_a_slow_tail_is():
    """Before the p99 rests on several lists the tail is the p90: two stalled lists of 150 (a busy
    machine; their p99 is 32 ms) breach nothing; 2% of 1,000 lists ten times slower is a slow p99."""
    rng = np.random.default_rng(11)
    champion = _arm(_clicks(rng, 1_000, 0.07))
    stalled = np.full(150, 3.0)
    stalled[:2] = 60.0
    one_stall = decide(champion, replace(_arm(_clicks(rng, 150, 0.07)), scoring_ms=stalled), RULES)
    assert "scoring" not in one_stall.summary()
    slow_tail = np.where(rng.random(1_000) < 0.02, 30.0, 3.0)
    slow = decide(champion, replace(_arm(_clicks(rng, 1_000, 0.07)), scoring_ms=slow_tail), RULES)
    assert slow.action == "rollback" and "scoring p99" in slow.summary()


def test_a_challenger_that_starves_new_items_is_rolled_back():
    rng = np.random.default_rng(10)
    decision = decide(_arm(_clicks(rng, 800, 0.07)), _arm(_clicks(rng, 200, 0.07), new=0.05), RULES)
    assert decision.action == "rollback" and "new items" in decision.summary()
    # Measured against the serving floor when the champion shows more (a broken champion may).
    floor = CanaryRules(new_item_floor=0.2)
    above_floor = decide(_arm(_clicks(rng, 800, 0.07), new=0.7), _arm(_clicks(rng, 200, 0.07), new=0.21), floor)
    assert "new items" not in above_floor.summary()


def test_a_better_challenger_is_promoted_and_a_worse_one_rolled_back():
    rng = np.random.default_rng(8)
    champion = _arm(_clicks(rng, 1_600, 0.05))
    assert decide(champion, _arm(_clicks(rng, 400, 0.09)), RULES).action == "promote"
    worse = decide(champion, _arm(_clicks(rng, 400, 0.02)), RULES)
    assert worse.action == "rollback" and "clicks per list" in worse.summary()


def test_no_decision_before_the_minimum_and_rollback_once_the_budget_is_spent():
    rng = np.random.default_rng(9)
    assert decide(_arm(_clicks(rng, 500, 0.07)), _arm(_clicks(rng, 50, 0.07)), RULES).action == "continue"
    small_budget = CanaryRules(max_lists=300)
    spent = decide(_arm(_clicks(rng, 1_200, 0.07)), _arm(_clicks(rng, 300, 0.07)), small_budget)
    assert spent.action == "rollback" and "no significant difference" in spent.summary()


def test_the_canary_share_is_sticky_per_user_and_fresh_per_challenger():
    users = [f"u{i}" for i in range(20_000)]
    first = [in_canary(u, "41", 0.2) for u in users]
    assert first == [in_canary(u, "41", 0.2) for u in users]  # the same user, the same arm
    assert abs(sum(first) / len(users) - 0.2) < 0.01
    other = [in_canary(u, "42", 0.2) for u in users]
    overlap = sum(a and b for a, b in zip(first, other)) / sum(first)
    assert abs(overlap - 0.2) < 0.03  # the next canary's users are drawn afresh


@pytest.mark.parametrize("epsilon", [0.1, 0.4])
def test_target_propensities_are_the_frequencies_the_policy_shows_items_with(epsilon):
    """What the off-policy gate credits a policy with is what ``explore`` does."""
    order, candidates, k = [4, 0, 7, 2], list(range(12)), 4
    rng, draws = np.random.default_rng(12), 40_000
    seen = Counter()
    for _ in range(draws):
        for position, (item, _, _) in enumerate(explore(order, len(candidates), k, epsilon, rng)):
            seen[(item, position)] += 1
    for item in candidates:
        for position in range(k):
            p = slot_propensity(order, candidates, item, position, epsilon)
            assert abs(seen[(item, position)] / draws - p) < 5 * np.sqrt(p * (1 - p) / draws) + 1e-9
    assert slot_propensity(order, candidates, 99, 0, epsilon) == 0.0  # not a candidate: never shown


def test_logged_impressions_become_one_row_per_list_and_fallbacks_count_against_the_challenger():
    def impression(request, version, clicked, segment, p_click, fallback=None):
        properties = {"p_click": p_click, "scoring_ms": 2.5, "fallback_from": fallback, "features": {}}
        served_at = datetime(2024, 5, 1, 10, ord(request[0]) - ord("a"))
        return (request, served_at, version, clicked, False, segment, orjson.dumps(properties).decode())

    rows = [
        impression("a", "7", True, "new", 0.2),
        impression("a", "7", False, "established", 0.1),
        impression("b", "9", False, "established", 0.3),
        impression("b", "9", True, "new", 0.3),
        impression("c", "7", False, "new", 0.1, fallback="9"),  # the challenger failed: the champion served it
    ]
    columns = ["rec_request_id", "impression_ts", "model_version", "clicked", "engaged", "item_segment", "properties"]
    lists = served_lists(pl.DataFrame(rows, schema=columns, orient="row"))
    assert sorted(lists.get_column("rec_request_id")) == ["a", "b", "c"]
    champion, challenger = arms(lists, "9")
    assert champion.clicks.tolist() == [1.0] and champion.predicted_clicks.tolist() == pytest.approx([0.3])
    assert champion.served_at.tolist() == [datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc).timestamp()]
    assert challenger.clicks.tolist() == [1.0] and challenger.predicted_clicks.tolist() == pytest.approx([0.6])
    assert challenger.fallbacks == 1 and challenger.lists == 2
    assert champion.new_item_share == 0.5 and challenger.new_item_share == 0.5


def test_the_off_policy_gate_stops_only_a_challenger_clearly_worse():
    from dataflywheel.ranking.off_policy import Estimate
    from dataflywheel.serving.replay import GateResult

    def result(champion: tuple, challenger: tuple) -> GateResult:
        return GateResult({"snips": Estimate(*champion, 1_000)}, {"snips": Estimate(*challenger, 1_000)}, 0.07)

    assert result((0.14, 0.04, 0.24), (0.05, 0.02, 0.09)).passed  # lower, but the intervals overlap
    assert not result((0.14, 0.10, 0.18), (0.01, 0.004, 0.02)).passed  # wholly below: stopped
    assert result((0.07, 0.06, 0.08), (0.09, 0.085, 0.095)).passed  # better
