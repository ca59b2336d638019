"""The dbt project on Spark: the same models built from the same loaded data on DuckDB and on
Spark (dbt-spark's in-process session, local master) give the same marts, row for row."""

import os
import subprocess
from datetime import timedelta

import duckdb
import polars as pl
import pytest

from dataflywheel import settings
from dataflywheel.dbt_project import DBT_EXECUTABLE
from dataflywheel.ingest.directory import load_directory_snapshot
from dataflywheel.ingest.raw_layer import export_raw_layer
from dataflywheel.simulator.run import deliver_day, land_by_arrival_hour, land_directory
from dataflywheel.simulator.world import build_world
from dataflywheel.warehouse.duckdb import DuckDBEngine
from test_dbt_models import ingest_everything

pytestmark = pytest.mark.slow

MODELS = ("int_sessions", "fct_rec_impressions", "fct_item_daily_engagement", "agg_tenant_daily_activity")
MODELS += ("dim_items", "dim_users")


def build(target: str, home, warehouse: str) -> None:
    """`dbt build --full-refresh` of the whole project on ``target``, its files under ``home``."""
    environment = {**os.environ, **settings.Settings.from_env({"DATAFLYWHEEL_HOME": str(home)}).environment()}
    environment["DATAFLYWHEEL_WAREHOUSE"] = warehouse
    result = subprocess.run(
        [DBT_EXECUTABLE, "build", "--full-refresh", "--target", target],
        cwd=settings.DBT_PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """Values, not physical types: whole numbers as Int64 (DuckDB sums to 128-bit integers, Spark to
    64-bit), fractions as Float64 rounded to 9 places (summation order); rows in one order."""
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype.is_integer() or (isinstance(dtype, pl.Decimal) and dtype.scale == 0):
            column = column.cast(pl.Int64)
        elif dtype.is_float() or isinstance(dtype, pl.Decimal):
            column = column.cast(pl.Float64).round(9)
        columns.append(column)
    return frame.select(columns).sort(frame.columns, nulls_last=True)


def test_the_marts_are_the_same_on_duckdb_and_spark(small_config, tmp_path):
    home, warehouse, landing = tmp_path / "home", str(tmp_path / "warehouse.duckdb"), str(tmp_path / "landing")
    world = build_world(small_config)
    for day in range(small_config.days):
        rows, _ = deliver_day(world, small_config, day)
        land_by_arrival_hour(landing, f"day{day}", rows)
        land_directory(world, small_config, day, landing)
    with DuckDBEngine.open(warehouse) as engine:
        ingest_everything(engine.con, landing)
        load_directory_snapshot(engine, landing, small_config.start + timedelta(days=1))
        exported = export_raw_layer(engine, home / "raw")
    assert exported["raw_events"] > 50_000 and exported["quarantined_events"] > 0

    build("duckdb", home, warehouse)
    build("spark", home, warehouse)

    con = duckdb.connect(warehouse, read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    for model in MODELS:
        on_duckdb = pl.from_arrow(con.sql(f"SELECT * FROM main.{model}").to_arrow_table())
        spark_files = home / "spark" / "warehouse" / "analytics.db" / model / "*.parquet"
        on_spark = pl.from_arrow(con.sql(f"SELECT * FROM read_parquet('{spark_files}')").to_arrow_table())
        assert on_duckdb.height > 0 and on_spark.columns == on_duckdb.columns, model
        assert comparable(on_spark).equals(comparable(on_duckdb)), model
