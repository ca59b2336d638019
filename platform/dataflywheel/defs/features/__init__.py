"""Features domain: hourly tiles and feature rows, and the online snapshot for serving."""

import dagster as dg

from .assets import feature_rows, feature_tiles, online_features

publish_online_job = dg.define_asset_job("publish_online_features", selection=[online_features])


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[feature_tiles, feature_rows, online_features], jobs=[publish_online_job])
