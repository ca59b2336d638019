"""Ranking domain: point-in-time training examples, the hourly online ranker and its evaluation."""

import dagster as dg

from dataflywheel.defs.ranking.assets import loss_stream_stable, model_evaluation, ranker_model, training_examples
from dataflywheel.defs.ranking.jobs import evaluate_day_job, hourly_learning_job


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[training_examples, ranker_model, model_evaluation],
        asset_checks=[loss_stream_stable],
        jobs=[hourly_learning_job, evaluate_day_job],
    )
