"""The raw layer as Parquet: the raw tables as another engine reads them.

One folder per table of the warehouse's ``raw`` schema under a root, one file per partition in
it (``<arrival hour>.parquet`` for the tables ingestion replaces by arrival hour,
``<snapshot date>.parquet`` for the directory snapshots), replaced whole when that partition is
reloaded. dbt's ``spark`` target registers the folders as its sources
(``dbt_project/macros/spark_raw_layer.sql``), so the same models build on Spark from the same
loaded data; with ``DATAFLYWHEEL_ENGINE=spark``, ``raw_events`` and ``raw_directory`` write
their partition here after loading it.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

from dataflywheel.ingest.tables import RAW_SCHEMA, RAW_TABLE_COLUMNS
from dataflywheel.warehouse.engine import Engine

# The column each raw table is replaced by, and so exported by.
PARTITION_COLUMNS = {
    table: next(name for name, _ in columns if name in ("arrival_hour", "snapshot_date"))
    for table, columns in RAW_TABLE_COLUMNS.items()
}


def export_partition(engine: Engine, root: Path, partition: datetime | date) -> dict[str, int]:
    """Write one arrival hour (a datetime) or snapshot date (a date) of every raw table partitioned
    that way to ``root/<table>/<partition>.parquet``, replacing the file; rows per table."""
    if isinstance(partition, datetime):
        column, literal, name = "arrival_hour", f"TIMESTAMP '{partition:%Y-%m-%d %H:00:00}'", f"{partition:%Y-%m-%dT%H}"
    else:
        column, literal, name = "snapshot_date", f"DATE '{partition.isoformat()}'", partition.isoformat()
    _give_every_table_a_schema(engine, root)
    return {
        table: engine.export_parquet(
            f"SELECT * FROM {RAW_SCHEMA}.{table} WHERE {column} = {literal}", root / table / f"{name}.parquet"
        )
        for table, by in PARTITION_COLUMNS.items()
        if by == column
    }


def _give_every_table_a_schema(engine: Engine, root: Path) -> None:
    """A folder with no file yet gets an empty one: Spark reads a table's schema from its files, and
    dbt registers every source at once (the directory's before its first snapshot loads)."""
    for table in PARTITION_COLUMNS:
        folder = root / table
        if not folder.is_dir() or not any(folder.glob("*.parquet")):
            engine.export_parquet(f"SELECT * FROM {RAW_SCHEMA}.{table} WHERE false", folder / "schema.parquet")


def export_raw_layer(engine: Engine, root: Path) -> dict[str, int]:
    """Every partition of every raw table (a whole warehouse's raw layer at once, replacing what
    ``root`` held: no file of a partition gone since stays); rows per table."""
    for table in PARTITION_COLUMNS:
        shutil.rmtree(root / table, ignore_errors=True)
    exported = dict.fromkeys(PARTITION_COLUMNS, 0)
    for column in sorted(set(PARTITION_COLUMNS.values())):
        partitions = set()
        for table in (t for t, by in PARTITION_COLUMNS.items() if by == column):
            partitions |= set(engine.frame(f"SELECT DISTINCT {column} FROM {RAW_SCHEMA}.{table}").get_column(column))
        for partition in sorted(partitions):
            for table, rows in export_partition(engine, root, partition).items():
                exported[table] += rows
    return exported
