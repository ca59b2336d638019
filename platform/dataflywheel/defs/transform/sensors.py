"""Events later than the watermark: re-run the event-time days they touch, and their labels.

A day's models are provisional until every event of that day has arrived. Each
``raw_events`` materialization records which event days its rows belong to; when one
lands for a day whose models were already built, this sensor requests that day again,
and the labels of its 24 impression hours in one run. It reads Dagster's event log only,
never the warehouse. (Automation builds the rest again as its inputs change; the online
ranker does not re-learn hours it has learned.)
"""

from datetime import date, datetime, timedelta

import dagster as dg

from dataflywheel.defs.ingestion.assets import raw_events
from dataflywheel.defs.partitions import partition_of
from dataflywheel.defs.transform.assets import dbt_model
from dataflywheel.defs.transform.jobs import rebuild_days_job, rebuild_labels_job
from dataflywheel.ingest.late import stale_days

BUILT_MARKER = dbt_model("agg_tenant_daily_activity")  # the event-day models build together


def hours_of(day: str) -> dict[str, str]:
    """A day's first and last hourly partition keys, as the tags of a one-run range."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time())
    return {
        "dagster/asset_partition_range_start": partition_of(start),
        "dagster/asset_partition_range_end": partition_of(start + timedelta(hours=23)),
    }


def _last_built(instance: dg.DagsterInstance, day: str) -> float | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=BUILT_MARKER, asset_partitions=[day]), limit=1
    ).records
    return records[0].timestamp if records else None


@dg.sensor(
    jobs=[rebuild_days_job, rebuild_labels_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def late_events_sensor(context: dg.SensorEvaluationContext):
    """Request the event-time days that late arrivals made stale, and their impression hours' labels."""
    result = context.instance.fetch_materializations(raw_events.key, limit=500, cursor=context.cursor, ascending=True)
    arrivals = []
    for record in result.records:
        dates = record.asset_materialization.metadata.get("event_dates")
        arrivals.append((record.timestamp, list(dates.value) if dates else []))
    days = {day for _, ds in arrivals for day in ds}
    built_at = {day: t for day in days if (t := _last_built(context.instance, day)) is not None}
    for day in sorted(stale_days(arrivals, built_at)):
        yield dg.RunRequest(run_key=f"late:{day}:{result.cursor}", job_name=rebuild_days_job.name, partition_key=day)
        yield dg.RunRequest(
            run_key=f"late-labels:{day}:{result.cursor}", job_name=rebuild_labels_job.name, tags=hours_of(day)
        )
    if result.records:
        context.update_cursor(result.cursor)
