"""The alerts sensor on a real Dagster instance: each transition and failure alerted once, to table and webhook."""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from dataflywheel import settings
from dataflywheel.definitions import defs
from dataflywheel.monitoring.alerts import SqliteAlertSink

SENSOR = defs.resolve_sensor_def("alerts_sensor")


def tick(instance, cursor=None) -> str:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return SENSOR.evaluate_tick(context).cursor


def freshness(instance, asset: str, previous: FreshnessState, new: FreshnessState) -> None:
    instance.report_runless_asset_event(
        FreshnessStateChange(key=dg.AssetKey(asset), previous_state=previous, new_state=new, state_change_timestamp=1.0)
    )


@contextmanager
def instance_with_one_event_log(tmp_path):
    """A test instance configured like the platform's: one event log for all runs."""
    storage = {
        "module": "dagster.core.storage.event_log",
        "class": "ConsolidatedSqliteEventLogStorage",
        "config": {"base_dir": str(tmp_path / "events")},
    }
    with dg.instance_for_test(overrides={"event_log_storage": storage}) as instance:
        yield instance


@pytest.fixture
def alerts(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAFLYWHEEL_HOME", str(tmp_path))
    return SqliteAlertSink(settings.current().alerts_path)


def test_freshness_failures_and_recoveries_are_alerted_once(alerts, tmp_path):
    with instance_with_one_event_log(tmp_path) as instance:
        freshness(instance, "raw_events", FreshnessState.UNKNOWN, FreshnessState.PASS)  # nothing to say
        freshness(instance, "raw_events", FreshnessState.PASS, FreshnessState.FAIL)
        cursor = tick(instance)
        assert [(a.kind, a.subject) for a in alerts.read()] == [("freshness_failed", "raw_events")]

        assert tick(instance, cursor) == cursor  # nothing new: nothing sent again
        assert len(alerts.read()) == 1

        freshness(instance, "raw_events", FreshnessState.FAIL, FreshnessState.PASS)
        freshness(instance, "ranker_model", FreshnessState.PASS, FreshnessState.WARN)
        tick(instance, cursor)
        assert [a.kind for a in alerts.read()] == ["freshness_failed", "freshness_recovered", "freshness_warning"]


def test_a_replayed_cursor_does_not_duplicate_alerts(alerts, tmp_path):
    with instance_with_one_event_log(tmp_path) as instance:
        freshness(instance, "raw_events", FreshnessState.PASS, FreshnessState.FAIL)
        tick(instance)
        tick(instance)  # a lost cursor: the same events again
        assert len(alerts.read()) == 1


def test_failed_blocking_and_error_checks_alert_and_warnings_do_not(alerts, tmp_path):
    with instance_with_one_event_log(tmp_path) as instance:
        for name, severity in (
            ("conservation", dg.AssetCheckSeverity.ERROR),  # blocking
            ("volume_vs_last_week", dg.AssetCheckSeverity.WARN),
            ("files_readable", dg.AssetCheckSeverity.ERROR),
        ):
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey("raw_events"), check_name=name, passed=False, severity=severity
                )
            )
        tick(instance)
        assert [(a.kind, a.subject) for a in alerts.read()] == [
            ("blocking_check_failed", "raw_events:conservation"),
            ("check_failed", "raw_events:files_readable"),
        ]


def test_a_quarantined_file_alerts_naming_the_file_and_the_rest_of_its_hour_loads(alerts, tmp_path, monkeypatch):
    from datetime import datetime

    from dataflywheel.defs.ingestion.assets import raw_events
    from dataflywheel.defs.resources import Warehouse
    from dataflywheel.ingest.landing import hour_dir
    from helpers import land_rows

    root = tmp_path / "landing"
    monkeypatch.setenv("DATAFLYWHEEL_LANDING_URL", str(root))
    land_rows(root, datetime(2026, 11, 16, 10, 5), "good", [{"event_id": f"e{i}"} for i in range(30)])
    (root / hour_dir("", "2026-11-16T10").lstrip("/") / "broken.parquet").write_bytes(b"not parquet at all")
    with instance_with_one_event_log(tmp_path) as instance:
        result = dg.materialize(
            [raw_events],
            partition_key="2026-11-16-10:00",
            resources={"warehouse": Warehouse(path=str(tmp_path / "w.duckdb"))},
            instance=instance,
        )
        assert result.success  # the good file's hour is not held back
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        assert checks["conservation"].passed and not checks["files_readable"].passed
        assert result.asset_materializations_for_node("raw_events")[0].metadata["loaded"].value == 30
        tick(instance)
        [alert] = alerts.read()
        assert alert.kind == "check_failed" and "broken.parquet: unreadable_file" in alert.detail


def test_failed_runs_alert(alerts, tmp_path):
    @dg.op
    def breaks():
        raise RuntimeError("disk full")

    @dg.job
    def fragile():
        breaks()

    with instance_with_one_event_log(tmp_path) as instance:
        assert not fragile.execute_in_process(instance=instance, raise_on_error=False).success
        tick(instance)
        [alert] = alerts.read()
        assert alert.kind == "run_failed" and alert.subject.startswith("fragile")


def test_alerts_reach_a_slack_compatible_webhook(alerts, tmp_path, monkeypatch):
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("DATAFLYWHEEL_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    try:
        with instance_with_one_event_log(tmp_path) as instance:
            freshness(instance, "dim_users", FreshnessState.PASS, FreshnessState.FAIL)
            tick(instance)
    finally:
        server.shutdown()
    assert received == [{"text": "[error] freshness_failed: dim_users - PASS -> FAIL"}]
    assert len(alerts.read()) == 1  # the table has it too


def test_an_alerts_table_of_the_first_version_is_kept_aside(tmp_path):
    import sqlite3

    from dataflywheel.monitoring.alerts import Alert

    path = tmp_path / "alerts.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE alerts (source_id INTEGER PRIMARY KEY, kind, subject, detail, severity, at REAL)")
        con.execute("INSERT INTO alerts VALUES (7, 'run_failed', 'job', 'boom', 'error', 1.0)")
    sink = SqliteAlertSink(path)
    sink.send([Alert("drift_confirmed", "drift_report 2026-11-19", "data_drift", "warning", 2.0, "drift-9")])
    assert [(a.kind, a.key) for a in sink.read()] == [("drift_confirmed", "drift-9")]
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT kind FROM alerts_by_source_id").fetchall() == [("run_failed",)]
