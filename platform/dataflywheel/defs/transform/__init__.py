"""Transform domain: the dbt project as Dagster assets, and the late-event sensor."""

import dagster as dg

from dataflywheel.defs.transform.assets import dbt_resource, directory_models, event_time_models
from dataflywheel.defs.transform.docs import dbt_docs
from dataflywheel.defs.transform.jobs import dbt_docs_job, directory_models_job, rebuild_days_job
from dataflywheel.defs.transform.sensors import late_events_sensor


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[event_time_models(), directory_models(), dbt_docs],
        sensors=[late_events_sensor],
        jobs=[rebuild_days_job, directory_models_job, dbt_docs_job],
        resources={"dbt": dbt_resource()},
    )
