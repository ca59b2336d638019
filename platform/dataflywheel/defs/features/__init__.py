"""Features domain: hourly tiles and feature rows, and the online snapshot for serving."""

import dagster as dg

from dataflywheel.defs.features.assets import feature_rows, feature_tiles, online_features
from dataflywheel.defs.features.jobs import publish_online_job


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[feature_tiles, feature_rows, online_features], jobs=[publish_online_job])
