"""The crashed-runs sensor: a run whose process died is marked failed and gives back its pool slots.

Dagster's run monitoring checks run workers itself where the launcher can (Kubernetes, ECS);
the default launcher, one process per run on this host, cannot, so without this a killed run
stays STARTED and every later warehouse step waits on the ``duckdb`` pool for ever. Marking
the run failed logs a RUN_FAILURE, which the alerts sensor turns into a ``run_failed`` alert
and Dagster's run retries re-execute (dagster.yaml: ``run_retries``, crashes only). A step
that waits on a pool longer than the bound is alerted here too: whatever holds the slot.
"""

from datetime import datetime, timezone

import dagster as dg
from dagster._core.events import (  # no public export of these (1.13)
    DagsterEventType,
    JobFailureData,
    RunFailureReason,
)

from dataflywheel import settings
from dataflywheel.monitoring.alerts import Alert, configured_sinks
from dataflywheel.monitoring.run_health import PoolWait, is_alive, overdue, run_worker


def _worker_of(instance: dg.DagsterInstance, run_id: str):
    engine_events = instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
    return run_worker((e.timestamp, e.dagster_event.event_specific_data.metadata or {}) for e in engine_events)


def _fail_crashed_runs(context: dg.SensorEvaluationContext) -> list[str]:
    instance, failed = context.instance, []
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        worker = _worker_of(instance, run.run_id)
        if worker is None or is_alive(worker):  # not started yet (run monitoring's start timeout), or running
            continue
        if instance.get_run_by_id(run.run_id).status != dg.DagsterRunStatus.STARTED:
            continue  # it finished between the listing and the look at its process
        instance.report_run_failed(
            run,
            message=f"The run's process (pid {worker.pid}) is gone without finishing the run (killed, out of "
            "memory, or the machine restarted); marked failed by crashed_runs_sensor, pool slots freed.",
            # What run retries read: a crash, not a step's own failure, so it is retried.
            job_failure_data=JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        context.log.warning(f"Run {run.run_id} ({run.job_name}): process {worker.pid} gone; failed, slots freed")
        failed.append(run.run_id)
    return failed


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # SQL storages keep naive UTC


def _pool_waits(instance: dg.DagsterInstance) -> list[PoolWait]:
    storage = instance.event_log_storage
    return [
        PoolWait(pool, step.run_id, step.step_key, _utc(step.enqueued_timestamp))
        for pool, info in storage.get_concurrency_infos(sorted(storage.get_concurrency_keys())).items()
        for step in info.pending_steps
        if step.assigned_timestamp is None
    ]


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def crashed_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Runs whose process died are failed and their pool slots freed; long pool waits alert."""
    if context.instance.run_launcher.supports_check_run_worker_health:
        return dg.SkipReason("This run launcher's health checks are Dagster's run monitoring's job.")
    now = datetime.now(timezone.utc)
    bound = settings.current().pool_wait_alert_minutes * 60
    waits = overdue(_pool_waits(context.instance), now, bound)  # before freeing slots hands them on
    failed = _fail_crashed_runs(context)
    alerts = [
        Alert(
            "pool_wait",
            f"{wait.step_key} ({wait.run_id})",
            f"waiting for a slot of pool {wait.pool} since {wait.waiting_since:%Y-%m-%d %H:%M:%S} UTC, longer than "
            f"{bound / 60:g} min: see which run holds it (Dagster UI, Deployment > Concurrency)",
            "error",
            now.timestamp(),
            f"pool-wait-{wait.run_id}-{wait.step_key}",  # once per waiting step
        )
        for wait in waits
    ]
    if alerts:
        for sink in configured_sinks():
            sink.send(alerts)
    return dg.SkipReason(f"{len(failed)} crashed runs failed, {len(alerts)} long pool waits alerted")
