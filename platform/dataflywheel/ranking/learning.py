"""The hourly learning step, once: score the hour with the model that served it, then learn it.

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
    predicted: dict[str, np.ndarray] | None  # held out: what the served model scored; None without one
    metrics: dict[str, float | None]  # progressive validation of those predictions (None: not evaluable)
    alarms: int  # raised by the observer this hour


def learn_hour(
    ranker: Ranker, examples: pl.DataFrame, served: Ranker | None, observer: LossObserver | None = None
) -> HourUpdate:
    """Score ``examples`` (one hour, stream order) with ``served``, the model users were shown that
    hour, feed the observer, then learn them into ``ranker``.

    ``served`` is the ranker itself for plain progressive validation, an older model of the chain
    under a serving lag (``Settings.serving_lag_hours``), or None when no model had served yet:
    then nothing is scored, and the metrics say so (None), rather than scoring with a stand-in.
    """
    if served is None:
        ranker.learn_many(examples)
        return HourUpdate(None, progressive_metrics(examples, None), 0)
    predicted = ranker.score_then_learn(examples, served)
    alarms = observer.update(examples.get_column("clicked").to_numpy(), predicted["p_click"]) if observer else 0
    return HourUpdate(predicted, progressive_metrics(examples, predicted), alarms)
