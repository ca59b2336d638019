"""Lifecycle jobs: a retrain (challenger and its blocking quality gate), then the canary's start."""

import dagster as dg

from dataflywheel.defs.lifecycle.assets import ranker_challenger
from dataflywheel.defs.lifecycle.canary import challenger_off_policy, ranker_canary

# Started by the retrain sensor: a challenger that passes both gates goes to the canary.
retrain_job = dg.define_asset_job("retrain_ranker", selection=[ranker_challenger, challenger_off_policy, ranker_canary])
# A challenger registered otherwise (by hand, or a new model): the off-policy gate, then the canary.
canary_job = dg.define_asset_job("start_canary", selection=[challenger_off_policy, ranker_canary])
