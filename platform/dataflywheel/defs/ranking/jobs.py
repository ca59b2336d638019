"""Ranking jobs: one hour of learning, and a day's evaluation."""

import dagster as dg

from dataflywheel.defs.features.assets import feature_rows, feature_tiles
from dataflywheel.defs.ranking.assets import model_evaluation, ranker_model, training_examples
from dataflywheel.defs.transform.assets import label_models

# An hour, or a range of hours in one run (every asset here takes ranges), end to end: features,
# labelled impressions, examples, the model update; in order inside each step (the model of h
# starts from h - 1's). Automation runs the same steps apart: the features once the hour is
# loaded, then the labels, the examples and the update once its labels are mature.
hourly_learning_job = dg.define_asset_job(
    "hourly_learning",
    selection=dg.AssetSelection.assets(feature_tiles, feature_rows, label_models(), training_examples, ranker_model),
)
evaluate_day_job = dg.define_asset_job("evaluate_model", selection=[model_evaluation])
