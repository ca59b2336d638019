"""Lifecycle jobs: a retrain (challenger, its blocking quality gate, then its promotion)."""

import dagster as dg

from dataflywheel.defs.lifecycle.assets import ranker_challenger, ranker_promotion

# Started by the retrain sensor.
retrain_job = dg.define_asset_job("retrain_ranker", selection=[ranker_challenger, ranker_promotion])
