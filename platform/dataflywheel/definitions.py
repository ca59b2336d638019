"""The root of the Dagster code location: gathers each domain's definitions and applies the
global rules once. Writes nothing."""

import dagster as dg

from dataflywheel.defs import features, ingestion, lifecycle, monitoring, ranking, transform
from dataflywheel.defs.automation import automation_sensor
from dataflywheel.defs.resources import model_registry, warehouse

defs = dg.Definitions.merge(
    ingestion.defs(),
    transform.defs(),
    features.defs(),
    ranking.defs(),
    lifecycle.defs(),
    monitoring.defs(),
    dg.Definitions(
        sensors=[automation_sensor],
        resources={"warehouse": warehouse(), "model_registry": model_registry()},
        # Every run's steps in the run's own process: a process per step costs more than the work at
        # this volume, and warehouse steps run one at a time anyway (pool `duckdb`, limit 1).
        executor=dg.in_process_executor,
    ),
)
