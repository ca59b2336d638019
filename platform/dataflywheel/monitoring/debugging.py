"""Why would a model work offline and poorly online? Two answers, measured.

1. Skew: the features served differ from the features training sees for the same key and
   time. Keys are sampled from both sides, the published online snapshot and the offline
   feature tables, and each key's row is recomputed offline with the point-in-time join at
   the snapshot's time; a difference, or a key one side has and the other lacks, is a
   mismatch (a feature hour rebuilt after publication by late events, say).
2. Miscalibration by segment: P(click) predicted (held out) against the click rate observed,
   per user segment, item segment, tenant size and product.

And for lists the ranking service served: the features it logged with each shown item (what
the model scored) against the training example built later for that same impression (what
the model learns from); any difference is skew between serving and training.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
import polars as pl

from dataflywheel.features.build import sql_timestamp
from dataflywheel.features.definitions import VIEWS, FeatureView
from dataflywheel.features.online import usable_rows_sql
from dataflywheel.features.point_in_time import point_in_time_sql
from dataflywheel.ranking.inputs import declared_input_names
from dataflywheel.warehouse.engine import Engine

# predicted_by: whether a prediction is the one the service served with, or the chain's replay.
SEGMENTS = ("user_segment", "item_segment", "tenant_size", "product", "predicted_by")


@dataclass
class Skew:
    keys_compared: dict[str, int]  # per feature table, both sides' samples together
    mismatched: dict[str, float]  # "<table>.<column>" -> share of compared keys that differ

    @property
    def worst(self) -> float:
        return max(self.mismatched.values(), default=0.0)


def feature_skew(engine: Engine, online_dir: Path, keys_per_table: int, seed: int, views=VIEWS) -> Skew:
    """Online rows of keys sampled from both sides against the offline point-in-time join at the
    snapshot's time."""
    compared, mismatched = {}, {}
    as_of = snapshot_time(engine, online_dir)
    for view in views:
        path = online_dir / f"{view.table}.parquet"
        if as_of is None or not path.exists():
            continue
        served = engine.parquet_sql([path])
        listed = ", ".join(view.keys)
        offline_keys = f"(SELECT DISTINCT {listed} FROM ({usable_rows_sql(view, as_of)}) usable)"
        samples = [engine.sample_sql(side, keys_per_table, seed, listed) for side in (served, offline_keys)]
        keys = pl.concat([engine.frame(f"SELECT {listed} FROM ({sample}) sampled") for sample in samples]).unique()
        compared[view.table] = keys.height
        if keys.height == 0:
            continue
        with engine.registered("sampled_keys", keys):
            online_rows = engine.frame(f"SELECT s.* FROM {served} s JOIN sampled_keys USING ({listed})")
        offline = _recompute(engine, keys, view, as_of)
        joined = keys.join(online_rows, on=list(view.keys), how="left").join(
            offline, on=list(view.keys), how="left", suffix="_offline"
        )
        for column in (*view.values, "feature_ts"):
            offline_column = view.ts_column if column == "feature_ts" else f"{column}_offline"
            differs = ~_same(joined.get_column(column), joined.get_column(offline_column))
            mismatched[f"{view.table}.{column}"] = float(differs.mean())
    return Skew(compared, mismatched)


@dataclass
class ServedSkew:
    impressions_compared: int
    mismatched: dict[str, float]  # feature -> share of compared impressions whose logged value differs


# The ranking service's logged impressions among the examples registered as ``example_ids``.
SERVED_IMPRESSIONS = """(SELECT r.event_id AS impression_id, r.properties FROM raw.raw_events r
    JOIN example_ids e ON e.impression_id = r.event_id
    WHERE r.event_type = 'rec_impression' AND r.properties LIKE '%"features"%')"""


