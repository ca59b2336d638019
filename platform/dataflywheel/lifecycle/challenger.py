"""Retraining after drift: a challenger fitted on a recent window, judged against the champion
on the same held-out hours.

Both are judged the way they would have served: hour by hour, each hour h scored by what
would have been serving it, a model that learned through hour h - serving lag (the champion:
the chain's model of that hour; the challenger: learning each hour once its labels would have
been mature). The quality gate passes when the challenger is not worse on AUC and log loss
of P(click).
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

    def learned_until(self, serving_lag_hours: int) -> datetime:
        """Where fitting stops: the hours after it are learned during judging, each once it would
        have been learnable (the first holdout hour is served by a model that learned through
        holdout_start - serving lag)."""
        return self.holdout_start - timedelta(hours=serving_lag_hours - 1)

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


def judge(
    challenger: Ranker, stream: pl.DataFrame, holdout_start: datetime, champions: ModelStore, serving_lag_hours: int
) -> Comparison:
    """Play ``stream`` (the examples from the challenger's ``learned_until`` on) hour by hour: each
    holdout hour h is scored by both as they would have served it, the challenger having learned
    the stream's hours through h - serving lag; at the end it has learned them all.

    Only hours the champion's chain has a model for are compared: an hour without one is not
    evaluable, and with none at all the comparison is empty and the gate does not pass.
    """
    lag = timedelta(hours=serving_lag_hours)
    clicked, challenger_p, champion_p = [], [], []
    unlearned: list[tuple[datetime, pl.DataFrame]] = []
    for (hour,), part in stream.group_by(pl.col("impression_ts").dt.truncate("1h"), maintain_order=True):
        while unlearned and unlearned[0][0] <= hour - lag:
            challenger.learn_many(unlearned.pop(0)[1])
        champion = champions.load(hour - lag)
        if hour >= holdout_start and champion is not None:
            clicked.append(part.get_column("clicked").to_numpy())
            challenger_p.append(challenger.predict(part)["p_click"])
            champion_p.append(champion.predict(part)["p_click"])
        unlearned.append((hour, part))
    for _, part in unlearned:
        challenger.learn_many(part)
    labels = np.concatenate(clicked or [np.empty(0)])
    return Comparison(
        len(labels),
        _quality(labels, np.concatenate(challenger_p or [np.empty(0)])),
        _quality(labels, np.concatenate(champion_p or [np.empty(0)])),
    )


def _quality(clicked: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    return {"auc": metrics.auc(clicked, p), "log_loss": metrics.log_loss(clicked, p)}
