"""Offline evaluation of a day: the ranker against most-popular and random, overall and by segment.

Every impression is scored by the model that served its hour: the chain's model of
``serving_lag_hours`` before it, which had not learned it (held out by time, with the label
and pipeline delay the platform really has: see ``Settings.serving_lag_hours``). Within each
request the shown items are re-ranked by each policy and NDCG@10 says how high the clicked
ones come. Calibration is per segment (new vs established users, tenant size, Jira vs
Confluence) and exposure says which item groups the ranker would put in front of users.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
import polars as pl

from dataflywheel.ranking import metrics
from dataflywheel.ranking.ranker import Ranker

SEGMENTS = ("user_segment", "tenant_size", "product")
LARGE_CONTAINER_ITEMS = 50


class ModelsByHour(Protocol):
    """The hourly chain: ``load(hour)`` is the model after ``hour`` (see ``lifecycle.model_store``)."""

    def load(self, hour: datetime) -> Ranker | None: ...


@dataclass(frozen=True)
class Served:
    """The model that served each hour: the chain's model of ``lag_hours`` before it."""

    chain: ModelsByHour
    lag_hours: int

    def load(self, hour: datetime) -> Ranker | None:
        return self.chain.load(hour - timedelta(hours=self.lag_hours))


def held_out_scores(examples: pl.DataFrame, served: Served) -> pl.DataFrame:
    """Examples with ``p_click`` (at the logged position) and the ranking ``score`` (position-free),
    each from the model that served its hour. Hours without such a model are left out, never
    scored by a stand-in: what is not evaluable is not reported as evaluated."""
    parts = []
    for (hour,), part in examples.group_by(pl.col("impression_ts").dt.truncate("1h"), maintain_order=True):
        model = served.load(hour)
        if model is None:
            continue
        as_shown = model.predict(part)  # for calibration: the outcome at the logged position
        to_rank = model.predict(part, position=0)  # for ranking: the slot is what is being decided
        parts.append(part.with_columns(p_click=as_shown["p_click"], score=to_rank["score"]))
    return pl.concat(parts) if parts else examples.clear().with_columns(p_click=pl.lit(0.0), score=pl.lit(0.0))


def baseline_scores(examples: pl.DataFrame, seed: int = 0) -> dict[str, np.ndarray]:
    """Most popular in the tenant (views in the last 7 days; items never belong to two tenants) and random."""
    return {
        "most_popular": examples.get_column("item_views_7d").fill_null(0).cast(pl.Float64).to_numpy(),
        "random": np.random.default_rng(seed).random(examples.height),
    }


@dataclass
class DayEvaluation:
    examples: int
    ndcg_at_10: dict[str, float | None]
    auc_click: float | None
    log_loss_click: float | None
    calibration: dict[str, dict[str, float | None]]  # segment column -> value -> predicted / observed
    cold_start: dict[str, dict[str, float | None]]  # "user=new", "item=new", ... -> AUC and NDCG@10
    exposure: dict[str, dict[str, float]]  # item group -> value -> share of top-10 exposure

    @property
    def margin_over_most_popular(self) -> float | None:
        ranker, popular = self.ndcg_at_10.get("ranker"), self.ndcg_at_10.get("most_popular")
        return None if ranker is None or popular is None else ranker - popular


def _exposure(frame: pl.DataFrame, score: str, group: str) -> dict[str, float]:
    """Share of position-discounted top-10 exposure per value of ``group`` when ranked by ``score``."""
    ranked = frame.with_columns(
        rank=pl.col(score).rank("ordinal", descending=True).over("rec_request_id"),
    ).filter(pl.col("rank") <= 10)
    weights = ranked.group_by(group).agg((1 / (pl.col("rank") + 1).log(2)).sum().alias("w"))
    total = weights.get_column("w").sum()
    return {str(k): float(w / total) for k, w in weights.sort(group).iter_rows()} if total else {}


def evaluate_day(scored: pl.DataFrame, seed: int = 0) -> DayEvaluation:
    """Metrics of a day of held-out scored examples (see :func:`held_out_scores`)."""
    # A fixed shuffle first, so ties in any policy's scores are broken at random, not by the logged order.
    scored = scored.sample(fraction=1.0, shuffle=True, seed=seed) if scored.height else scored
    clicked = scored.get_column("clicked").to_numpy()
    requests = scored.get_column("rec_request_id").to_numpy()
    policies = {"ranker": scored.get_column("score").to_numpy(), **baseline_scores(scored, seed)}
    calibration = {
        column: {
            str(value): metrics.calibration(
                part.get_column("clicked").to_numpy(), part.get_column("p_click").to_numpy()
            )
            for (value,), part in scored.group_by(column, maintain_order=True)
        }
        for column in SEGMENTS + ("item_segment",)
    }
    cold_start = {}
    for column, entity in (("user_segment", "user"), ("item_segment", "item")):
        for (value,), part in scored.group_by(column, maintain_order=True):
            labels = part.get_column("clicked").to_numpy()
            cold_start[f"{entity}={value}"] = {
                "auc_click": metrics.auc(labels, part.get_column("p_click").to_numpy()),
                "ndcg_at_10": metrics.ndcg_at_k(
                    part.get_column("rec_request_id").to_numpy(), labels, part.get_column("score").to_numpy()
                ),
            }
    grouped = scored.with_columns(
        container_size=pl.when(pl.col("container_items") >= LARGE_CONTAINER_ITEMS)
        .then(pl.lit("large"))
        .otherwise(pl.lit("small")),
    )
    return DayEvaluation(
        examples=scored.height,
        ndcg_at_10={name: metrics.ndcg_at_k(requests, clicked, s, k=10) for name, s in policies.items()},
        auc_click=metrics.auc(clicked, scored.get_column("p_click").to_numpy()),
        log_loss_click=metrics.log_loss(clicked, scored.get_column("p_click").to_numpy()),
        calibration=calibration,
        cold_start=cold_start,
        exposure={group: _exposure(grouped, "score", group) for group in ("item_segment", "container_size")},
    )
