"""The warehouse tables that ingestion owns, and how to open the warehouse consistently."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import duckdb

from .schema import FIELDS, WIRE_TEXT_FIELDS

RAW_SCHEMA = "raw"


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with UTC session time, so TIMESTAMP columns are always UTC."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    # Row order inside a table carries no meaning here; letting inserts run in parallel
    # roughly halves the cost of loading an hour.
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # runs are not interactive: keep logs clean
    if not read_only:
        # Commit to the write-ahead log and compress into the file in larger checkpoints
        # (and on close) instead of after every hour: commits stay durable and get cheaper.
        con.execute("SET checkpoint_threshold = '1GB'")
    return con


def _columns(defs: list[tuple[str, str]]) -> str:
    return ",\n    ".join(f"{name} {sql_type}" for name, sql_type in defs)


TYPED_COLUMNS = [(f.name, f.sql_type) for f in FIELDS]
WIRE_COLUMNS = [(name, "VARCHAR") for name in WIRE_TEXT_FIELDS] + [("received_ts", "TIMESTAMP")]

DDL = f"""
CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA};
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.raw_events (
    {_columns(TYPED_COLUMNS)},
    arrival_hour TIMESTAMP NOT NULL,
    source_file VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.quarantined_events (
    {_columns(WIRE_COLUMNS)},
    arrival_hour TIMESTAMP NOT NULL,
    reason VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.duplicate_events (
    event_id VARCHAR NOT NULL,
    received_ts TIMESTAMP NOT NULL,
    arrival_hour TIMESTAMP NOT NULL,
    kept_in_arrival_hour TIMESTAMP NOT NULL,
    source_file VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.directory_users (
    snapshot_date DATE NOT NULL, user_id VARCHAR NOT NULL, tenant_id VARCHAR NOT NULL,
    team_id VARCHAR NOT NULL, role VARCHAR, utc_offset_hours DOUBLE, joined_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.directory_items (
    snapshot_date DATE NOT NULL, item_id VARCHAR NOT NULL, tenant_id VARCHAR NOT NULL,
    item_type VARCHAR NOT NULL, container_id VARCHAR, container_type VARCHAR,
    author_team_id VARCHAR, author_user_id VARCHAR, created_at TIMESTAMP
);
"""


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """The single value of a one-row query, with the result consumed (DuckDB 2 refuses new
    relational queries on a connection while an earlier result is still open)."""
    return con.execute(sql, params or []).fetchall()[0][0]


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection):
    """All statements in the block commit together, or none do (the error propagates)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except Exception:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
