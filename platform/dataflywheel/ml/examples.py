"""Training examples: each home-feed impression of an hour, its labels, and its features as of then.

Static attributes come from the directory and are made point-in-time too: tenure, item
age, team size and container size are computed as of the impression, so an example never
sees a teammate or a page that did not exist yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from ..events.warehouse import scalar, transaction
from .features import FeatureTiming, directory_sql, ensure_feature_tables, point_in_time_sql, sql_timestamp

SCHEMA = "training"
NEW_USER_DAYS = 7
NEW_ITEM_DAYS = 3
TENANT_SIZE_BUCKETS = ((50, "small"), (500, "medium"))  # users; larger is "large"


def _requests(start: datetime, end: datetime, marts: str) -> str:
    """Impressions of [start, end) with the directory attributes known at impression time."""
    impressions = f"""SELECT impression_id, rec_request_id, position, tenant_id, user_id, item_id, item_type,
            impression_ts, propensity, model_version, clicked, engaged
        FROM {marts}.fct_rec_impressions
        WHERE impression_ts >= {sql_timestamp(start)} AND impression_ts < {sql_timestamp(end)}"""
    return directory_sql(impressions, "impression_ts", marts)


def _tenant_bucket() -> str:
    cases = " ".join(f"WHEN tenant_users < {limit} THEN '{name}'" for limit, name in TENANT_SIZE_BUCKETS)
    return f"CASE {cases} ELSE 'large' END"


def examples_sql(start: datetime, end: datetime, marts: str = "main", timing: FeatureTiming = FeatureTiming()) -> str:
    joined = point_in_time_sql(_requests(start, end, marts), "impression_ts", timing)
    return f"""SELECT *,
        date_diff('second', joined_at, impression_ts) / 86400.0 AS user_tenure_days,
        date_diff('second', item_created_at, impression_ts) / 3600.0 AS item_age_hours,
        date_diff('second', pair_last_interaction_ts, impression_ts) / 3600.0 AS hours_since_pair_interaction,
        date_diff('second', container_last_interaction_ts, impression_ts) / 3600.0
            AS hours_since_container_interaction,
        coalesce(team_id = author_team_id, false) AS same_team,
        CASE WHEN date_diff('second', joined_at, impression_ts) < {NEW_USER_DAYS * 86400}
             THEN 'new' ELSE 'established' END AS user_segment,
        CASE WHEN date_diff('second', item_created_at, impression_ts) < {NEW_ITEM_DAYS * 86400}
             THEN 'new' ELSE 'established' END AS item_segment,
        {_tenant_bucket()} AS tenant_size,
        item_type AS product
    FROM ({joined})"""


def build_examples(con: duckdb.DuckDBPyConnection, hour: datetime, marts: str = "main") -> int:
    """Replace the training examples of impression hour ``hour``, in one transaction."""
    select = examples_sql(hour, hour + timedelta(hours=1), marts)
    ensure_feature_tables(con)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.training_examples AS {select} WITH NO DATA")
    _add_new_columns(con, f"{SCHEMA}.training_examples", select)
    with transaction(con):
        con.execute(
            f"DELETE FROM {SCHEMA}.training_examples WHERE impression_ts >= ? AND impression_ts < ?",
            [hour, hour + timedelta(hours=1)],
        )
        con.execute(f"INSERT INTO {SCHEMA}.training_examples BY NAME {select}")
    return scalar(
        con,
        f"SELECT count(*) FROM {SCHEMA}.training_examples WHERE impression_ts >= ? AND impression_ts < ?",
        [hour, hour + timedelta(hours=1)],
    )


def load_examples(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, limit: int | None = None
) -> pl.DataFrame:
    """Training examples of [start, end) in stream order (impression time, then id): the order
    the ranker learns them in, so every reader replays the same stream. ``limit``: the first n."""
    query = f"""SELECT * FROM {SCHEMA}.training_examples
        WHERE impression_ts >= $start AND impression_ts < $end ORDER BY impression_ts, impression_id
        {f"LIMIT {int(limit)}" if limit else ""}"""
    return pl.from_arrow(con.sql(query, params={"start": start, "end": end}).to_arrow_table())


def _add_new_columns(con: duckdb.DuckDBPyConnection, table: str, select: str) -> None:
    """Columns a newer version added, on a table an older one created (examples stay appendable)."""
    have = {row[0] for row in con.sql(f"DESCRIBE {table}").fetchall()}
    for name, kind, *_ in con.sql(f"DESCRIBE {select}").fetchall():
        if name not in have:
            con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')


def sample_examples(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, rows: int | None, seed: int
) -> pl.DataFrame:
    """A uniform sample of at most ``rows`` examples of [start, end), drawn in the warehouse, in
    stream order: the rows whose seeded hash of the impression id is smallest. Memory stays
    bounded (a top-``rows`` heap) whatever the volume, and the same seed gives the same sample
    by construction, whatever the threads or the table's physical order. ``rows=None``: all."""
    if rows is None:
        return load_examples(con, start, end)
    query = f"""SELECT * FROM (
            SELECT * FROM {SCHEMA}.training_examples WHERE impression_ts >= $start AND impression_ts < $end
            ORDER BY hash(impression_id, {int(seed)}) LIMIT {int(rows)}
        ) ORDER BY impression_ts, impression_id"""
    return pl.from_arrow(con.sql(query, params={"start": start, "end": end}).to_arrow_table())
