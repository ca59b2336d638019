"""Lifecycle domain: the challenger, its gate, its promotion, and the sensor that retrains on drift."""

import dagster as dg

from dataflywheel.defs.lifecycle.assets import ranker_challenger, ranker_promotion
from dataflywheel.defs.lifecycle.champion import promote_champion_job, rollback_champion_job
from dataflywheel.defs.lifecycle.jobs import retrain_job
from dataflywheel.defs.lifecycle.sensors import retrain_sensor


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[ranker_challenger, ranker_promotion],
        jobs=[retrain_job, promote_champion_job, rollback_champion_job],
        sensors=[retrain_sensor],
    )
