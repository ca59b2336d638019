"""kill -9 of a real run mid-step: the crashed-runs sensor fails it, frees its pool slot, and the
next warehouse run proceeds; the failure and the long pool wait are alerted."""

import os
import signal
import subprocess
import time
from datetime import datetime

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType

from dataflywheel import settings
from dataflywheel.definitions import defs
from dataflywheel.monitoring.alerts import SqliteAlertSink
from homes import land_hour, materialize, point_at_new_home, runs_and_log_tail, wait_for

pytestmark = pytest.mark.slow

BIG_HOUR, NEXT_HOUR = datetime(2026, 11, 16, 10), datetime(2026, 11, 16, 11)
BOUND_SECONDS = 180  # the next run must finish within this once the sensor has ticked


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh home with two landed hours; this process and its children pointed at it."""
    config = point_at_new_home(tmp_path / "home", monkeypatch)
    land_hour(config.landing_url, BIG_HOUR, 1_500_000)
    land_hour(config.landing_url, NEXT_HOUR, 1_000)
    return config


def pool(instance: dg.DagsterInstance):
    return instance.event_log_storage.get_concurrency_info("duckdb")


def tick(name: str, instance: dg.DagsterInstance) -> None:
    defs.resolve_sensor_def(name).evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))


def test_a_killed_run_is_failed_its_slot_freed_and_the_next_run_proceeds(home, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAFLYWHEEL_POOL_WAIT_ALERT_MINUTES", "0")  # any wait alerts, so the blocked step's does
    with settings.dagster_instance(home) as instance:
        victim = materialize(BIG_HOUR, tmp_path / "runs.log")
        run = wait_for(lambda: next(iter(instance.get_runs()), None), 60, "the first run")
        started = lambda: instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_START).records  # noqa: E731
        wait_for(started, 60, "its step")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED  # nobody noticed
        assert [s.run_id for s in pool(instance).claimed_slots] == [run.run_id]

        follower = materialize(NEXT_HOUR, tmp_path / "runs.log")
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
    with settings.dagster_instance(home) as instance:
        running = materialize(BIG_HOUR, tmp_path / "runs.log")
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
        with settings.dagster_instance(home) as instance:

            def big_hour_run_in_its_step():
                for run in instance.get_runs(dg.RunsFilter(tags={"dagster/partition": big})):
                    if instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_START).records:
                        return run

            explain = lambda: runs_and_log_tail(instance, tmp_path / "daemon.log")  # noqa: E731
            run = wait_for(big_hour_run_in_its_step, 600, "the daemon's run of the big hour, mid-step", explain)
            engine_events = instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
            worker = run_worker((e.timestamp, e.dagster_event.event_specific_data.metadata) for e in engine_events)
            os.kill(worker.pid, signal.SIGKILL)

            def retried_and_loaded():
                runs = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run.run_id}))
                loaded = instance.get_materialized_partitions(dg.AssetKey("raw_events"))
                return runs and runs[0].status == dg.DagsterRunStatus.SUCCESS and big in loaded

            wait_for(retried_and_loaded, 300, "the retry to load the hour", explain)
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
