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


DIRECTORY = ("raw_directory_users", "raw_directory_items")


def test_the_automation_sensor_runs_by_default():
    """Dagster's own default automation sensor is stopped: ours is declared running, over every asset."""
    sensors = [s for s in defs.sensors if isinstance(s, dg.AutomationConditionSensorDefinition)]
    assert len(sensors) == 1
    assert sensors[0].default_status == dg.DefaultSensorStatus.RUNNING


def tick_after(
    instance: dg.DagsterInstance, evaluation_time: datetime, events
) -> dg.EvaluateAutomationConditionsResult:
    """One sensor tick before ``events`` happen and one after, as the running sensor sees them."""
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=evaluation_time)
    for event in events:
        instance.report_runless_asset_event(event)
    return dg.evaluate_automation_conditions(
        defs=defs, instance=instance, evaluation_time=evaluation_time, cursor=before.cursor
    )


def test_the_directory_models_are_built_from_the_newest_snapshot():
    """A day's directory snapshot is enough: dims do not wait for every day since the partitions start."""
    snapshot = [dg.AssetMaterialization(key, partition="2026-11-18") for key in DIRECTORY]
    with dg.instance_for_test() as instance:
        result = tick_after(instance, DAY + timedelta(days=1, hours=1), snapshot)
        assert result.get_num_requested(dg.AssetKey("dim_users")) == 1
        assert result.get_num_requested(dg.AssetKey("dim_items")) == 1


def test_an_arrival_hour_is_featurized_once_it_is_loaded_and_the_dims_exist():
    hour = (DAY + timedelta(hours=5)).strftime("%Y-%m-%d-%H:%M")
    with dg.instance_for_test() as instance:
        for name in ("dim_users", "dim_items"):
            instance.report_runless_asset_event(dg.AssetMaterialization(name))
        loaded = [dg.AssetMaterialization("raw_events", partition=hour)]
        result = tick_after(instance, DAY + timedelta(hours=6), loaded)
        assert result.get_requested_partitions(dg.AssetKey("feature_tiles")) == {hour}
