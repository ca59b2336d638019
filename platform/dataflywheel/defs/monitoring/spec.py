"""What every monitoring asset shares."""

from datetime import timedelta

import dagster as dg

SPEC = dict(
    group_name="monitoring",
    owners=["team:ml-platform"],
    pool="duckdb",
    automation_condition=dg.AutomationCondition.eager(),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=30)),
)
