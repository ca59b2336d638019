"""Retraining after drift: a challenger fitted on a recent window, judged against the champion
on the same held-out hours.

Both are judged the way they would have served: hour by hour, each hour scored by the
model as it stood before it (the champion: the hourly chain's model; the challenger: scored
on an hour, then learning it). The quality gate passes when the challenger is not worse on
AUC and log loss of P(click).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import polars as pl

from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.ranking import metrics
from dataflywheel.ranking.ranker import Ranker
from dataflywheel.settings import GateThresholds


@dataclass(frozen=True)
class RetrainWindow:
    """The recent window the challenger learns from, then the hours it is judged on."""

    train_start: datetime
    holdout_start: datetime
    holdout_end: datetime

    @classmethod
    def ending_with(cls, day: date, train_hours: int, holdout_hours: int) -> "RetrainWindow":
        end = datetime.combine(day + timedelta(days=1), time.min)
        holdout_start = end - timedelta(hours=holdout_hours)
        return cls(holdout_start - timedelta(hours=train_hours), holdout_start, end)


@dataclass
class Comparison:
    examples: int
    challenger: dict[str, float | None]
    champion: dict[str, float | None]

    def passed(self, gate: GateThresholds) -> bool:
        c, k = self.challenger, self.champion
        if None in (c["auc"], k["auc"]):
            return False  # nothing to judge on: the challenger goes no further
        return c["auc"] >= k["auc"] - gate.auc_tolerance and c["log_loss"] <= k["log_loss"] * (
            1 + gate.log_loss_tolerance
        )

    def metrics(self) -> dict[str, float]:
        """Flat numbers for the registry and the UI."""
        return {
            f"{who}_{m}": v
            for who in ("challenger", "champion")
            for m, v in getattr(self, who).items()
            if v is not None
        }


def fit_challenger(train: pl.DataFrame, learning_rate: float) -> Ranker:
    """A fresh ranker that knows only the recent window: what the world looks like now."""
    challenger = Ranker(learning_rate=learning_rate)
    challenger.learn_many(train)
    return challenger


def judge(challenger: Ranker, holdout: pl.DataFrame, champions: ModelStore) -> Comparison:
    """Score the holdout progressively with both; the challenger learns each hour after scoring it.

    Only hours the champion's chain has a model for are compared: an hour without one is not
    evaluable, and with none at all the comparison is empty and the gate does not pass.
    """
    clicked, challenger_p, champion_p = [], [], []
    for (hour,), part in holdout.group_by(pl.col("impression_ts").dt.truncate("1h"), maintain_order=True):
        scored = challenger.score_then_learn(part)["p_click"]
        champion = champions.load(hour - timedelta(hours=1))
        if champion is not None:
            clicked.append(part.get_column("clicked").to_numpy())
            challenger_p.append(scored)
            champion_p.append(champion.predict(part)["p_click"])
    labels = np.concatenate(clicked or [np.empty(0)])
    return Comparison(
        len(labels),
        _quality(labels, np.concatenate(challenger_p or [np.empty(0)])),
        _quality(labels, np.concatenate(champion_p or [np.empty(0)])),
    )


def _quality(clicked: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    return {"auc": metrics.auc(clicked, p), "log_loss": metrics.log_loss(clicked, p)}
