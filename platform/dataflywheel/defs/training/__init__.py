"""Training domain: point-in-time training examples and the hourly online ranker."""

import dagster as dg

from .assets import model_evaluation, ranker_model, training_examples

# One arrival hour, end to end: its features, then its examples and the model update.
# Hours must run in order (the model of h starts from h - 1's).
hourly_learning_job = dg.define_asset_job(
    "hourly_learning",
    selection=dg.AssetSelection.groups("features").downstream(include_self=True)
    - dg.AssetSelection.assets("online_features", "model_evaluation"),
)
evaluate_day_job = dg.define_asset_job("evaluate_model", selection=["model_evaluation"])


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[training_examples, ranker_model, model_evaluation], jobs=[hourly_learning_job, evaluate_day_job]
    )