def with_served_predictions(engine: Engine, scored: pl.DataFrame) -> pl.DataFrame:
    """``scored`` (held-out scores by the chain's replay) with ``p_click`` replaced, for the
    impressions the ranking service served, by the prediction it served them with (logged
    with each), and ``predicted_by`` saying which: calibration on served traffic is judged on
    what was served, not on a replay of it."""
    with engine.registered("example_ids", scored.select("impression_id")):
        logged = engine.frame(f"SELECT * FROM {SERVED_IMPRESSIONS}")
    served = pl.DataFrame(
        {
            "impression_id": logged.get_column("impression_id"),
            "p_click_served": [orjson.loads(p).get("p_click") for p in logged.get_column("properties")],
        },
        schema={"impression_id": pl.String, "p_click_served": pl.Float64},
    )
    joined = scored.join(served, on="impression_id", how="left")
    return joined.with_columns(
        predicted_by=pl.when(pl.col("p_click_served").is_not_null())
        .then(pl.lit("service"))
        .otherwise(pl.lit("replay")),
        p_click=pl.coalesce("p_click_served", "p_click"),
    ).drop("p_click_served")


def served_skew(engine: Engine, examples: pl.DataFrame, sample: int, seed: int, views=VIEWS) -> ServedSkew:
    """A seeded sample of the service's impressions among ``examples`` (training examples): the
    features logged when each was served against the example's."""
    features = declared_input_names(views)
    with engine.registered("example_ids", examples.select("impression_id")):
        logged = engine.frame(engine.sample_sql(SERVED_IMPRESSIONS, sample, seed, "impression_id"))
    if logged.height == 0:
        return ServedSkew(0, {})
    values = pl.DataFrame(
        [orjson.loads(p).get("features", {}) for p in logged.get_column("properties")], infer_schema_length=None
    )
    values = values.with_columns(pl.lit(None).alias(name) for name in features if name not in values.columns)
    served_rows = pl.concat([logged.select("impression_id"), values.select(features)], how="horizontal")
    joined = served_rows.join(examples.select("impression_id", *features), on="impression_id", suffix="_trained")
    mismatched = {
        name: float((~_same(joined.get_column(name), joined.get_column(f"{name}_trained"))).mean()) for name in features
    }
    return ServedSkew(joined.height, mismatched)


def snapshot_time(engine: Engine, online_dir: Path) -> datetime | None:
    path = online_dir / "user_features.parquet"
    if not path.exists():
        return None
    return engine.scalar(f"SELECT max(available_at) FROM {engine.parquet_sql([path])}")


def _recompute(engine: Engine, keys: pl.DataFrame, view: FeatureView, as_of: datetime) -> pl.DataFrame:
    """The same keys through the offline join, as requests at ``as_of``."""
    with engine.registered("served_keys", keys):
        select = ", ".join(
            k if k in view.keys else f"CAST(NULL AS STRING) AS {k}" for k in ("user_id", "item_id", "container_id")
        )
        requests = f"SELECT {select}, {sql_timestamp(as_of)} AS ts FROM served_keys"
        return engine.frame(point_in_time_sql(engine, requests, "ts", (view,))).select(
            *view.keys, *view.values, view.ts_column
        )


def _same(a: pl.Series, b: pl.Series) -> np.ndarray:
    both_null = (a.is_null() & b.is_null()).to_numpy()
    if a.dtype.is_numeric() and b.dtype.is_numeric():
        close = np.isclose(a.cast(pl.Float64).to_numpy(), b.cast(pl.Float64).to_numpy(), rtol=1e-9, atol=1e-12)
        return both_null | np.nan_to_num(close, nan=False).astype(bool)
    return both_null | (a == b).fill_null(False).to_numpy()


def calibration_by_segment(scored: pl.DataFrame) -> pl.DataFrame:
    """Per segment value: examples, clicks, mean predicted P(click), observed click rate, their ratio."""
    parts = [
        scored.group_by(pl.col(segment).alias("value"))
        .agg(
            examples=pl.len(),
            clicks=pl.col("clicked").cast(pl.Int64).sum(),
            predicted=pl.col("p_click").mean(),
            observed=pl.col("clicked").cast(pl.Float64).mean(),
        )
        .with_columns(segment=pl.lit(segment))
        for segment in SEGMENTS
    ]
    table = pl.concat(parts).select("segment", "value", "examples", "clicks", "predicted", "observed")
    return table.with_columns(ratio=pl.col("predicted") / pl.col("observed")).sort("segment", "value")


def miscalibrated(table: pl.DataFrame, tolerance: float, min_clicks: int) -> pl.DataFrame:
    """Segments with enough clicks to tell whose predicted rate is off by more than ``tolerance``."""
    return table.filter((pl.col("clicks") >= min_clicks) & ((pl.col("ratio") - 1).abs() > tolerance))
