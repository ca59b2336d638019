"""Ingestion domain: landing zone -> raw tables, with its checks and sensors."""

import dagster as dg

from dataflywheel.defs.ingestion.assets import landing_events, raw_directory, raw_events
from dataflywheel.defs.ingestion.jobs import directory_job, ingest_job
from dataflywheel.defs.ingestion.sensors import directory_sensor, landing_sensor


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[landing_events, raw_events, raw_directory],
        sensors=[landing_sensor, directory_sensor],
        jobs=[ingest_job, directory_job],
    )
