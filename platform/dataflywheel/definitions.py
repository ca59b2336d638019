"""The root of the Dagster code location: gathers each domain's definitions. Writes nothing."""

import dagster as dg

from dataflywheel.defs import features, ingestion, lifecycle, monitoring, ranking, transform
from dataflywheel.defs.resources import model_registry, warehouse

defs = dg.Definitions.merge(
    ingestion.defs(),
    transform.defs(),
    features.defs(),
    ranking.defs(),
    lifecycle.defs(),
    monitoring.defs(),
    dg.Definitions(resources={"warehouse": warehouse(), "model_registry": model_registry()}),
)
