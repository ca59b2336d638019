"""The demo path through a real Dagster instance: every partition materialized, checks evaluated,
and a late arrival making the late-events sensor request the day it belongs to."""

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pytest

from dataflywheel import settings
from dataflywheel.demo import run_demo
from dataflywheel.simulator.config import SimulationConfig
from helpers import land_rows


@pytest.fixture(scope="module")
def demo():
    config = SimulationConfig(days=2, events_per_day=30_000, seed=11, start=date(2026, 11, 17))
    report = run_demo(config, show_progress=False)
    from dataflywheel.definitions import defs

    return config, report, defs, dg.DagsterInstance.get()


def test_every_run_succeeds_and_nothing_is_lost(demo):
    _, report, _, _ = demo
    assert report.failed_runs == []
    t = report.totals
    assert t["landed"] == report.simulation.delivered
    assert t["loaded"] + t["duplicates"] + t["quarantined"] == t["landed"]
    assert sum(report.simulation.malformed.values()) <= t["quarantined"]  # plus redelivered malformed rows
    assert all(n > 0 for n in report.mart_rows.values())


def test_every_asset_is_materialized_and_every_check_evaluated(demo):
    _, _, defs, instance = demo
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert instance.get_latest_materialization_event(key) is not None, key
    conservation = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("raw_events"), "conservation")]
    )
    assert conservation


def test_a_late_arrival_makes_the_sensor_rebuild_its_day(demo):
    config, _, defs, instance = demo
    day0 = datetime.combine(config.start, datetime.min.time(), tzinfo=timezone.utc)
    arrival = day0 + timedelta(days=config.days, hours=12)  # an hour of its own, after every day was built
    late_search = {"event_id": "late-e2e-1", "event_ts": f"{day0:%Y-%m-%d}T20:00:00.000Z", "tenant_id": "t0"}
    land_rows(settings.landing_url(), arrival, "late", [late_search])
    result = defs.resolve_job_def("ingest_raw_events").execute_in_process(
        instance=instance, partition_key=f"{arrival:%Y-%m-%d-%H:00}"
    )
    assert result.success

    sensor = defs.resolve_sensor_def("late_events_sensor")
    evaluation = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert [r.partition_key for r in evaluation.run_requests] == [f"{day0:%Y-%m-%d}"]
