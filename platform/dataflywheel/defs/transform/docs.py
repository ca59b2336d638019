"""The dbt docs site as an asset: rebuilt daily into the home folder and linked from the UI."""

import os
import subprocess
from datetime import timedelta

import dagster as dg

from dataflywheel import settings
from dataflywheel.dbt_project import DBT_EXECUTABLE, dbt_project
from dataflywheel.defs.transform.assets import event_time_models, label_models, unpartitioned_models


@dg.asset(
    deps=[label_models(), event_time_models(), unpartitioned_models()],
    group_name="transform",
    owners=["team:analytics-engineering"],
    kinds={"dbt", "html"},
    pool="duckdb",  # `docs generate` reads the warehouse catalog
    automation_condition=dg.AutomationCondition.on_cron("0 6 * * *"),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26)),
    description="The static dbt docs site (models, columns, tests, lineage) in one HTML file.",
)
def dbt_docs(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    config = settings.current()
    site = config.home / "dbt_docs"
    subprocess.run(
        [DBT_EXECUTABLE, "docs", "generate", "--static", "--quiet", "--target-path", str(site)],
        cwd=dbt_project().project_dir,
        env={**os.environ, **config.environment()},
        check=True,
    )
    page = site / "static_index.html"
    return dg.MaterializeResult(metadata={"site": dg.MetadataValue.url(page.as_uri()), "bytes": page.stat().st_size})
