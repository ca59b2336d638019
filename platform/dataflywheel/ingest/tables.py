"""The raw tables ingestion owns: typed events, quarantine, duplicates, directory snapshots."""

from __future__ import annotations

from dataflywheel.contracts.schema import FIELDS, WIRE_TEXT_FIELDS
from dataflywheel.warehouse.engine import Engine

RAW_SCHEMA = "raw"

TYPED_COLUMNS = [(f.name, f.sql_type) for f in FIELDS]
WIRE_COLUMNS = [(name, "VARCHAR") for name in WIRE_TEXT_FIELDS] + [("received_ts", "TIMESTAMP")]
_ARRIVAL = [("arrival_hour", "TIMESTAMP NOT NULL")]
_SOURCE = [("source_file", "VARCHAR NOT NULL")]

# Directory exports, as landed (before the snapshot date is added).
DIRECTORY_COLUMNS = {
    "users": [
        ("user_id", "VARCHAR NOT NULL"),
        ("tenant_id", "VARCHAR NOT NULL"),
        ("team_id", "VARCHAR NOT NULL"),
        ("role", "VARCHAR"),
        ("utc_offset_hours", "DOUBLE"),
        ("joined_at", "TIMESTAMP"),
    ],
    "items": [
        ("item_id", "VARCHAR NOT NULL"),
        ("tenant_id", "VARCHAR NOT NULL"),
        ("item_type", "VARCHAR NOT NULL"),
        ("container_id", "VARCHAR"),
        ("container_type", "VARCHAR"),
        ("author_team_id", "VARCHAR"),
        ("author_user_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
    ],
}
DIRECTORY_TABLES = {"users": "directory_users", "items": "directory_items"}

RAW_TABLE_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "raw_events": TYPED_COLUMNS + _ARRIVAL + _SOURCE,
    "quarantined_events": WIRE_COLUMNS + _ARRIVAL + [("reason", "VARCHAR NOT NULL")] + _SOURCE,
    "duplicate_events": [
        ("event_id", "VARCHAR NOT NULL"),
        ("received_ts", "TIMESTAMP NOT NULL"),
        *_ARRIVAL,
        ("kept_in_arrival_hour", "TIMESTAMP NOT NULL"),
        *_SOURCE,
    ],
    # Landed files set aside whole (unreadable, or not the wire schema): their rows cannot be read one by one.
    "quarantined_files": [
        *_ARRIVAL,
        *_SOURCE,
        ("reason", "VARCHAR NOT NULL"),
        ("detail", "VARCHAR"),
        ("rows", "BIGINT NOT NULL"),  # from the footer; 0 when the file has none
    ],
    **{
        table: [("snapshot_date", "DATE NOT NULL"), *DIRECTORY_COLUMNS[name]]
        for name, table in DIRECTORY_TABLES.items()
    },
}


def ensure_raw_tables(engine: Engine) -> None:
    for table, columns in RAW_TABLE_COLUMNS.items():
        engine.ensure_table(f"{RAW_SCHEMA}.{table}", columns)
