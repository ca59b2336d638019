"""Events later than the watermark: re-run the event-time days they touch.

A day's models are provisional until every event of that day has arrived. Each
``raw_events`` materialization records which event days its rows belong to; when one
lands for a day whose models were already built, this sensor requests that day again.
It reads Dagster's event log only, never the warehouse.
"""

import dagster as dg

from dataflywheel.defs.ingestion.assets import raw_events
from dataflywheel.defs.transform.assets import dbt_model
from dataflywheel.defs.transform.jobs import rebuild_days_job
from dataflywheel.ingest.late import stale_days

BUILT_MARKER = dbt_model("fct_rec_impressions")  # the event-time models build together


def _last_built(instance: dg.DagsterInstance, day: str) -> float | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=BUILT_MARKER, asset_partitions=[day]), limit=1
    ).records
    return records[0].timestamp if records else None


@dg.sensor(job=rebuild_days_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def late_events_sensor(context: dg.SensorEvaluationContext):
    """Request the event-time days that late arrivals made stale."""
    result = context.instance.fetch_materializations(raw_events.key, limit=500, cursor=context.cursor, ascending=True)
    arrivals = []
    for record in result.records:
        dates = record.asset_materialization.metadata.get("event_dates")
        arrivals.append((record.timestamp, list(dates.value) if dates else []))
    days = {day for _, ds in arrivals for day in ds}
    built_at = {day: t for day in days if (t := _last_built(context.instance, day)) is not None}
    for day in sorted(stale_days(arrivals, built_at)):
        yield dg.RunRequest(run_key=f"late:{day}:{result.cursor}", partition_key=day)
    if result.records:
        context.update_cursor(result.cursor)
