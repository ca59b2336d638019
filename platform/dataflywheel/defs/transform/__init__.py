"""Transform domain: the dbt project as Dagster assets, and the late-event sensor."""

import dagster as dg

from dataflywheel.defs.transform.assets import dbt_resource, event_time_models, label_models, unpartitioned_models
from dataflywheel.defs.transform.docs import dbt_docs
from dataflywheel.defs.transform.jobs import (
    dbt_docs_job,
    rebuild_days_job,
    rebuild_labels_job,
    unpartitioned_models_job,
)
from dataflywheel.defs.transform.sensors import late_events_sensor


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[label_models(), event_time_models(), unpartitioned_models(), dbt_docs],
        sensors=[late_events_sensor],
        jobs=[rebuild_labels_job, rebuild_days_job, unpartitioned_models_job, dbt_docs_job],
        resources={"dbt": dbt_resource()},
    )
