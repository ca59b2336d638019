"""Declarative automation, evaluated by Dagster's own evaluator (what the daemon runs under `dagster dev`)."""

from datetime import datetime, timedelta, timezone

import dagster as dg

from dataflywheel.definitions import defs

DAY = datetime(2026, 11, 18, tzinfo=timezone.utc)
EVENT_TIME_MODELS = {
    "stg_events",
    "int_sessions",
    "fct_rec_impressions",
    "fct_item_daily_engagement",
    "agg_tenant_daily_activity",
}


def land_hours(instance: dg.DagsterInstance, hours: int) -> None:
    """Record raw_events materializations for the first ``hours`` arrival hours of DAY."""
    for h in range(hours):
        key = (DAY + timedelta(hours=h)).strftime("%Y-%m-%d-%H:%M")
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_events", partition=key))


def requested(result, day: str) -> set[str]:
    return {name for name in EVENT_TIME_MODELS if day in result.get_requested_partitions(dg.AssetKey(name))}


def test_a_day_is_built_once_all_its_arrival_hours_are_loaded():
    next_morning = DAY + timedelta(days=1, hours=2)
    with dg.instance_for_test() as instance:
        land_hours(instance, 23)
        partial = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=next_morning)
        assert requested(partial, "2026-11-18") == set()  # an hour is still missing: wait

        land_hours(instance, 24)
        complete = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=next_morning, cursor=partial.cursor
        )
        assert requested(complete, "2026-11-18") == EVENT_TIME_MODELS
