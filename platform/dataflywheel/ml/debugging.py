"""Why would a model work offline and poorly online? Two answers, measured.

1. Skew: the features served differ from the features training sees for the same key and
   time. Keys are sampled from the published online snapshot and their features recomputed
   offline with the point-in-time join at the snapshot's time; any difference is a mismatch
   (a feature hour rebuilt after publication, say, by late events).
2. Miscalibration by segment: P(click) predicted (held out) against the click rate observed,
   per user segment, item segment, tenant size and product.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from ..events.warehouse import scalar
from .features import ENTITIES, point_in_time_sql

SEGMENTS = ("user_segment", "item_segment", "tenant_size", "product")


@dataclass
class Skew:
    keys_compared: dict[str, int]  # per feature table
    mismatched: dict[str, float]  # "<table>.<column>" -> share of compared keys that differ

    @property
    def worst(self) -> float:
        return max(self.mismatched.values(), default=0.0)


def feature_skew(con: duckdb.DuckDBPyConnection, online_dir: Path, keys_per_table: int, seed: int) -> Skew:
    """Online rows of sampled keys against the offline point-in-time join at the snapshot's time."""
    compared, mismatched = {}, {}
    as_of = snapshot_time(con, online_dir)
    for entity in ENTITIES:
        path = online_dir / f"{entity.table}.parquet"
        if as_of is None or not path.exists():
            continue
        keys = ", ".join(entity.keys)
        served = pl.from_arrow(
            con.sql(
                f"SELECT * FROM read_parquet('{path}') ORDER BY hash({keys}, {int(seed)}) LIMIT {int(keys_per_table)}"
            ).to_arrow_table()
        )
        compared[entity.table] = served.height
        if served.height == 0:
            continue
        offline = _recompute(con, served, entity, as_of)
        joined = served.join(offline, on=list(entity.keys), how="left", suffix="_offline")
        for column in (*entity.values, "feature_ts"):
            offline_column = f"{entity.table}_ts" if column == "feature_ts" else f"{column}_offline"
            differs = ~_same(joined.get_column(column), joined.get_column(offline_column))
            mismatched[f"{entity.table}.{column}"] = float(differs.mean())
    return Skew(compared, mismatched)


def snapshot_time(con: duckdb.DuckDBPyConnection, online_dir: Path):
    path = online_dir / "user_features.parquet"
    if not path.exists():
        return None
    return scalar(con, f"SELECT max(available_at) FROM read_parquet('{path}')")


def _recompute(con: duckdb.DuckDBPyConnection, served: pl.DataFrame, entity, as_of) -> pl.DataFrame:
    """The same keys through the offline join, as a request at ``as_of``."""
    keys = {k: served.get_column(k) for k in entity.keys}
    con.register("served_keys", pl.DataFrame(keys).to_arrow())
    try:
        select = ", ".join(
            f"{k}" if k in entity.keys else f"NULL::VARCHAR AS {k}" for k in ("user_id", "item_id", "container_id")
        )
        requests = f"SELECT {select}, TIMESTAMP '{as_of}' AS ts FROM served_keys"
        return pl.from_arrow(con.sql(point_in_time_sql(requests, "ts")).to_arrow_table()).select(
            *entity.keys, *entity.values, f"{entity.table}_ts"
        )
    finally:
        con.unregister("served_keys")


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


def miscalibrated(table: pl.DataFrame, tolerance: float = 0.25, min_clicks: int = 50) -> pl.DataFrame:
    """Segments with enough clicks to tell whose predicted rate is off by more than ``tolerance``."""
    return table.filter((pl.col("clicks") >= min_clicks) & ((pl.col("ratio") - 1).abs() > tolerance))
