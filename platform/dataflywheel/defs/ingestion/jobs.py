"""Ingestion jobs: what the landing and directory sensors launch."""

import dagster as dg

from dataflywheel.defs.ingestion.assets import raw_directory, raw_events

ingest_job = dg.define_asset_job("ingest_raw_events", selection=[raw_events])
directory_job = dg.define_asset_job("ingest_directory", selection=[raw_directory])
