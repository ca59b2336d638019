"""The retrain sensor: confirmed drift in, one retrain run out, never a storm.

Evidence is a drift report whose verdict is "drifted" (data, prediction or target drift, or
a quality drop). The newest evidence of a tick launches ``retrain_ranker`` for its day,
unless a retrain was launched less than the cooldown ago: then the evidence is recorded
as an alert and dropped (a later report will speak again if the drift persists). A day that
already has a retrain run is not evidence again (a fresh cursor, say after the demo, starts
from Dagster's run history), and run keys are per day.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import dagster as dg

from dataflywheel import settings
from dataflywheel.defs.lifecycle.jobs import retrain_job
from dataflywheel.defs.monitoring.drift_report import drift_report
from dataflywheel.monitoring.alerts import Alert, configured_sinks
from dataflywheel.monitoring.drift import FLAGS


@dataclass
class RetrainCursor:
    after_storage_id: int = 0  # drift reports seen up to here
    last_launch: float | None = None  # when the last retrain was requested (epoch seconds)

    @classmethod
    def parse(cls, raw: str | None) -> "RetrainCursor":
        return cls(**json.loads(raw)) if raw else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Evidence:
    storage_id: int  # of the drift report's materialization
    day: str
    reasons: str  # the verdict's flags, comma-separated


def decide(evidence: list[Evidence], cursor: RetrainCursor, now: float, cooldown_s: float):
    """The run to request (or why not), the alerts to record and the next cursor."""
    if not evidence:
        return dg.SkipReason("no confirmed drift since the last tick"), [], cursor
    seen = max(e.storage_id for e in evidence)
    alerts = [
        Alert("drift_confirmed", f"drift_report {e.day}", e.reasons, "warning", now, f"drift-{e.storage_id}")
        for e in evidence
    ]
    newest = max(evidence, key=lambda e: e.storage_id)
    if cursor.last_launch is not None and now - cursor.last_launch < cooldown_s:
        left_h = (cursor.last_launch + cooldown_s - now) / 3600
        why = f"cooldown: a retrain was requested {(now - cursor.last_launch) / 3600:.1f} h ago ({left_h:.1f} h left)"
        alerts.append(Alert("retrain_held", f"{retrain_job.name} {newest.day}", why, "info", now, f"held-{seen}"))
        return dg.SkipReason(why), alerts, RetrainCursor(seen, cursor.last_launch)
    trigger = f"drift_report {newest.day}: {newest.reasons}"
    request = dg.RunRequest(
        run_key=f"retrain-{newest.day}", partition_key=newest.day, tags={"dataflywheel/trigger": trigger}
    )
    alerts.append(
        Alert("retrain_requested", f"{retrain_job.name} {newest.day}", trigger, "info", now, f"retrain-{newest.day}")
    )
    return request, alerts, RetrainCursor(seen, now)


def _reports(instance: dg.DagsterInstance, after: int) -> list[Evidence]:
    """Drift reports materialized after the cursor; ``reasons`` is empty for a quiet day."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=drift_report.key, after_storage_id=after), limit=1000, ascending=True
    ).records
    return [
        Evidence(
            record.storage_id,
            record.asset_materialization.partition,
            ", ".join(flag for flag in FLAGS if _on(record.asset_materialization.metadata, flag)),
        )
        for record in records
    ]


def _retrained(instance: dg.DagsterInstance, day: str) -> bool:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=retrain_job.name, tags={"dagster/partition": day}), limit=1)
    return bool(runs)


def _on(metadata: dict, key: str) -> bool:
    return key in metadata and metadata[key].value == 1.0


@dg.sensor(job=retrain_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def retrain_sensor(context: dg.SensorEvaluationContext):
    """Launch a retrain for the newest confirmed drift, at most once per cooldown."""
    cursor = RetrainCursor.parse(context.cursor)
    reports = _reports(context.instance, cursor.after_storage_id)
    flagged = [e for e in reports if e.reasons and not _retrained(context.instance, e.day)]
    outcome, alerts, cursor = decide(flagged, cursor, time.time(), settings.current().retrain_cooldown_hours * 3600)
    if reports:  # quiet reports move the cursor too
        cursor = RetrainCursor(max(e.storage_id for e in reports), cursor.last_launch)
    for sink in configured_sinks() if alerts else []:
        sink.send(alerts)
    if isinstance(outcome, dg.RunRequest):
        return dg.SensorResult(run_requests=[outcome], cursor=cursor.dump())
    return dg.SensorResult(skip_reason=outcome, cursor=cursor.dump())
