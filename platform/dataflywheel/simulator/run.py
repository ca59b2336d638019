"""Run a batch simulation: day by day, draw activity, deliver it with faults, land it."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import numpy as np
import polars as pl

from ..events.landing import directory_url, hour_key, land_events, write_atomic
from .activity import simulate_day
from .config import SimulationConfig
from .directory import items_snapshot, users_snapshot
from .wire import FAULT_COLUMN, corrupt, delivery_times, landing_table, redeliveries, to_wire
from .world import World, build_world


@dataclass
class SimulationReport:
    events: int = 0  # true events that happened
    delivered: int = 0  # rows landed, duplicates and malformed included
    duplicates: int = 0
    malformed: Counter = field(default_factory=Counter)
    files: int = 0
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


def batch_name(config: SimulationConfig, day: int) -> str:
    """Deterministic per (seed, day): re-running a simulation never rewrites a landed file."""
    return f"sim-seed{config.seed}-{(config.start + timedelta(days=day)).isoformat()}"


def deliver_day(world: World, config: SimulationConfig, day: int) -> tuple[pl.DataFrame, int]:
    """One day's rows as the collector receives them, and how many of them are redeliveries.

    The ``_fault`` column names the malformed kind of a broken row (the simulator's truth).
    """
    rng = np.random.default_rng([config.seed, 2, day])
    events = simulate_day(world, config, day)
    client_ts, received_ts = delivery_times(events, config.faults, rng)
    wire = corrupt(to_wire(world, events, client_ts, received_ts, rng), config.faults.malformed, rng)
    copies = redeliveries(wire, config.faults.duplicate, rng)
    return pl.concat([wire, copies]), copies.height


def land_by_arrival_hour(landing_root: str, name: str, rows: pl.DataFrame) -> int:
    """Split rows by the hour they reached the collector; one immutable file per hour."""
    hour_of_row = pl.col("received_ts").dt.epoch("us") // 3_600_000_000
    rows = rows.with_columns(_hour=hour_of_row).sort("_hour")  # one gather, then zero-copy slices
    hours = rows.get_column("_hour").to_numpy()
    table = landing_table(rows.drop("_hour"))
    starts = np.flatnonzero(np.diff(hours, prepend=hours[0] - 1))
    ends = np.append(starts[1:], len(hours))

    def land(bounds: tuple[int, int]) -> bool:
        start, end = bounds
        hour = datetime.fromtimestamp(int(hours[start]) * 3600, timezone.utc)
        return land_events(landing_root, hour_key(hour), name, table.slice(start, end - start))

    with ThreadPoolExecutor(max_workers=2) as pool:  # Parquet encoding releases the GIL
        return sum(pool.map(land, zip(starts, ends)))


def land_directory(world: World, config: SimulationConfig, day: int, landing_root: str) -> None:
    """The product's daily directory export: who exists, in which team, and which items."""
    snapshot_date = (config.start + timedelta(days=day)).isoformat()
    write_atomic(users_snapshot(world, config, day), directory_url(landing_root, snapshot_date, "users"))
    write_atomic(items_snapshot(world, config, day), directory_url(landing_root, snapshot_date, "items"))


@dataclass
class DayResult:
    delivered: int
    duplicates: int
    malformed: Counter
    files: int


@lru_cache(maxsize=2)
def _world(config: SimulationConfig) -> World:
    return build_world(config)


def simulate_and_land_day(config: SimulationConfig, day: int, landing_root: str) -> DayResult:
    """Everything for one day; every day draws from its own seeded streams."""
    world = _world(config)
    rows, duplicates = deliver_day(world, config, day)
    files = land_by_arrival_hour(landing_root, batch_name(config, day), rows)
    land_directory(world, config, day, landing_root)
    malformed = Counter(rows.get_column(FAULT_COLUMN).drop_nulls().to_list())
    return DayResult(rows.height, duplicates, malformed, files)


def simulate(config: SimulationConfig, landing_root: str, on_day=None) -> SimulationReport:
    """Simulate ``config.days`` days into the landing zone; ``on_day(day)`` reports progress.

    Days run one after another: each day's work is already spread over the cores (polars,
    Arrow and Parquet encoding are multi-threaded), so running days in parallel gains nothing.
    """
    report = SimulationReport()
    started = time.perf_counter()
    for day in range(config.days):
        result = simulate_and_land_day(config, day, landing_root)
        report.delivered += result.delivered
        report.duplicates += result.duplicates
        report.events += result.delivered - result.duplicates
        report.malformed.update(result.malformed)
        report.files += result.files
        if on_day:
            on_day(day)
    report.seconds = time.perf_counter() - started
    return report
