"""Transform domain: the dbt project as Dagster assets, and the late-event sensor."""

import dagster as dg

from .assets import dbt_resource, directory_models, event_time_models
from .docs import dbt_docs
from .sensors import late_events_sensor, rebuild_days_job

directory_models_job = dg.define_asset_job(
    "build_directory_models", selection=dg.AssetSelection.assets(directory_models())
)
dbt_docs_job = dg.define_asset_job("build_dbt_docs", selection=[dbt_docs])


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[event_time_models(), directory_models(), dbt_docs],
        sensors=[late_events_sensor],
        jobs=[rebuild_days_job, directory_models_job, dbt_docs_job],
        resources={"dbt": dbt_resource()},
    )
