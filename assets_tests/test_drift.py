"""The drift verdict with the real Evidently: injected shifts are flagged, a stable window is not."""

import json
from datetime import date

import numpy as np
import polars as pl
import pytest

from dataflywheel.monitoring import drift
from dataflywheel.monitoring.like_days import nearest_judgeable_day, reference_days
from dataflywheel.ranking.ranker import model_inputs
from helpers import random_examples

ROWS = 8_000


def scored(examples: pl.DataFrame, seed: int, model_quality: float = 1.5) -> pl.DataFrame:
    """Examples with the columns a scored sample has: the serving model's predictions (a function
    of the inputs) and held-out P(click) that separates clicks with the given strength."""
    rng = np.random.default_rng(seed)
    inputs = model_inputs(examples)
    serving = 1 / (1 + np.exp(-(-3 + 0.3 * inputs["user_events_7d"] - 0.2 * inputs["log_position"])))
    clicked = examples.get_column("clicked").to_numpy()
    held_out = 1 / (1 + np.exp(-(-1.5 + model_quality * clicked + rng.normal(0, 1, len(clicked)))))
    return examples.with_columns(score=pl.Series(serving), p_click=pl.Series(serving), p_click_held_out=held_out)


def verdict(current: pl.DataFrame, reference_seed: int = 1, history_days: int = 99) -> drift.DriftVerdict:
    reference = scored(random_examples(ROWS, seed=reference_seed), seed=reference_seed)
    return drift.compare(reference, current, history_days)[1]


def test_a_stable_window_is_not_flagged():
    result = verdict(scored(random_examples(ROWS, seed=2), seed=2))
    assert not result.drifted, result.reasons
    assert result.drifted_share == 0.0
    assert set(result.column_scores) >= {"user_tenure_days", "score", "clicked"}


def test_an_onboarding_wave_is_data_drift():
    current = random_examples(ROWS, seed=2)
    wave = pl.Series(np.random.default_rng(3).random(ROWS) < 0.3)  # 30% of the day's users joined today
    no_history = [c for c in current.columns if c.startswith("user_") and c != "user_tenure_days"]
    current = current.with_columns(
        pl.when(wave).then(0.5).otherwise(pl.col("user_tenure_days")).alias("user_tenure_days"),
        *[pl.when(wave).then(None).otherwise(pl.col(c)).alias(c) for c in no_history],  # the join finds no row
    )
    result = verdict(scored(current, seed=2))
    assert result.data_drift
    assert {"user_tenure_days", "no_user_features"} <= set(result.drifted_columns)
    assert not result.target_drift and not result.quality_drop


def test_a_large_click_rate_change_is_target_drift_and_a_tiny_one_is_not():
    def with_click_rate(rate: float) -> pl.DataFrame:
        clicked = np.random.default_rng(4).random(ROWS) < rate
        return scored(random_examples(ROWS, seed=2).with_columns(clicked=pl.Series(clicked)), seed=2)

    assert verdict(with_click_rate(0.3)).target_drift  # from 0.2
    assert not verdict(with_click_rate(0.205)).target_drift


def test_a_model_that_stopped_separating_clicks_is_a_quality_drop():
    result = verdict(scored(random_examples(ROWS, seed=2), seed=2, model_quality=0.0))
    assert result.quality_drop
    assert result.quality["auc_current"] < 0.55 < result.quality["auc_reference"]


def test_columns_still_warming_up_and_traffic_counts_are_not_judged():
    features = list(model_inputs(random_examples(10, seed=0)).columns)
    early, predictions_early = drift.judged(features, history_days=1)
    assert "user_jira_share_1d" in early and "user_tenure_days" in early
    assert not {"user_events_7d", "item_views_28d", "hours_since_pair_interaction", "item_ctr_7d"} & set(early)
    assert not set(drift.TRAFFIC_VOLUME) & set(early)
    assert not predictions_early
    steady, predictions_steady = drift.judged(features, history_days=28)
    assert set(steady) == set(features) - set(drift.TRAFFIC_VOLUME) and predictions_steady


def test_warm_up_columns_do_not_flag_a_day_early_in_the_platforms_life():
    current = random_examples(ROWS, seed=2)
    filling = [c for c in current.columns if c.endswith(("_7d", "_28d")) and c != "user_jira_share_28d"]
    current = current.with_columns(pl.col(c) * 3 for c in filling)  # week and month windows still filling
    assert not verdict(scored(current, seed=2), history_days=2).drifted
    assert verdict(scored(current, seed=2), history_days=28).data_drift


@pytest.mark.parametrize(
    "day, expected",
    [
        (date(2026, 11, 20), [date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19)]),  # a Friday
        (date(2026, 11, 21), []),  # the first Saturday: nothing like it yet
        (date(2026, 11, 23), []),  # the first Monday: its windows reach into a Sunday
        (date(2026, 11, 24), [date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]),
        (date(2026, 11, 30), [date(2026, 11, 23)]),  # a Monday, a week later
    ],
)
def test_the_reference_is_the_last_week_of_like_days_never_the_first_day(day, expected):
    assert reference_days(day, first_day=date(2026, 11, 16)) == expected


def test_a_report_is_saved_as_html_and_json(tmp_path):
    reference = scored(random_examples(2_000, seed=1), seed=1)
    snapshot, _ = drift.compare(reference, scored(random_examples(2_000, seed=2), seed=2), 99)
    paths = drift.save(snapshot, tmp_path, "2026-11-20")
    assert "<html" in paths["html"].read_text()[:2000].lower()
    columns = {m["config"].get("column") for m in json.loads(paths["json"].read_text())["metrics"]}
    assert {"user_tenure_days", "score", "clicked"} <= columns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-11-20.html", "2026-11-20.json"]


@pytest.mark.parametrize("start, wanted, expected", [(date(2026, 11, 18), 4, 6), (date(2026, 11, 17), 4, 3)])
def test_a_scheduled_drift_moves_to_the_nearest_day_the_report_can_judge(start, wanted, expected):
    # From a Wednesday, day 4 is a Sunday: the next judgeable day is Tuesday (like Thursday and Friday).
    # From a Tuesday, no day from 4 on has a like day before it within the week: Friday (3) it is.
    assert nearest_judgeable_day(start, 7, wanted) == expected
