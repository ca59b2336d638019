"""kill -9 of a real run mid-step: the crashed-runs sensor fails it, frees its pool slot, and the
next warehouse run proceeds; the failure and the long pool wait are alerted."""

import os
import shutil
import signal
import subprocess
import time
from datetime import datetime, timezone

import dagster as dg
import polars as pl
import pytest
from dagster._core.events import DagsterEventType

from dataflywheel import settings
from dataflywheel.definitions import defs
from dataflywheel.ingest.landing import land_events
from dataflywheel.monitoring.alerts import SqliteAlertSink
from helpers import wire_frame

pytestmark = pytest.mark.slow

BIG_HOUR, NEXT_HOUR = datetime(2026, 11, 16, 10), datetime(2026, 11, 16, 11)
BOUND_SECONDS = 180  # the next run must finish within this once the sensor has ticked


def land_hour(root: str, hour: datetime, rows: int) -> None:
    """An hour of valid search events, big enough that loading it takes a few seconds."""
    one = wire_frame(
        [{"received_ts": hour.replace(minute=30, tzinfo=timezone.utc), "event_ts": f"{hour:%Y-%m-%dT%H}:29:00.000Z"}]
    )
    frame = one.drop("_fault").select(pl.all().repeat_by(rows).explode())
    frame = frame.with_columns(event_id=pl.format("{}-{}", pl.lit(f"{hour:%H}"), pl.int_range(rows)))
    land_events(root, f"{hour:%Y-%m-%dT%H}", "batch", frame.to_arrow())


def materialize(environment, hour: datetime, log) -> subprocess.Popen:
    command = [
        str(settings.PROJECT_ROOT / ".venv" / "bin" / "dagster"),
        "asset",
        "materialize",
        "-m",
        "dataflywheel.definitions",
        "--select",
        "raw_events",
        "--partition",
        f"{hour:%Y-%m-%d-%H}:00",
    ]
    return subprocess.Popen(
        command, env=dict(environment), start_new_session=True, stdout=open(log, "ab"), stderr=subprocess.STDOUT
    )


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh home with two landed hours; this process and its children pointed at it."""
    home = tmp_path / "home"
    for name in [n for n in os.environ if n.startswith(("DATAFLYWHEEL_", "DAGSTER_"))]:
        monkeypatch.delenv(name)
    for name, value in settings.Settings.from_env({"DATAFLYWHEEL_HOME": str(home)}).environment().items():
        monkeypatch.setenv(name, value)
    config = settings.current()
    settings.prepare_home(config)
    shutil.copytree(SESSION_DBT_TARGET, config.dbt_target_path)  # the session's parsed manifest
    land_hour(config.landing_url, BIG_HOUR, 1_500_000)
    land_hour(config.landing_url, NEXT_HOUR, 1_000)
    return config


SESSION_DBT_TARGET = settings.current().dbt_target_path


def pool(instance: dg.DagsterInstance):
    return instance.event_log_storage.get_concurrency_info("duckdb")


def tick(name: str, instance: dg.DagsterInstance) -> None:
    defs.resolve_sensor_def(name).evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))


def test_a_killed_run_is_failed_its_slot_freed_and_the_next_run_proceeds(home, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAFLYWHEEL_POOL_WAIT_ALERT_MINUTES", "0")  # any wait alerts, so the blocked step's does
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        victim = materialize(os.environ, BIG_HOUR, tmp_path / "runs.log")
        run = wait_for(lambda: next(iter(instance.get_runs()), None), 60, "the first run")
        started = lambda: instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_START).records  # noqa: E731
        wait_for(started, 60, "its step")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED  # nobody noticed
        assert [s.run_id for s in pool(instance).claimed_slots] == [run.run_id]

        follower = materialize(os.environ, NEXT_HOUR, tmp_path / "runs.log")
        wait_for(lambda: [s for s in pool(instance).pending_steps if s.run_id != run.run_id], 60, "a wait on the pool")
        time.sleep(2)
        assert follower.poll() is None  # blocked behind the dead run's slot

        tick("crashed_runs_sensor", instance)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert follower.wait(timeout=BOUND_SECONDS) == 0  # proceeds, with no hand action
        assert NEXT_HOUR.strftime("%Y-%m-%d-%H:00") in instance.get_materialized_partitions(dg.AssetKey("raw_events"))
        tick("alerts_sensor", instance)
        alerts = {(a.kind, run.run_id in a.subject) for a in SqliteAlertSink(home.alerts_path).read()}
        assert alerts == {("run_failed", True), ("pool_wait", False)}


def test_a_live_run_is_left_alone(home, tmp_path):
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        running = materialize(os.environ, BIG_HOUR, tmp_path / "runs.log")
        run = wait_for(lambda: next(iter(instance.get_runs()), None), 60, "the run")
        started = lambda: instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_START).records  # noqa: E731
        wait_for(started, 60, "its step")
        tick("crashed_runs_sensor", instance)
        assert not instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_FAILURE).records
        assert running.wait(timeout=BOUND_SECONDS) == 0
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS


def test_under_the_daemon_a_killed_run_is_failed_retried_and_its_hour_loads(home, tmp_path):
    """The live path: the daemon's landing sensor launches the hours' runs; one is killed mid-step; the
    daemon's crashed-runs sensor fails it and Dagster's run retries load the hour again."""
    from dataflywheel.monitoring.run_health import run_worker

    daemon = subprocess.Popen(
        [str(settings.PROJECT_ROOT / ".venv" / "bin" / "dagster-daemon"), "run", "-m", "dataflywheel.definitions"],
        env=dict(os.environ),
        stdout=open(tmp_path / "daemon.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    big = BIG_HOUR.strftime("%Y-%m-%d-%H:00")
    try:
        with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:

            def big_hour_run_in_its_step():
                for run in instance.get_runs(dg.RunsFilter(tags={"dagster/partition": big})):
                    if instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_START).records:
                        return run

            run = wait_for(big_hour_run_in_its_step, 300, "the daemon's run of the big hour, mid-step")
            engine_events = instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
            worker = run_worker((e.timestamp, e.dagster_event.event_specific_data.metadata) for e in engine_events)
            os.kill(worker.pid, signal.SIGKILL)

            def retried_and_loaded():
                runs = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run.run_id}))
                loaded = instance.get_materialized_partitions(dg.AssetKey("raw_events"))
                return runs and runs[0].status == dg.DagsterRunStatus.SUCCESS and big in loaded

            wait_for(retried_and_loaded, 300, "the retry to load the hour")
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
            assert NEXT_HOUR.strftime("%Y-%m-%d-%H:00") in instance.get_materialized_partitions(
                dg.AssetKey("raw_events")
            )
            wait_for(
                lambda: any(
                    a.kind == "run_failed" and run.run_id in a.subject for a in SqliteAlertSink(home.alerts_path).read()
                ),
                120,
                "the run_failed alert",
            )
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
