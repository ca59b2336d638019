"""The online side of the feature store: the latest feature row per key, as files.

The ranking service loads these without opening the warehouse (DuckDB allows one writer,
and serving must not wait for it). The rows are the offline feature rows themselves,
picked as the point-in-time join would pick them at ``as_of``, and the directory attributes
computed by the same SQL as the training examples': one definition, two uses.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from ..events.warehouse import connect, scalar
from .features import ENTITIES, SCHEMA, FeatureTiming, directory_sql, ensure_feature_tables, sql_timestamp

RECENT_PAIR_DAYS = 7  # user-item and user-container rows older than this are not published


def latest_rows_sql(table: str, keys: tuple[str, ...], as_of: datetime, oldest: datetime) -> str:
    return f"""SELECT * FROM {SCHEMA}.{table}
        WHERE available_at <= {sql_timestamp(as_of)} AND available_at > {sql_timestamp(oldest)}
        QUALIFY row_number() OVER (PARTITION BY {", ".join(keys)} ORDER BY available_at DESC) = 1"""


def publish(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    as_of: datetime,
    timing: FeatureTiming = FeatureTiming(),
    marts: str = "main",
) -> dict[str, int]:
    """Write ``<entity>.parquet`` per feature table, and the user and item directory as of
    ``as_of`` (team and container sizes then), each replaced atomically; rows per file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ensure_feature_tables(con)  # before the first feature hour: empty files, not a failure
    rows = {}
    for entity in ENTITIES:
        pairs = len(entity.keys) > 1
        oldest = as_of - (min(timing.ttl, timedelta(days=RECENT_PAIR_DAYS)) if pairs else timing.ttl)
        latest = latest_rows_sql(entity.table, entity.keys, as_of, oldest)
        rows[entity.table] = _write(con, latest, out_dir / f"{entity.table}.parquet")
    for name, requests in _directory_requests(as_of, marts).items():
        rows[name] = _write(con, directory_sql(requests, "as_of", marts), out_dir / f"{name}.parquet")
    return rows


def _write(con: duckdb.DuckDBPyConnection, query: str, final: Path) -> int:
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    con.execute(f"COPY ({query}) TO '{tmp}' (FORMAT parquet)")
    os.replace(tmp, final)
    return scalar(con, f"SELECT count(*) FROM read_parquet('{final}')")


def _directory_requests(as_of: datetime, marts: str) -> dict[str, str]:
    """Every user and every item that exists at ``as_of``, for the directory files."""
    ts = sql_timestamp(as_of)
    return {
        "user_directory": f"""SELECT user_id, NULL::VARCHAR AS item_id, tenant_id, {ts} AS as_of
            FROM {marts}.dim_users WHERE joined_at <= {ts}""",
        "item_directory": f"""SELECT NULL::VARCHAR AS user_id, item_id, tenant_id, {ts} AS as_of
            FROM {marts}.dim_items WHERE created_at <= {ts}""",
    }


def lookup(out_dir: Path, table: str, **keys: str) -> dict | None:
    """One key's published row (what serving sees), or None."""
    where = " AND ".join(f"{k} = ?" for k in keys)
    with connect(":memory:") as con:  # UTC like the warehouse, without opening it
        found = con.execute(
            f"SELECT * FROM read_parquet(?) WHERE {where}", [str(out_dir / f"{table}.parquet"), *keys.values()]
        )
        row = found.fetchone()
        return dict(zip([d[0] for d in found.description], row)) if row else None
