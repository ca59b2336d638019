"""A faster drift signal than the daily report: Page-Hinkley on the ranker's held-out loss.

Each hour the ranker scores its examples before learning them. The signal is the *excess*
log loss: the loss observed minus the loss the model expects from its own probabilities
(the entropy of each prediction). A calibrated model has none, whatever the click rate of
the hour, so the daily cycle of traffic does not look like drift, while a world that no
longer behaves as the model believes does. Averaged over blocks of examples in stream
order (one example is too noisy), it feeds River's PageHinkley in "up" mode. The monitor
travels with the model chain, so its state survives from hour to hour like the model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from river import drift


@dataclass
class LossStreamMonitor:
    block: int = 2000
    delta: float = 0.005  # tolerated rise before it counts (log loss units per block)
    threshold: float = 0.5  # cumulative excess that raises the alarm (bench/DRIFT.md: the trade-off)
    alarms: int = 0
    detector: drift.PageHinkley = field(init=False)
    _pending: np.ndarray = field(init=False)

    def __post_init__(self):
        self.detector = drift.PageHinkley(min_instances=20, delta=self.delta, threshold=self.threshold, mode="up")
        self._pending = np.empty(0)

    def update(self, clicked: np.ndarray, p_click: np.ndarray) -> int:
        """Feed one batch of held-out predictions; the number of alarms it raised."""
        p = np.clip(p_click, 1e-7, 1 - 1e-7)
        loss = -(clicked * np.log(p) + (1 - clicked) * np.log1p(-p))
        expected = -(p * np.log(p) + (1 - p) * np.log1p(-p))
        losses = np.concatenate([self._pending, loss - expected])
        full = len(losses) // self.block * self.block
        raised = 0
        for block_mean in losses[:full].reshape(-1, self.block).mean(axis=1):
            self.detector.update(float(block_mean))
            raised += self.detector.drift_detected
        self._pending = losses[full:]
        self.alarms += raised
        return raised
