"""The same project on Spark: from the same loaded data, the dbt models (dbt-spark's in-process
session, local master) and the Python side (the feature store, training examples and the online
snapshot through ``warehouse.spark.SparkEngine``) give what they give on DuckDB, row for row."""

import json
import os
import shutil
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dataflywheel import settings
from dataflywheel.dbt_project import DBT_EXECUTABLE
from dataflywheel.defs.lifecycle.canary import canary_impressions_sql
from dataflywheel.features.build import build_feature_rows, build_tiles
from dataflywheel.features.definitions import SCHEMA, TILES, VIEWS
from dataflywheel.features.examples import TABLE, build_examples, sample_examples
from dataflywheel.features.online import publish
from dataflywheel.ingest.directory import load_directory_snapshot
from dataflywheel.ingest.raw_layer import export_raw_layer
from dataflywheel.lifecycle.canary import served_lists
from dataflywheel.monitoring.debugging import feature_skew
from dataflywheel.simulator.config import SimulationConfig
from dataflywheel.simulator.run import deliver_day, land_by_arrival_hour, land_directory
from dataflywheel.simulator.world import build_world
from dataflywheel.warehouse.duckdb import DuckDBEngine
from dataflywheel.warehouse.spark import SparkEngine
from test_dbt_models import ingest_everything

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("java") is None, reason="Spark needs Java 17 (Debian: default-jre-headless; .ci/run installs it)"
    ),
]

