"""What every monitoring asset shares."""

from datetime import timedelta

import dagster as dg

from dataflywheel.defs.automation import when_inputs_arrive
from dataflywheel.defs.ranking.assets import HOURLY_CHAIN

SPEC = dict(
    group_name="monitoring",
    owners=["team:ml-platform"],
    pool="duckdb",
    automation_condition=when_inputs_arrive(built_apart=HOURLY_CHAIN),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=30)),
)
