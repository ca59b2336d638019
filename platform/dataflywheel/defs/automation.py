"""How the graph turns by itself: the conditions assets declare, and the sensor that evaluates them.

Dagster's ``eager()`` looks only at the newest time partition. Here an hour's labels mature
``label_delay_hours`` after it, and simulated or late-delivered history lands days behind the
clock, so the newest partition is rarely the one whose inputs just arrived. Every condition
below looks at each partition of the catch-up window instead (``Settings.catch_up_days``).
"""

from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

from dataflywheel import settings

AC = dg.AutomationCondition


def _catch_up_window() -> AC:
    return AC.in_latest_time_window(lookback_delta=timedelta(days=settings.current().catch_up_days))


def when_inputs_arrive(
    snapshots: Sequence[dg.AssetKey] = (),
    may_be_missing: Sequence[dg.AssetKey] = (),
    settle_hours: int = 0,
    built_apart: Sequence[dg.AssetKey] = (),
) -> AC:
    """``eager()`` over the catch-up window: build a partition once all its inputs exist, again when
    one of them is updated, never while one is missing or running.

    ``snapshots`` are unpartitioned inputs (the directory dims, the events view): they must exist,
    but a new version of them does not rebuild every partition already built from the old one.
    ``may_be_missing`` are partitioned inputs some partitions never get (the features of the hour
    before the data's first; a day whose directory export is late): not waited for, an update of
    any of them still counts (training examples refuse to run without features an hour with data
    should have had).
    ``settle_hours``: the newest partitions left alone, for an asset whose inputs include later
    hours (labels): a partition that does not exist yet is not a missing input to Dagster.
    ``built_apart``: inputs whose partitions this one reads are never in its run: another
    partitioning (the hourly chain under a daily report) or another partition (the features of
    hour h - 1 under the examples of h). The daemon runs a tick's single partitions grouped by
    partition key, side by side: requested in the same evaluation, they are waited for instead.
    """
    condition = AC.eager().replace("in_latest_time_window", _catch_up_window())
    if snapshots:
        updated = AC.any_deps_updated().ignore(dg.AssetSelection.assets(*snapshots))
        condition = condition.replace("any_deps_updated", updated)
    if may_be_missing:
        missing = AC.any_deps_missing().ignore(dg.AssetSelection.assets(*may_be_missing))
        condition = condition.replace("any_deps_missing", missing)
    if built_apart:
        condition = condition & ~AC.any_deps_match(AC.will_be_requested()).allow(dg.AssetSelection.assets(*built_apart))
    if settle_hours:
        condition = condition & ~AC.in_latest_time_window(lookback_delta=timedelta(hours=settle_hours))
    return condition.with_label("when_inputs_arrive")


def once_per_hour_in_order(chain: dg.AssetKey) -> AC:
    """For a chain whose partition h starts from partition h - 1 (the online ranker): learn each hour
    once, when its inputs exist, never while the hour before is running. A missing hour before is
    not waited for (the chain has to start somewhere, an hour without data has no model, and one
    whose run is still to come is learned first by the asset itself, which refuses a gap it
    cannot learn)."""
    itself = dg.AssetSelection.assets(chain)
    return (
        _catch_up_window()
        & AC.missing()
        & (AC.newly_missing() | AC.any_deps_updated().ignore(itself)).since_last_handled()
        & ~AC.any_deps_missing().ignore(itself)
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
    ).with_label("once_per_hour_in_order")


def after_any_update() -> AC:
    """For an unpartitioned asset over hourly inputs (the online snapshot): rebuild after any input
    partition updates. Hours that never had data do not block it, as they would under ``eager()``."""
    return (AC.any_deps_updated().since_last_handled() & ~AC.in_progress()).with_label("after_any_update")


def daily_at(cron: str) -> AC:
    """For a report over everything so far (the debugging report): once a day, whatever updated,
    once there is something to report on (some input exists: not on a fresh install). Waiting for
    every input partition, as ``eager()`` does, would wait forever on hours without data."""
    has_data = AC.all_deps_match(~AC.missing())
    return (AC.cron_tick_passed(cron).since_last_handled() & has_data & ~AC.in_progress()).with_label(
        f"daily_at({cron})"
    )


def when_missing_or_changed() -> AC:
    """For a view: its rows are always current, so build it only when it is missing (once some of its
    input exists, and unless the last attempt failed) or its definition changed."""
    first_build = AC.missing() & AC.any_deps_match(~AC.missing()) & ~AC.execution_failed()
    return ((first_build | AC.code_version_changed()) & ~AC.in_progress()).with_label("when_missing_or_changed")


# Dagster's own default automation sensor starts stopped: without one declared running, no
# condition ever fires under the daemon. This one evaluates every asset's condition.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
