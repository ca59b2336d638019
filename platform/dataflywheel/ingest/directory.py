"""Load a daily directory snapshot (users, items) from the landing zone into the warehouse."""

from __future__ import annotations

from datetime import date

from dataflywheel.ingest.landing import directory_url, filesystem
from dataflywheel.ingest.tables import DIRECTORY_COLUMNS, DIRECTORY_TABLES, RAW_SCHEMA, ensure_raw_tables
from dataflywheel.warehouse.engine import Engine


def load_directory_snapshot(engine: Engine, landing_root: str, snapshot_date: date) -> dict[str, int]:
    """Replace one snapshot date in both directory tables, in one transaction; rows per table."""
    ensure_raw_tables(engine)
    engine.read_filesystem(filesystem(landing_root))
    rows = {}
    with engine.transaction():
        for name, table in DIRECTORY_TABLES.items():
            columns = [column for column, _ in DIRECTORY_COLUMNS[name]]
            typed = ", ".join(
                f"CAST({column} AS TIMESTAMP)" if kind.startswith("TIMESTAMP") else column
                for column, kind in DIRECTORY_COLUMNS[name]
            )
            rows[table] = engine.replace_rows(
                f"{RAW_SCHEMA}.{table}",
                where=f"snapshot_date = DATE '{snapshot_date.isoformat()}'",
                select=f"""SELECT DATE '{snapshot_date.isoformat()}', {typed}
                    FROM {engine.parquet_sql([directory_url(landing_root, snapshot_date.isoformat(), name)])} f""",
                columns=["snapshot_date", *columns],
            )
    return rows
