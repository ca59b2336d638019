"""The model's numeric inputs, derived from the feature declarations plus a few of the ranker's own.

Every feature view column and request-time feature declared with a ``model_input`` becomes
an input here, transformed by its kind; adding a feature to a view adds it to the model.
The ranker's own inputs (smoothed rates, indicators, position, role) follow. Each input
also says what the drift report needs to know about it: whether it is 0/1, how long a
window stands behind it, and whether it follows traffic volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import polars as pl

from dataflywheel.contracts.vocabulary import ItemType, Role
from dataflywheel.features.definitions import REQUEST_FEATURES, VIEWS, Feature, Input

NEVER_HOURS = 24 * 365  # a missing "hours since" reads as a year ago
TRAFFIC_HOURS = 24  # counts over a day or less follow traffic volume (the weekly cycle), not taste


@dataclass(frozen=True)
class ModelInput:
    name: str
    expression: pl.Expr
    binary: bool = False  # 0 / 1: compared as a category
    window_hours: int = 0  # the longest window behind it: it is steady only after that much history
    traffic_volume: bool = False  # a count over a short window: reported, not judged for drift

    @property
    def window_days(self) -> int:
        return -(-self.window_hours // 24)


def _transform(name: str, kind: Input) -> pl.Expr:
    column = pl.col(name)
    if kind is Input.LOG_COUNT:
        return column.fill_null(0).cast(pl.Float64).clip(0).log1p().alias(name)
    if kind is Input.HOURS_SINCE:
        return column.fill_null(NEVER_HOURS).cast(pl.Float64).clip(0).log1p().alias(name)
    if kind is Input.SHARE:
        return column.cast(pl.Float64).fill_null(0.5).fill_nan(0.5).alias(name)
    if kind is Input.FLAG:
        return column.cast(pl.Float64).fill_null(0).alias(name)
    raise ValueError(f"{name}: {kind} is not a model input")


def declared_inputs(views=VIEWS) -> list[tuple[str, Input]]:
    """(column, kind) of every declared feature the model takes, views first, in declaration order."""
    declared = [(f.name, f.model_input) for view in views for f in view.features]
    declared += [(f.name, f.model_input) for f in REQUEST_FEATURES]
    return [(name, kind) for name, kind in declared if kind is not Input.NONE]


def declared_input_names(views=VIEWS) -> list[str]:
    """The declared features the model takes, by name: what a served item's log carries."""
    return [name for name, _ in declared_inputs(views)]


def _smoothed_rate(clicks: str, impressions: str, prior: float = 0.04, weight: float = 50.0) -> pl.Expr:
    """Clicks per impression, pulled towards ``prior`` when there are few impressions (a rate,
    which a linear model over log counts cannot form by itself)."""
    c, n = pl.col(clicks).fill_null(0).cast(pl.Float64), pl.col(impressions).fill_null(0).cast(pl.Float64)
    return (c + prior * weight) / (n + weight) / prior


@cache
def input_specs(views=VIEWS) -> tuple[ModelInput, ...]:
    """Every input of the model, in order (built once per set of views: the service asks per request)."""
    features: dict[str, Feature] = {f.name: f for view in views for f in view.features}

    def window(*names: str) -> int:
        return max((features[n].window.hours for n in names if n in features), default=0)

    specs = []
    for name, kind in declared_inputs(views):
        if name in features:
            feature = features[name]
            hours = feature.window.hours
            short_count = kind is Input.LOG_COUNT and feature.window.aggregate in ("sum", "distinct")
            specs.append(ModelInput(name, _transform(name, kind), False, hours, short_count and hours <= TRAFFIC_HOURS))
        else:
            request = next(f for f in REQUEST_FEATURES if f.name == name)
            specs.append(ModelInput(name, _transform(name, kind), kind is Input.FLAG, window(*request.depends_on)))
    return (
        *specs,
        ModelInput(
            "item_ctr_7d",
            _smoothed_rate("item_clicks_7d", "item_impressions_7d").alias("item_ctr_7d"),
            window_hours=window("item_clicks_7d", "item_impressions_7d"),
        ),
        ModelInput(
            "user_ctr_7d",
            _smoothed_rate("user_clicks_7d", "user_impressions_7d").alias("user_ctr_7d"),
            window_hours=window("user_clicks_7d", "user_impressions_7d"),
        ),
        ModelInput(
            "is_jira",
            (pl.col("item_type") == ItemType.JIRA_ISSUE).cast(pl.Float64).fill_null(0).alias("is_jira"),
            binary=True,
        ),
        ModelInput("log_position", (pl.col("position").cast(pl.Float64) + 1).log().alias("log_position")),
        ModelInput(
            "no_user_features",
            pl.col("user_features_ts").is_null().cast(pl.Float64).alias("no_user_features"),
            binary=True,
        ),
        ModelInput(
            "no_item_features",
            pl.col("item_features_ts").is_null().cast(pl.Float64).alias("no_item_features"),
            binary=True,
        ),
        *(
            ModelInput(
                f"role_{role.value}",
                (pl.col("role") == role.value).cast(pl.Float64).fill_null(0).alias(f"role_{role.value}"),
                binary=True,
            )
            for role in Role
        ),
    )


def model_inputs(examples: pl.DataFrame, views=VIEWS) -> pd.DataFrame:
    """Numeric model inputs from training examples (or serving request rows, which have the same columns).

    A missing feature row is 0 plus an indicator, so a new user or item is scored from what
    is known about it (team, role, container, position).
    """
    return examples.select([spec.expression for spec in input_specs(views)]).to_pandas()


def input_matrix(examples: pl.DataFrame, views=VIEWS) -> tuple[np.ndarray, list[str]]:
    """The same inputs as :func:`model_inputs`, as a float matrix and its column names (for
    scoring, which needs no data frame)."""
    specs = input_specs(views)
    return examples.select([spec.expression for spec in specs]).to_numpy(), [spec.name for spec in specs]
