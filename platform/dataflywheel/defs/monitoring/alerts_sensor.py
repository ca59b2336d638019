"""The alerts sensor: Dagster's event log in, alerts out, each event turned into an alert once.

Dagster OSS evaluates freshness policies (the daemon records every state change in the event
log) but sends nothing: this sensor reads those changes, failed runs and failed blocking
checks after its cursor (one storage id per event type) and hands them to the sinks. It
never opens the warehouse.
"""

import json

import dagster as dg
from dagster._core.definitions.freshness import FreshnessState  # no public export yet (1.13)
from dagster._core.events import DagsterEventType

from dataflywheel.monitoring.alerts import Alert, configured_sinks

WATCHED = (
    DagsterEventType.FRESHNESS_STATE_CHANGE,
    DagsterEventType.RUN_FAILURE,
    DagsterEventType.ASSET_CHECK_EVALUATION,
)
BATCH = 1000  # events per type and tick; the rest waits for the next tick


def _freshness_alert(record: dg.EventLogRecord) -> Alert | None:
    change = record.event_log_entry.dagster_event.event_specific_data
    subject = change.key.to_user_string()
    if change.new_state == FreshnessState.FAIL:
        kind, severity = "freshness_failed", "error"
    elif change.new_state == FreshnessState.WARN:
        kind, severity = "freshness_warning", "warning"
    elif change.new_state == FreshnessState.PASS and change.previous_state in (
        FreshnessState.FAIL,
        FreshnessState.WARN,
    ):
        kind, severity = "freshness_recovered", "info"
    else:
        return None
    detail = f"{change.previous_state.value} -> {change.new_state.value}"
    return Alert(kind, subject, detail, severity, change.state_change_timestamp, _key(record))


def _key(record: dg.EventLogRecord) -> str:
    return f"event-{record.storage_id}"


def _run_failure_alert(record: dg.EventLogRecord) -> Alert:
    event = record.event_log_entry.dagster_event
    detail = event.message or "run failed"
    return Alert("run_failed", f"{event.job_name} ({record.run_id})", detail, "error", record.timestamp, _key(record))


def _check_alert(record: dg.EventLogRecord, blocking: set[dg.AssetCheckKey]) -> Alert | None:
    """A failed blocking check holds its downstream back; any other failed check of severity
    ERROR (a quarantined file, a failed quality gate, online / offline skew) says something broke."""
    evaluation = record.event_log_entry.dagster_event.event_specific_data
    if evaluation.passed:
        return None
    subject = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
    partition = f" partition {evaluation.partition}" if evaluation.partition else ""
    if evaluation.blocking or evaluation.asset_check_key in blocking:
        detail = f"blocking check failed{partition}; downstream is held back"
        return Alert("blocking_check_failed", subject, detail, "error", record.timestamp, _key(record))
    if evaluation.severity != dg.AssetCheckSeverity.ERROR:
        return None
    said = "; ".join(f"{name}: {value.value}" for name, value in (evaluation.metadata or {}).items())
    detail = f"check failed{partition}" + (f": {said}" if said else "")
    return Alert("check_failed", subject, detail[:2000], "error", record.timestamp, _key(record))


def _blocking_checks(context: dg.SensorEvaluationContext) -> set[dg.AssetCheckKey]:
    graph = context.repository_def.asset_graph
    return {spec.key for assets_def in graph.assets_defs for spec in assets_def.check_specs if spec.blocking}


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def alerts_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """Freshness failures, warnings and recoveries, failed runs, failed blocking checks and failed
    checks of severity ERROR, once each."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    blocking = _blocking_checks(context)
    alerts = []
    for event_type in WATCHED:
        records = context.instance.event_log_storage.get_event_records(
            dg.EventRecordsFilter(event_type=event_type, after_cursor=cursor.get(event_type.value, 0)),
            limit=BATCH,
            ascending=True,
        )
        for record in records:
            if event_type == DagsterEventType.FRESHNESS_STATE_CHANGE:
                alert = _freshness_alert(record)
            elif event_type == DagsterEventType.RUN_FAILURE:
                alert = _run_failure_alert(record)
            else:
                alert = _check_alert(record, blocking)
            if alert:
                alerts.append(alert)
            cursor[event_type.value] = record.storage_id
    if alerts:
        for sink in configured_sinks():
            sink.send(alerts)
        context.log.info(f"{len(alerts)} alerts sent")
    return dg.SensorResult(cursor=json.dumps(cursor, sort_keys=True))
