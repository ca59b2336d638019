"""Transform jobs: the dbt models by event day, the directory models, the docs site."""

import dagster as dg

from dataflywheel.defs.transform.assets import directory_models, event_time_models
from dataflywheel.defs.transform.docs import dbt_docs

# Also what the late-event sensor launches for the days late arrivals made stale.
rebuild_days_job = dg.define_asset_job("rebuild_event_days", selection=dg.AssetSelection.assets(event_time_models()))
directory_models_job = dg.define_asset_job(
    "build_directory_models", selection=dg.AssetSelection.assets(directory_models())
)
dbt_docs_job = dg.define_asset_job("build_dbt_docs", selection=[dbt_docs])
