"""Run a batch simulation: day by day, draw activity, deliver it with faults, land it."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import numpy as np
import polars as pl
import pyarrow as pa

from dataflywheel.ingest.landing import directory_url, hour_key, land_events, write_atomic
from dataflywheel.simulator.activity import simulate_day
from dataflywheel.simulator.config import SimulationConfig
from dataflywheel.simulator.directory import items_snapshot, users_snapshot
from dataflywheel.simulator.wire import FAULT_COLUMN, corrupt, delivery_times, landing_table, redeliveries, to_wire
from dataflywheel.simulator.world import World, build_world

HOUR_US = 3_600_000_000


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

    def add(self, day: DayResult, on_day=None) -> None:
        self.delivered += day.delivered
        self.duplicates += day.duplicates
        self.events += day.delivered - day.duplicates
        self.malformed.update(day.malformed)
        self.files += day.files
        if on_day:
            on_day(day.day)


def batch_name(config: SimulationConfig, day: int) -> str:
    """Deterministic per configuration and day.

    Re-running the same simulation finds its files already landed and leaves them alone
    (landing is append-only); a different configuration lands a batch of its own.
    """
    fingerprint = hashlib.sha1(repr(config).encode()).hexdigest()[:8]  # the whole world depends on it
    return f"sim-seed{config.seed}-{(config.start + timedelta(days=day)).isoformat()}-{fingerprint}"


def deliver_day(world: World, config: SimulationConfig, day: int) -> tuple[pl.DataFrame, int]:
    """One day's rows as the collector receives them, and how many of them are redeliveries.

    The ``_fault`` column names the malformed kind of a broken row (the simulator's truth).
    """
    rng = np.random.default_rng([config.seed, 2, day])
    events = simulate_day(world, config, day)
    client_ts, received_ts = delivery_times(events, config.faults, rng)
    # Order by arrival hour while the columns are still numbers: cheap here, and the text rows
    # then need no reordering to be landed hour by hour.
    hours = received_ts // HOUR_US
    order = np.argsort((hours - hours.min()).astype(np.int16), kind="stable")  # int16: a radix sort
    events, client_ts, received_ts = events.take(order), client_ts[order], received_ts[order]
    wire = corrupt(to_wire(world, events, client_ts, received_ts, rng), config.faults.malformed, rng)
    copies = redeliveries(wire, config.faults.duplicate, rng)
    return pl.concat([wire, copies]), copies.height


def land_by_arrival_hour(landing_root: str, name: str, rows: pl.DataFrame) -> int:
    """Split rows by the hour they reached the collector; one immutable file per hour.

    Rows usually come mostly in hour order (a sorted body, then a few redelivered or broken
    rows): only the unsorted tail is reordered, and each hour's file is built from zero-copy
    slices of the body and the tail.
    """
    hours = (rows.get_column("received_ts").dt.epoch("us") // HOUR_US).to_numpy()
    descents = np.flatnonzero(np.diff(hours) < 0)
    body_end = int(descents[0]) + 1 if len(descents) else len(hours)
    tail = rows.slice(body_end).sort("received_ts")
    body_hours, tail_hours = hours[:body_end], np.sort(hours[body_end:], kind="stable")
    body, tail_table = landing_table(rows.slice(0, body_end)), landing_table(tail)

    def land(hour: int) -> bool:
        parts = [
            table.slice(lo, hi - lo)
            for table, sorted_hours in ((body, body_hours), (tail_table, tail_hours))
            for lo, hi in [np.searchsorted(sorted_hours, [hour, hour + 1])]
            if hi > lo
        ]
        when = datetime.fromtimestamp(int(hour) * 3600, timezone.utc)
        return land_events(landing_root, hour_key(when), name, pa.concat_tables(parts))

    with ThreadPoolExecutor(max_workers=2) as pool:  # Parquet encoding releases the GIL
        return sum(pool.map(land, np.unique(hours)))


def land_directory(world: World, config: SimulationConfig, day: int, landing_root: str) -> None:
    """The product's daily directory export: who exists, in which team, and which items."""
    snapshot_date = (config.start + timedelta(days=day)).isoformat()
    write_atomic(users_snapshot(world, config, day), directory_url(landing_root, snapshot_date, "users"))
    write_atomic(items_snapshot(world, config, day), directory_url(landing_root, snapshot_date, "items"))


@dataclass
class DayResult:
    day: int
    delivered: int
    duplicates: int
    malformed: Counter
    files: int


@lru_cache(maxsize=2)
def _world(config: SimulationConfig) -> World:
    return build_world(config)


def land_day(config: SimulationConfig, day: int, landing_root: str, rows: pl.DataFrame, duplicates: int) -> DayResult:
    """One day's rows into the landing zone by arrival hour, and the day's directory export."""
    files = land_by_arrival_hour(landing_root, batch_name(config, day), rows)
    land_directory(_world(config), config, day, landing_root)
    malformed = Counter(rows.get_column(FAULT_COLUMN).drop_nulls().to_list())
    return DayResult(day, rows.height, duplicates, malformed, files)


def simulate(config: SimulationConfig, landing_root: str, on_day=None) -> SimulationReport:
    """Simulate ``config.days`` days into the landing zone; ``on_day(day)`` reports progress.

    Day d is landed (Parquet encoding, in C, outside the GIL) while day d + 1 is drawn, so
    at most two days are in memory. Days are not run in parallel processes: each day's work
    already uses both cores (polars, Arrow and Parquet are multi-threaded).
    """
    report = SimulationReport()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as lander:
        landing = None
        for day in range(config.days):
            rows, duplicates = deliver_day(_world(config), config, day)
            if landing:
                report.add(landing.result(), on_day)
            landing = lander.submit(land_day, config, day, landing_root, rows, duplicates)
        if landing:
            report.add(landing.result(), on_day)
    report.seconds = time.perf_counter() - started
    return report
