"""Feature store jobs: publishing the online snapshot."""

import dagster as dg

from dataflywheel.defs.features.assets import online_features

publish_online_job = dg.define_asset_job("publish_online_features", selection=[online_features])
