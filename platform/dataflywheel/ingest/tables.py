"""The raw tables ingestion owns: typed events, quarantine, duplicates, directory snapshots."""

from __future__ import annotations

import duckdb

from dataflywheel.contracts.schema import FIELDS, WIRE_TEXT_FIELDS

RAW_SCHEMA = "raw"


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
