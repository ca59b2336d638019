"""The raw layer as Parquet: the raw tables as another engine reads them.

One folder per table of DuckDB's ``raw`` schema under a root; dbt's ``spark`` target registers
them as its sources (``dbt_project/macros/spark_raw_layer.sql``), so the same models build on
Spark from the same loaded data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dataflywheel.ingest.tables import RAW_SCHEMA
from dataflywheel.warehouse.duckdb import DuckDBEngine


def export_raw_layer(engine: DuckDBEngine, root: Path) -> dict[str, int]:
    """Write every raw table to ``root/<table>/`` (replacing what was there); rows per table."""
    tables = engine.frame(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [RAW_SCHEMA]
    ).get_column("table_name")
    rows = {}
    for table in tables:
        folder = root / table
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        engine.execute(f"COPY {RAW_SCHEMA}.{table} TO '{folder / 'part-0.parquet'}' (FORMAT parquet)")
        rows[table] = engine.scalar(f"SELECT count(*) FROM {RAW_SCHEMA}.{table}")
    return rows
