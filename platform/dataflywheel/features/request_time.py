"""The request-time features, in one function: training examples and the ranking service both call it.

A request is a user, an item and a time (an impression's, or a serving request's), with the
entity rows known then: the directory attributes and the feature rows. From those this
computes the features that depend on the request's own time, so a model sees exactly the
same values offline and online.
"""

from __future__ import annotations

import polars as pl

from dataflywheel.features.definitions import Segments

HOURS_PER_MICROSECOND = 1 / 3.6e9


def _hours_between(start: str, ts: str) -> pl.Expr:
    # A multiplication, not a division: polars evaluates ``x / c`` as ``x * (1 / c)`` on some
    # paths and not on others (one unit in the last place apart), and training and serving
    # must agree to the bit.
    return (pl.col(ts) - pl.col(start)).dt.total_microseconds() * HOURS_PER_MICROSECOND


def derive(requests: pl.DataFrame, ts: str, segments: Segments = Segments()) -> pl.DataFrame:
    """``requests`` (with ``joined_at``, ``item_created_at``, ``pair_last_interaction_ts``,
    ``container_last_interaction_ts``, ``team_id``, ``author_team_id``, ``tenant_users`` and
    ``item_type``) with the request-time features and segments as of column ``ts``."""
    tenure_days = _hours_between("joined_at", ts) * (1 / 24)
    item_age_hours = _hours_between("item_created_at", ts)
    tenant_size = pl.lit("large")
    for limit, name in reversed(segments.tenant_size_buckets):
        tenant_size = pl.when(pl.col("tenant_users") < limit).then(pl.lit(name)).otherwise(tenant_size)
    return requests.with_columns(
        user_tenure_days=tenure_days,
        item_age_hours=item_age_hours,
        hours_since_pair_interaction=_hours_between("pair_last_interaction_ts", ts),
        hours_since_container_interaction=_hours_between("container_last_interaction_ts", ts),
        same_team=(pl.col("team_id") == pl.col("author_team_id")).fill_null(False),
        user_segment=pl.when(tenure_days < segments.new_user_days).then(pl.lit("new")).otherwise(pl.lit("established")),
        item_segment=pl.when(item_age_hours < segments.new_item_days * 24)
        .then(pl.lit("new"))
        .otherwise(pl.lit("established")),
        tenant_size=tenant_size,
        product=pl.col("item_type"),
    )
