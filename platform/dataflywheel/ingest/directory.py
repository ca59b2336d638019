"""Load a daily directory snapshot (users, items) from the landing zone into the warehouse."""

from __future__ import annotations

from datetime import date

import duckdb

from dataflywheel.ingest.landing import directory_url, register_with
from dataflywheel.ingest.tables import RAW_SCHEMA, ensure_raw_tables
from dataflywheel.warehouse.duckdb import scalar, transaction

SNAPSHOT_TABLES = {"users": "directory_users", "items": "directory_items"}


def load_directory_snapshot(con: duckdb.DuckDBPyConnection, landing_root: str, snapshot_date: date) -> dict[str, int]:
    """Replace one snapshot date in both directory tables, in one transaction; rows per table."""
    ensure_raw_tables(con)
    register_with(con, landing_root)
    rows = {}
    with transaction(con):
        for name, table in SNAPSHOT_TABLES.items():
            con.execute(f"DELETE FROM {RAW_SCHEMA}.{table} WHERE snapshot_date = ?", [snapshot_date])
            con.execute(
                f"""INSERT INTO {RAW_SCHEMA}.{table} BY NAME
                SELECT ?::DATE AS snapshot_date, * REPLACE (
                    {"joined_at" if name == "users" else "created_at"}::TIMESTAMP
                    AS {"joined_at" if name == "users" else "created_at"})
                FROM read_parquet(?, hive_partitioning = false)""",
                [snapshot_date, directory_url(landing_root, snapshot_date.isoformat(), name)],
            )
            rows[table] = scalar(
                con, f"SELECT count(*) FROM {RAW_SCHEMA}.{table} WHERE snapshot_date = ?", [snapshot_date]
            )
    return rows
