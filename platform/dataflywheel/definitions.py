"""The root of the Dagster code location: gathers each domain's definitions."""

import dagster as dg

from . import settings
from .defs import ingestion, transform
from .defs.resources import warehouse

settings.configure_environment()

defs = dg.Definitions.merge(
    ingestion.defs(),
    transform.defs(),
    dg.Definitions(resources={"warehouse": warehouse()}),
)
