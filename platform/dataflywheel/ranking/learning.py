"""The hourly learning step, once: score the hour with the model as it stands, then learn it.

The ``ranker_model`` asset, the benchmark and every experiment call this, so what they
measure is what the platform does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import polars as pl

from dataflywheel.ranking.ranker import Ranker, progressive_metrics


class LossObserver(Protocol):
    """Anything that watches the held-out predictions of the stream (the loss-stream monitor)."""

    def update(self, clicked: np.ndarray, p_click: np.ndarray) -> int: ...


@dataclass
class HourUpdate:
    predicted: dict[str, np.ndarray]  # held out: what the model before the hour would have served
    metrics: dict[str, float | None]  # progressive validation of those predictions
    alarms: int  # raised by the observer this hour


def learn_hour(ranker: Ranker, examples: pl.DataFrame, observer: LossObserver | None = None) -> HourUpdate:
    """Score ``examples`` (one hour, stream order) before learning them, feed the observer, learn them."""
    predicted = ranker.score_then_learn(examples)
    alarms = observer.update(examples.get_column("clicked").to_numpy(), predicted["p_click"]) if observer else 0
    return HourUpdate(predicted, progressive_metrics(examples, predicted), alarms)