MARTS = ("int_sessions", "fct_rec_impressions", "fct_item_daily_engagement", "agg_tenant_daily_activity")
MARTS += ("dim_items", "dim_users")
EXAMPLE_HOURS = 6  # the last impression hours with mature labels: the most feature history behind them


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """Values, not physical types: whole numbers as Int64 (DuckDB sums to 128-bit integers, Spark to
    64-bit), fractions as Float64 rounded to 9 places (summation order); columns by name, rows in
    one order."""
    columns = []
    for name, dtype in sorted(frame.schema.items()):
        column = pl.col(name)
        if dtype.is_integer() or (isinstance(dtype, pl.Decimal) and dtype.scale == 0):
            column = column.cast(pl.Int64)
        elif dtype.is_float() or isinstance(dtype, pl.Decimal):
            column = column.cast(pl.Float64).round(9)
        columns.append(column)
    ordered = frame.select(columns)
    return ordered.sort(ordered.columns, nulls_last=True)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A simulated day landed, loaded into DuckDB, exported as the raw layer, and the dbt project
    built on both engines. The Spark session of this test process uses the same home."""
    root = tmp_path_factory.mktemp("spark")
    home, warehouse, landing = root / "home", str(root / "warehouse.duckdb"), str(root / "landing")
    config = SimulationConfig(days=1, events_per_day=20_000, seed=11, start=date(2026, 11, 16))
    world = build_world(config)
    rows, _ = deliver_day(world, config, 0)
    land_by_arrival_hour(landing, "day0", rows)
    land_directory(world, config, 0, landing)
    with DuckDBEngine.open(warehouse) as engine:
        ingest_everything(engine.con, landing)
        load_directory_snapshot(engine, landing, config.start)
        exported = export_raw_layer(engine, home / "raw")
    environment = {**os.environ, **settings.Settings.from_env({"DATAFLYWHEEL_HOME": str(home)}).environment()}
    environment["DATAFLYWHEEL_WAREHOUSE"] = warehouse
    # Built whole, then windows rebuilt as Dagster's daily and hourly runs do (incremental: DuckDB
    # deletes the window and appends, Spark overwrites the window's hour partitions): the day, and
    # three hours of labels in the middle of it (an overwrite of more than the window loses the rest).
    day = json.dumps({"min_ts": f"{config.start} 00:00:00", "max_ts": f"{config.start + timedelta(days=1)} 00:00:00"})
    hours = json.dumps({"min_ts": f"{config.start} 10:00:00", "max_ts": f"{config.start} 13:00:00"})
    for target in ("duckdb", "spark"):
        for command in (
            ["build", "--full-refresh"],
            ["run", "--select", "tag:event_time", "--vars", day],
            ["run", "--select", "tag:event_hour", "--vars", hours],
        ):
            result = subprocess.run(
                [DBT_EXECUTABLE, *command, "--target", target],
                cwd=settings.DBT_PROJECT_DIR,
                env=environment,
                capture_output=True,
                text=True,
            )
            assert result.returncode == 0, result.stdout[-4000:]
    return {"home": home, "warehouse": warehouse, "environment": environment, "exported": exported}


def test_the_marts_are_the_same_on_duckdb_and_spark(loaded):
    assert loaded["exported"]["raw_events"] > 15_000 and loaded["exported"]["quarantined_events"] > 0
    con = duckdb.connect(loaded["warehouse"], read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    for model in MARTS:
        on_duckdb = pl.from_arrow(con.sql(f"SELECT * FROM main.{model}").to_arrow_table())
        # The files, without the partition column the event-time models carry on Spark (_window_hour).
        spark_files = loaded["home"] / "spark" / "warehouse" / "main.db" / model / "**" / "*.parquet"
        read = f"SELECT * FROM read_parquet('{spark_files}', hive_partitioning = false)"
        on_spark = pl.from_arrow(con.sql(read).to_arrow_table())
        assert on_duckdb.height > 0 and on_spark.columns == on_duckdb.columns, model
        assert comparable(on_spark).equals(comparable(on_duckdb)), model


def build_python_side(engine, arrival_hours: list[datetime], example_hours: list[datetime], out: Path) -> dict:
    """What the feature, example and snapshot assets do, hour by hour, on ``engine``: every table it
    wrote, and the lists a canary verdict would judge from them."""
    for hour in arrival_hours:
        build_tiles(engine, hour)
        build_feature_rows(engine, hour)
    for hour in example_hours:
        build_examples(engine, hour)
    publish(engine, out, arrival_hours[-1] + timedelta(hours=1))
    tables = [f"{SCHEMA}.{t.table}" for t in TILES] + [f"{SCHEMA}.{v.table}" for v in VIEWS] + [TABLE]
    written = {table: engine.frame(f"SELECT * FROM {table}") for table in tables}
    # What a canary verdict reads: the served lists since a model's first one, with their logged properties.
    version = engine.scalar(f"SELECT max(model_version) FROM {TABLE}")
    written["canary lists"] = served_lists(engine.frame(canary_impressions_sql(engine, version)))
    written |= {path.name: pl.read_parquet(path) for path in sorted(out.glob("*.parquet"))}
    return written


def test_feature_rows_training_examples_and_the_snapshot_are_the_same_on_spark(loaded):
    with DuckDBEngine.open(loaded["warehouse"]) as engine:
        arrival_hours = engine.frame("SELECT DISTINCT arrival_hour FROM raw.raw_events ORDER BY 1").to_series()
        impression_hours = engine.frame(
            "SELECT DISTINCT date_trunc('hour', impression_ts) FROM main.fct_rec_impressions ORDER BY 1"
        ).to_series()
        example_hours = impression_hours.to_list()[-EXAMPLE_HOURS - 3 : -3]  # labels need the next hours
        on_duckdb = build_python_side(engine, arrival_hours.to_list(), example_hours, loaded["home"] / "online-duckdb")
        skew_on_duckdb = feature_skew(engine, loaded["home"] / "online-duckdb", 200, seed=1)
    with SparkEngine.open(loaded["environment"]) as engine:
        # An hour built twice (a re-run) replaces its rows: the comparison below finds no duplicates.
        build_tiles(engine, arrival_hours[0])
        build_feature_rows(engine, arrival_hours[0])
        build_examples(engine, example_hours[0])
        on_spark = build_python_side(engine, arrival_hours.to_list(), example_hours, loaded["home"] / "online-spark")
        # Model debugging's skew check: the published snapshot against the offline join at its time.
        skew = feature_skew(engine, loaded["home"] / "online-spark", 200, seed=1)
        sampled = [sample_examples(engine, example_hours[0], example_hours[-1], 200, seed=3) for _ in range(2)]
        logged = """'{"p_click": 0.1, "fallback_from": "7"}'"""  # a served impression's properties
        fields = [engine.scalar(f"SELECT {engine.json_text_sql(logged, f)}") for f in ("fallback_from", "absent")]
        hourly = (f"{SCHEMA}.{TILES[0].table}", TABLE)
        partitions = [engine.frame(f"SHOW PARTITIONS {table}").height for table in hourly]
    assert partitions == [len(arrival_hours), len(example_hours)]  # one partition per hour, replaced in place
    assert fields == ["7", None]  # what the canary reads of the logged properties
    # Each engine samples its own keys (its own hash): both compare every view, and find no difference.
    for found in (skew, skew_on_duckdb):
        assert len(found.keys_compared) == len(VIEWS) and min(found.keys_compared.values()) > 0
        assert found.worst == 0.0 and len(found.mismatched) == sum(len(v.values) + 1 for v in VIEWS)

    assert on_spark.keys() == on_duckdb.keys() and len(on_duckdb) == len(TILES) + len(VIEWS) + 1 + 1 + 2 + len(VIEWS)
    for table, rows in on_duckdb.items():
        assert rows.height > 0, table
        assert comparable(on_spark[table]).equals(comparable(rows)), table
    examples = on_spark[TABLE]
    assert examples.get_column("clicked").sum() > 0 and examples.get_column("user_events_7d").null_count() == 0
    # Sampling on Spark: as many rows as asked, all of them examples of the window, the same for the same seed.
    assert sampled[0].height == 200 and sampled[0].equals(sampled[1])
    assert set(sampled[0].get_column("impression_id")) <= set(examples.get_column("impression_id"))
