"""Hand-made landed events for tests that need one precise row rather than a simulated day."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from dataflywheel.contracts.vocabulary import ItemType, Role
from dataflywheel.features.definitions import Input
from dataflywheel.ingest.landing import land_events
from dataflywheel.ranking.inputs import declared_inputs
from dataflywheel.simulator.wire import landing_table

SEARCH_EVENT = {
    "event_id": "e1",
    "event_type": "search_performed",
    "event_ts": "2026-11-16T10:00:00.000Z",
    "tenant_id": "t1",
    "user_id": "u1",
    "item_id": None,
    "item_type": None,
    "surface": "search",
    "rec_request_id": None,
    "position": None,
    "propensity": None,
    "model_version": None,
    "dwell_ms": None,
    "properties": "{}",
    "schema_version": "1",
}


def wire_frame(rows: list[dict]) -> pl.DataFrame:
    """Wire-format rows (text fields, received_ts as a UTC datetime), as the simulator makes them."""
    frame = pl.DataFrame([{**SEARCH_EVENT, **row, "_fault": None} for row in rows])
    return frame.with_columns(pl.col("received_ts").cast(pl.Datetime("us", "UTC")))


def land_rows(root: str | Path, received: datetime, batch: str, rows: list[dict]) -> None:
    """Land rows that all arrived at ``received`` (UTC) as one file of that arrival hour."""
    received = received.replace(tzinfo=timezone.utc)
    frame = wire_frame([{**row, "received_ts": received} for row in rows])
    land_events(str(root), f"{received:%Y-%m-%dT%H}", batch, landing_table(frame))


def random_examples(n: int, seed: int) -> pl.DataFrame:
    """Random training examples with every column the model reads (labels unrelated to features)."""
    rng = np.random.default_rng(seed)

    draw = {
        Input.LOG_COUNT: lambda: rng.poisson(3, n),
        Input.HOURS_SINCE: lambda: rng.exponential(50, n),
        Input.SHARE: lambda: rng.random(n),
        Input.FLAG: lambda: rng.random(n) < 0.3,
    }
    columns = {name: draw[kind]() for name, kind in declared_inputs()}
    return pl.DataFrame(
        {
            **columns,
            "impression_id": [f"e{i}" for i in range(n)],
            "impression_ts": np.arange(n).astype("datetime64[ms]"),
            "item_type": rng.choice([item_type.value for item_type in ItemType], n),
            "position": rng.integers(0, 10, n),
            "user_features_ts": np.arange(n).astype("datetime64[ms]"),
            "item_features_ts": np.arange(n).astype("datetime64[ms]"),
            "role": rng.choice([role.value for role in Role], n),
            "clicked": rng.random(n) < 0.2,
            "engaged": rng.random(n) < 0.1,
        }
    )
