"""Volume anomalies: an arrival hour compared with the same hour a week earlier."""

from __future__ import annotations

from datetime import datetime, timedelta

from dataflywheel.ingest.tables import RAW_SCHEMA
from dataflywheel.warehouse.engine import Engine


def loaded_a_week_earlier(engine: Engine, hour: datetime) -> int:
    return engine.scalar(
        f"SELECT count(*) FROM {RAW_SCHEMA}.raw_events WHERE arrival_hour = ?", [hour - timedelta(days=7)]
    )


def within_tolerance(loaded: int, baseline: int, tolerance: float) -> bool:
    """True if ``loaded`` is between (1 - tolerance) and 1 / (1 - tolerance) times the baseline.

    The band is symmetric in ratio: with 0.5, half to twice last week's volume is normal
    (``Settings.volume_tolerance``).
    """
    return (1 - tolerance) * baseline <= loaded <= baseline / (1 - tolerance)
