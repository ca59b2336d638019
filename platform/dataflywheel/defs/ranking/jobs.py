"""Ranking jobs: one hour of learning, and a day's evaluation."""

import dagster as dg

from dataflywheel.defs.features.assets import feature_rows, feature_tiles
from dataflywheel.defs.ranking.assets import loss_stream_stable, model_evaluation, ranker_model, training_examples
from dataflywheel.defs.transform.assets import label_models

# One hour, end to end: its features, its labelled impressions, then its examples and the model
# update. Hours must run in order (the model of h starts from h - 1's); automation does the same
# in two runs per hour (features once the hour is loaded, the rest once its labels are mature).
hourly_learning_job = dg.define_asset_job(
    "hourly_learning",
    selection=dg.AssetSelection.assets(feature_tiles, feature_rows, label_models(), training_examples, ranker_model)
    | dg.AssetSelection.checks(loss_stream_stable),
)
evaluate_day_job = dg.define_asset_job("evaluate_model", selection=[model_evaluation])
