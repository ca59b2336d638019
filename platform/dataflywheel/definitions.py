"""The root of the Dagster code location: gathers each domain's definitions."""

import dagster as dg

from . import settings
from .defs import features, ingestion, monitoring, training, transform
from .defs.resources import model_registry, warehouse

settings.configure_environment()

defs = dg.Definitions.merge(
    ingestion.defs(),
    transform.defs(),
    features.defs(),
    training.defs(),
    monitoring.defs(),
    dg.Definitions(resources={"warehouse": warehouse(), "model_registry": model_registry()}),
)
