"""Live: a real ``dagster-daemon`` on a fresh home turns the graph by itself once events land, in
two deployments of the same definitions, settings apart: the embedded default (Dagster's
instance on SQLite, landing in a folder, the warehouse in DuckDB) and the distributed one (the
instance on a real PostgreSQL server, landing on an S3 API, the warehouse on Spark with a Hive
metastore service shared by the runs and the dbt they start).

Nothing here launches a run: the daemon's sensors load the landed hours, its automation builds
everything downstream, its backfill daemon runs the multi-partition requests. The test only
lands a few recent hours (the partitions the clock has closed) and waits, bounded, for the
model of the last hour whose labels are mature, and for the online snapshot.
"""

import os
import shutil
import signal
import subprocess
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone

import dagster as dg
import duckdb
import pytest

from dataflywheel import settings
from dataflywheel.defs.partitions import HOUR_KEY
from dataflywheel.simulator.config import SimulationConfig
from dataflywheel.simulator.run import deliver_day, land_by_arrival_hour, land_directory
from dataflywheel.simulator.world import build_world
from spark_metastore import spark_metastore

pytestmark = pytest.mark.slow

HOURS = 5  # arrival hours landed, all closed
WAIT_SECONDS = 20 * 60


def fresh_home_environment(home, chosen: dict[str, str]) -> dict[str, str]:
    """This process's environment with a home of its own (nothing of the test session's home) and the
    ``chosen`` settings."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DATAFLYWHEEL_", "DAGSTER_", "DBT_"))}
    named = {"DATAFLYWHEEL_HOME": str(home), **chosen}
    return {**inherited, **settings.Settings.from_env(named).environment(), **chosen}


def land_recent_hours(config: settings.Settings, now: datetime) -> list[datetime]:
    """Yesterday's and today's simulated traffic, only what arrived in the last HOURS closed hours;
    yesterday's directory export (the newest day over). The arrival hours landed."""
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS)
    simulation = SimulationConfig(days=2, events_per_day=20_000, seed=3, start=now.date() - timedelta(days=1))
    world = build_world(simulation)
    for day in range(2):
        rows, _ = deliver_day(world, simulation, day)
        recent = rows.filter((rows["received_ts"] >= first) & (rows["received_ts"] < first + timedelta(hours=HOURS)))
        land_by_arrival_hour(config.landing_url, f"live-{day}", recent)
    land_directory(world, simulation, 0, config.landing_url)
    return [first + timedelta(hours=h) for h in range(HOURS)]


def materialized(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> bool:
    if partition is None:
        return instance.get_latest_materialization_event(dg.AssetKey(key)) is not None
    return partition in instance.get_materialized_partitions(dg.AssetKey(key))


def runs_in_postgres(url: str) -> int:
    """Runs recorded in the PostgreSQL database itself (not in any SQLite file)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sqlalchemy.text("SELECT count(*) FROM runs")).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("deployment", ["embedded", "distributed"])
def test_the_daemon_turns_the_graph_by_itself(tmp_path, request, deployment):
    home, chosen = tmp_path / "home", {}
    with ExitStack() as stack:
        if deployment == "distributed":
            if shutil.which("java") is None:
                pytest.skip("Spark needs Java 17 (Debian: default-jre-headless; .ci/run installs it)")
            server = request.getfixturevalue("postgres_url")
            uri = stack.enter_context(spark_metastore(fresh_home_environment(home, {}), tmp_path / "metastore.log"))
            chosen = {
                "DATAFLYWHEEL_DAGSTER_POSTGRES_URL": server,
                "DATAFLYWHEEL_LANDING_URL": request.getfixturevalue("s3_landing"),
                "DATAFLYWHEEL_ENGINE": "spark",
                "DATAFLYWHEEL_SPARK_METASTORE_URI": uri,
            }
        environment = fresh_home_environment(home, chosen)
        config = settings.Settings.from_env(environment)
        subprocess.run(
            [str(settings.PROJECT_ROOT / ".venv" / "bin" / "dataflywheel"), "setup"], env=environment, check=True
        )
        hours = land_recent_hours(config, datetime.now(timezone.utc))
        turn_the_graph(environment, config, hours, tmp_path / "daemon.log")
        if deployment == "distributed":
            # The runs, sensors' ticks and events went to the server, not to SQLite files.
            with settings.dagster_instance(config) as instance:
                assert runs_in_postgres(server) == len(instance.get_runs()) > len(hours)
            assert not list((home / "dagster").rglob("*.db"))
            assert not (home / "landing").exists()  # landed on the S3 API only
            # The models, features and examples are Spark's tables; DuckDB holds the loaded raw tables.
            with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
                schemas = {row[0] for row in warehouse.sql("SELECT schema_name FROM duckdb_tables()").fetchall()}
            assert schemas == {"raw"}, schemas
            spark_tables = home / "spark" / "warehouse"
            for table in ("main.db/fct_rec_impressions", "main.db/dim_items", "training.db/training_examples"):
                assert list((spark_tables / table).rglob("*.parquet")), table


def turn_the_graph(environment: dict[str, str], config: settings.Settings, hours: list[datetime], log) -> None:
    """Start the daemon and wait, bounded, until it has built the model of the newest hour whose labels
    are complete and the online snapshot, with no failed run on the way."""
    mature = hours[-1] - timedelta(hours=config.label_delay_hours)
    daemon = subprocess.Popen(
        [str(settings.PROJECT_ROOT / ".venv" / "bin" / "dagster-daemon"), "run", "-m", "dataflywheel.definitions"],
        env=environment,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with settings.dagster_instance(config) as instance:
            deadline = time.monotonic() + WAIT_SECONDS
            while time.monotonic() < deadline and not (
                materialized(instance, "ranker_model", mature.strftime(HOUR_KEY))
                and materialized(instance, "online_features")
            ):
                assert daemon.poll() is None, log.read_text()[-3000:]
                time.sleep(10)
            failed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
            assert not failed, [run.job_name for run in failed]
            for hour in hours:  # every landed hour loaded and featurized, by the daemon's own runs
                assert materialized(instance, "raw_events", hour.strftime(HOUR_KEY)), hour
                assert materialized(instance, "feature_tiles", hour.strftime(HOUR_KEY)), hour
            chain = sorted(instance.get_materialized_partitions(dg.AssetKey("ranker_model")))
            assert chain and chain[-1] == mature.strftime(HOUR_KEY), chain
            assert materialized(instance, "online_features")
            assert materialized(instance, "dim_items")
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
