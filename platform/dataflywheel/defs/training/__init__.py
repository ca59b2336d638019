"""Training domain: point-in-time training examples and the hourly online ranker."""

import dagster as dg

from .assets import model_evaluation, ranker_model, training_examples
from .retrain import ranker_challenger, ranker_promotion

# One arrival hour, end to end: its features, then its examples and the model update.
# Hours must run in order (the model of h starts from h - 1's).
hourly_learning_job = dg.define_asset_job(
    "hourly_learning",
    selection=dg.AssetSelection.groups("features") - dg.AssetSelection.assets("online_features")
    | dg.AssetSelection.assets(training_examples, ranker_model),
)
evaluate_day_job = dg.define_asset_job("evaluate_model", selection=["model_evaluation"])
# Started by the retrain sensor: the challenger, its blocking quality gate, then its promotion.
retrain_job = dg.define_asset_job("retrain_ranker", selection=[ranker_challenger, ranker_promotion])


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[training_examples, ranker_model, model_evaluation, ranker_challenger, ranker_promotion],
        jobs=[hourly_learning_job, evaluate_day_job, retrain_job],
    )
