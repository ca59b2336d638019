"""Transform jobs: the labels by hour, the dbt models by event day, the unpartitioned models, the docs."""

import dagster as dg

from dataflywheel.defs.transform.assets import event_time_models, label_models, unpartitioned_models
from dataflywheel.defs.transform.docs import dbt_docs

# Also what the late-event sensor launches for the days (and their impression hours) late arrivals made stale.
rebuild_days_job = dg.define_asset_job("rebuild_event_days", selection=dg.AssetSelection.assets(event_time_models()))
rebuild_labels_job = dg.define_asset_job("rebuild_labels", selection=dg.AssetSelection.assets(label_models()))
unpartitioned_models_job = dg.define_asset_job(
    "build_unpartitioned_models", selection=dg.AssetSelection.assets(unpartitioned_models())
)
dbt_docs_job = dg.define_asset_job("build_dbt_docs", selection=[dbt_docs])
