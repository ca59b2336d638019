"""Day evaluation: held out by time, baselines in the same run, segments and exposure add up."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.ranking.evaluation import Served, baseline_scores, evaluate_day, held_out_scores
from dataflywheel.ranking.ranker import Ranker
from helpers import random_examples

H = datetime(2026, 11, 17, 10)


def hourly(n_per_hour: int, hours: int, seed: int) -> pl.DataFrame:
    frame = random_examples(n_per_hour * hours, seed)
    ts = [H + timedelta(hours=i // n_per_hour, seconds=i % n_per_hour) for i in range(frame.height)]
    return frame.with_columns(
        impression_ts=pl.Series(ts),
        rec_request_id=pl.Series([f"r{i // 10}" for i in range(frame.height)]),
        user_segment=pl.lit("established"),
        tenant_size=pl.lit("large"),
        product=pl.col("item_type"),
        item_segment=pl.Series(np.where(np.arange(frame.height) % 4 == 0, "new", "established")),
        container_items=pl.lit(10),
        item_views_7d=pl.Series(np.arange(frame.height) % 7),
    )


def test_each_hour_is_scored_by_the_model_that_served_it(tmp_path):
    """With a serving lag of 2 hours, hour H + 2 was served by the model that learned through H."""
    store = ModelStore(tmp_path)
    data = hourly(200, 3, seed=1)
    first_hour = data.filter(pl.col("impression_ts") < H + timedelta(hours=1))
    trained = Ranker()
    trained.learn_many(first_hour)
    store.save(H, trained)  # the model after hour H; none exists before it
    store.save(H + timedelta(hours=1), Ranker())  # learned through H + 1: too late to have served H + 2

    scored = held_out_scores(data, Served(store, lag_hours=2))
    third = scored.filter(pl.col("impression_ts") >= H + timedelta(hours=2))
    expected = trained.predict(data.filter(pl.col("impression_ts") >= H + timedelta(hours=2)), position=0)
    np.testing.assert_allclose(third.get_column("score").to_numpy(), expected["score"])
    # Hours no model had served yet are not evaluable, never scored by the priors or a later model.
    assert scored.height == third.height > 0


def test_baselines_and_segments(tmp_path):
    data = hourly(300, 1, seed=2)
    scored = data.with_columns(p_click=pl.lit(0.2), score=pl.col("item_views_7d").cast(pl.Float64))
    result = evaluate_day(scored)
    # The "ranker" here scores exactly like most-popular: same NDCG, zero margin.
    assert result.ndcg_at_10["ranker"] == pytest.approx(result.ndcg_at_10["most_popular"])
    assert result.margin_over_most_popular == pytest.approx(0.0)
    assert set(result.calibration["item_segment"]) == {"new", "established"}
    observed = data.get_column("clicked").mean()
    assert result.calibration["tenant_size"]["large"] == pytest.approx(0.2 / observed)
    assert sum(result.exposure["item_segment"].values()) == pytest.approx(1.0)
    assert set(result.cold_start) == {"user=established", "item=new", "item=established"}
    assert np.array_equal(baseline_scores(data)["random"], baseline_scores(data)["random"])  # seeded
