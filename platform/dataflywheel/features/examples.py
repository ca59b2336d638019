"""Training examples: each home-feed impression of an hour, its labels, and its features as of then.

The feature rows come from the point-in-time join, the directory attributes are made
point-in-time too (team size and container size as of the impression, so an example never
sees a teammate or a page that did not exist yet), and the request-time features come from
``features.request_time.derive``: the function the ranking service calls.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from dataflywheel.features.build import ensure_feature_tables, sql_timestamp
from dataflywheel.features.definitions import VIEWS
from dataflywheel.features.point_in_time import directory_sql, point_in_time_sql
from dataflywheel.features.request_time import derive
from dataflywheel.warehouse.engine import Engine, sql_type

TABLE = "training.training_examples"


def examples_sql(engine: Engine, start: datetime, end: datetime, marts: str = "main", views=VIEWS) -> str:
    """Impressions of [start, end) with their labels, the directory and the feature rows as of each."""
    impressions = f"""SELECT impression_id, rec_request_id, position, tenant_id, user_id, item_id, item_type,
            impression_ts, propensity, model_version, clicked, engaged
        FROM {marts}.fct_rec_impressions
        WHERE impression_ts >= {sql_timestamp(start)} AND impression_ts < {sql_timestamp(end)}"""
    return point_in_time_sql(engine, directory_sql(engine, impressions, "impression_ts", marts), "impression_ts", views)


def build_examples(engine: Engine, hour: datetime, marts: str = "main", views=VIEWS) -> int:
    """Replace the training examples of impression hour ``hour``, in one transaction; rows written."""
    ensure_feature_tables(engine, views)
    examples = derive(
        engine.frame(examples_sql(engine, hour, hour + timedelta(hours=1), marts, views)), "impression_ts"
    ).with_columns(impression_hour=pl.lit(hour, pl.Datetime("us")))  # the partition it is replaced as
    # A table an older version created gets the columns added since: examples stay appendable.
    columns = [(name, sql_type(dtype)) for name, dtype in examples.schema.items()]
    engine.ensure_table(TABLE, columns, partitioned_by="impression_hour")
    # By impression time, not impression_hour: rows of an older version have none.
    hour_of = f"impression_ts >= {sql_timestamp(hour)} AND impression_ts < {sql_timestamp(hour + timedelta(hours=1))}"
    listed = ", ".join(examples.columns)
    with engine.registered("built_examples", examples), engine.transaction():
        return engine.replace_rows(
            TABLE,
            hour_of,
            f"SELECT {listed} FROM built_examples",
            examples.columns,
            partition=("impression_hour", sql_timestamp(hour)),
        )


def impressions_between(engine: Engine, start: datetime, end: datetime, marts: str = "main") -> int:
    """Impressions of [start, end): the examples those hours have, or will have once built."""
    return engine.scalar(
        f"SELECT count(*) FROM {marts}.fct_rec_impressions WHERE impression_ts >= ? AND impression_ts < ?",
        [start, end],
    )


def hours_with_examples(engine: Engine, start: datetime, end: datetime) -> set[datetime]:
    """The impression hours in [start, end) whose training examples are built."""
    frame = engine.frame(
        f"SELECT DISTINCT date_trunc('hour', impression_ts) AS hour FROM {TABLE} "
        "WHERE impression_ts >= ? AND impression_ts < ?",
        [start, end],
    )
    return set(frame.get_column("hour").to_list())


def load_examples(engine: Engine, start: datetime, end: datetime) -> pl.DataFrame:
    """Training examples of [start, end) in stream order (impression time, then id): the order
    the ranker learns them in, so every reader replays the same stream."""
    return engine.frame(
        f"""SELECT * FROM {TABLE} WHERE impression_ts >= ? AND impression_ts < ?
            ORDER BY impression_ts, impression_id""",
        [start, end],
    )


def sample_examples(engine: Engine, start: datetime, end: datetime, rows: int | None, seed: int) -> pl.DataFrame:
    """A uniform sample of at most ``rows`` examples of [start, end), drawn in the warehouse, in
    stream order (see ``Engine.sample_sql``). ``rows=None``: all."""
    if rows is None:
        return load_examples(engine, start, end)
    window = f"""(SELECT * FROM {TABLE}
        WHERE impression_ts >= {sql_timestamp(start)} AND impression_ts < {sql_timestamp(end)})"""
    sample = engine.sample_sql(window, rows, seed, "impression_id")
    return engine.frame(f"SELECT * FROM ({sample}) sampled ORDER BY impression_ts, impression_id")
