"""Lifecycle domain: the challenger and its gates, the canary that decides, the sensors that retrain and act."""

import dagster as dg

from dataflywheel.defs.lifecycle.assets import ranker_challenger
from dataflywheel.defs.lifecycle.canary import (
    canary_sensor,
    canary_verdict,
    challenger_off_policy,
    conclude_canary_job,
    ranker_canary,
)
from dataflywheel.defs.lifecycle.champion import promote_champion_job, rollback_champion_job
from dataflywheel.defs.lifecycle.jobs import canary_job, retrain_job
from dataflywheel.defs.lifecycle.sensors import retrain_sensor


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[ranker_challenger, challenger_off_policy, ranker_canary, canary_verdict],
        jobs=[retrain_job, canary_job, promote_champion_job, rollback_champion_job, conclude_canary_job],
        sensors=[retrain_sensor, canary_sensor],
    )
