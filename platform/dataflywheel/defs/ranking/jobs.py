"""Ranking jobs: one arrival hour of learning, and a day's evaluation."""

import dagster as dg

from dataflywheel.defs.features.assets import feature_rows, feature_tiles
from dataflywheel.defs.ranking.assets import model_evaluation, ranker_model, training_examples

# One arrival hour, end to end: its features, then its examples and the model update.
# Hours must run in order (the model of h starts from h - 1's).
hourly_learning_job = dg.define_asset_job(
    "hourly_learning", selection=[feature_tiles, feature_rows, training_examples, ranker_model]
)
evaluate_day_job = dg.define_asset_job("evaluate_model", selection=[model_evaluation])
