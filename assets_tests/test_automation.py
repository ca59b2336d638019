"""Declarative automation, evaluated by Dagster's own evaluator (what the daemon runs under `dagster dev`)."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from dataflywheel import settings
from dataflywheel.definitions import defs

DAY = datetime(2026, 11, 18, tzinfo=timezone.utc)
HOURS = 36  # a day and a half of arrival hours
CATCH_UP_HOURS = 6  # the first hours land before the first tick (a backlog), the rest one by one
DIRECTORY = ("raw_directory_users", "raw_directory_items")
# Started by sensors, by hand, or once a day at a set time: not by their inputs arriving.
NOT_AUTOMATED = {
    *("landing_events", "raw_events", *DIRECTORY),
    *("ranker_challenger", "challenger_off_policy", "ranker_canary"),
    *("dbt_docs", "model_debugging"),
}


def hour_key(hour: int) -> str:
    return (DAY + timedelta(hours=hour)).strftime("%Y-%m-%d-%H:%M")


def run_automation_over_a_day_and_a_half() -> list[set[tuple[str, str | None]]]:
    """The automation sensor tick by tick while arrival hours land, every requested partition
    reported materialized before the next tick (a run that succeeded); the requests of each tick."""
    graph = defs.resolve_asset_graph()
    ticks = []
    with dg.instance_for_test() as instance:
        # The sensor is running before anything lands (its first tick only initializes).
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=DAY).cursor

        def materialize(key: str, partition: str | None = None) -> None:
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))

        for hour in range(HOURS):
            if hour % 24 == 0:  # the directory export of the day just over, loaded by its sensor
                for key in DIRECTORY:
                    materialize(key, (DAY + timedelta(hours=hour - 24)).strftime("%Y-%m-%d"))
            materialize("raw_events", hour_key(hour))
            if hour < CATCH_UP_HOURS - 1:
                continue  # landed together: the first ticks see a backlog
            now = DAY + timedelta(hours=hour + 1, minutes=5)
            while True:
                result = dg.evaluate_automation_conditions(
                    defs=defs, instance=instance, evaluation_time=now, cursor=cursor
                )
                cursor = result.cursor
                requested = {
                    (key.to_user_string(), partition)
                    for key in graph.materializable_asset_keys
                    for partition in (
                        result.get_requested_partitions(key)
                        if graph.get(key).is_partitioned
                        else [None] * result.get_num_requested(key)
                    )
                }
                ticks.append(requested)
                if not requested:
                    break
                for key, partition in requested:
                    materialize(key, partition)
    return ticks


@pytest.fixture(scope="module")
def ticks():
    return run_automation_over_a_day_and_a_half()


def test_each_partition_is_requested_once_and_each_snapshot_once_per_input(ticks):
    requested = [request for tick in ticks for request in tick]
    partitioned = [r for r in requested if r[1] is not None]
    assert len(partitioned) == len(set(partitioned)), sorted(r for r in set(partitioned) if partitioned.count(r) > 1)
    times = {key: requested.count((key, None)) for key in ("stg_events", "dim_users", "dim_items", "online_features")}
    # The view once; the dims once per directory snapshot; the online snapshot once per tick of new features.
    assert times == {"stg_events": 1, "dim_users": 2, "dim_items": 2, "online_features": HOURS - CATCH_UP_HOURS + 1}


def test_the_whole_graph_turns(ticks):
    """Everything automated is requested for every partition whose inputs are complete, and none before."""
    requested = {request for tick in ticks for request in tick}
    by_asset: dict[str, set] = {}
    for key, partition in requested:
        by_asset.setdefault(key, set()).add(partition)
    automated = {k.to_user_string() for k in defs.resolve_asset_graph().materializable_asset_keys} - NOT_AUTOMATED
    assert automated <= set(by_asset), automated - set(by_asset)
    loaded = {hour_key(h) for h in range(HOURS)}
    mature = {hour_key(h) for h in range(HOURS - settings.current().label_delay_hours)}
    assert by_asset["feature_tiles"] == loaded
    assert by_asset["fct_rec_impressions"] == mature  # labels wait for the hours after them
    assert by_asset["training_examples"] == mature
    assert by_asset["ranker_model"] == mature
    for daily in ("agg_tenant_daily_activity", "int_sessions", "model_evaluation", "drift_report"):
        assert by_asset[daily] == {"2026-11-18"}, daily  # the second day is not complete
    for unpartitioned in ("stg_events", "dim_users", "dim_items", "online_features"):
        assert None in by_asset[unpartitioned]


def _one_run(graph, parent: dg.AssetKey, parent_partition: str, child: dg.AssetKey, partition: str) -> bool:
    """Whether the daemon puts both in one run when a tick requests them together: it groups a
    tick's single partitions by partitions definition and partition key (the run then executes
    the parent first), and the ranker's hours of a backlog form one range run that learns them in
    order. Otherwise their runs go side by side."""
    if parent == child:
        return True
    same_partitioning = graph.get(parent).partitions_def == graph.get(child).partitions_def
    return same_partitioning and parent_partition == partition


def test_requests_follow_dependencies(ticks):
    """A partition is requested after every input partition it maps to: in an earlier tick, or in
    the same tick only when both land in one run (so never the features of the hour before the
    examples, or the hours under a daily report), unless that input is never requested at all
    (the hour before the data's first)."""
    graph = defs.resolve_asset_graph()
    ever = {request for tick in ticks for request in tick}
    done: set[tuple[str, str | None]] = set()
    for tick in ticks:
        for key, partition in tick:
            asset = dg.AssetKey.from_user_string(key)
            for parent in graph.get(asset).parent_keys:
                if (
                    parent.to_user_string() in NOT_AUTOMATED
                    or partition is None
                    or not graph.get(parent).is_partitioned
                ):
                    continue
                mapped = graph.get_parent_partition_keys_for_child(partition, parent, asset).partitions_subset
                for parent_partition in mapped.get_partition_keys():
                    needed = (parent.to_user_string(), parent_partition)
                    same_run = _one_run(graph, parent, parent_partition, asset, partition)
                    before = done | tick if same_run else done
                    assert needed in before or needed not in ever, (key, partition, needed)
        done |= tick


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
