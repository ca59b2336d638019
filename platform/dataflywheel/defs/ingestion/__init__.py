"""Ingestion domain: landing zone -> raw tables, with its checks and sensors."""

import dagster as dg

from .assets import landing_events, raw_directory, raw_events
from .sensors import directory_job, directory_sensor, ingest_job, landing_sensor


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[landing_events, raw_events, raw_directory],
        sensors=[landing_sensor, directory_sensor],
        jobs=[ingest_job, directory_job],
    )
