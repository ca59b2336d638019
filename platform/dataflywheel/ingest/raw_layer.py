"""The raw layer as Parquet: the raw tables as another engine reads them.

One folder per table of the warehouse's ``raw`` schema under a root; dbt's ``spark`` target registers
them as its sources (``dbt_project/macros/spark_raw_layer.sql``), so the same models build on
Spark from the same loaded data.
"""

from __future__ import annotations

from pathlib import Path

from dataflywheel.ingest.tables import RAW_SCHEMA
from dataflywheel.warehouse.engine import Engine


def export_raw_layer(engine: Engine, root: Path) -> dict[str, int]:
    """Write every raw table to ``root/<table>/`` (replacing what was there); rows per table."""
    tables = engine.frame(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [RAW_SCHEMA]
    ).get_column("table_name")
    return {
        table: engine.export_parquet(f"SELECT * FROM {RAW_SCHEMA}.{table}", root / table / "part-0.parquet")
        for table in tables
    }
