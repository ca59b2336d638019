"""Run a batch simulation: day by day, draw activity, deliver it with faults, land it."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import polars as pl
import pyarrow as pa

from ..events.landing import directory_url, hour_key, land_events, write_atomic
from .activity import simulate_day
from .config import SimulationConfig
from .directory import items_snapshot, users_snapshot
from .wire import corrupt, delivery_times, redeliveries, to_wire
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


def deliver_day(world: World, config: SimulationConfig, day: int) -> tuple[pa.Table, int, list]:
    """One day's wire rows as delivered: (rows, duplicates among them, malformed kinds)."""
    rng = np.random.default_rng([config.seed, 2, day])
    events = simulate_day(world, config, day)
    client_ts, received_ts = delivery_times(events, config.faults, rng)
    wire = to_wire(world, events, client_ts, received_ts, rng)
    clean, broken, kinds = corrupt(wire, config.faults.malformed, rng)
    delivered = pa.concat_tables([clean, broken])
    copies = redeliveries(delivered, config.faults.duplicate, rng)
    return pa.concat_tables([delivered, copies]), copies.num_rows, kinds


def land_by_arrival_hour(landing_root: str, name: str, rows: pa.Table) -> int:
    """Split rows by the hour they reached the collector; one immutable file per hour."""
    frame = pl.from_arrow(rows).with_columns(_hour=pl.col("received_ts").dt.truncate("1h"))
    written = 0
    for (hour,), part in frame.partition_by("_hour", as_dict=True, maintain_order=False).items():
        written += land_events(landing_root, hour_key(hour), name, part.drop("_hour").to_arrow())
    return written


def land_directory(world: World, config: SimulationConfig, day: int, landing_root: str) -> None:
    """The product's daily directory export: who exists, in which team, and which items."""
    snapshot_date = (config.start + timedelta(days=day)).isoformat()
    write_atomic(users_snapshot(world, config, day), directory_url(landing_root, snapshot_date, "users"))
    write_atomic(items_snapshot(world, config, day), directory_url(landing_root, snapshot_date, "items"))


def simulate(config: SimulationConfig, landing_root: str, on_day=None) -> SimulationReport:
    """Simulate ``config.days`` days into the landing zone; ``on_day(day)`` reports progress."""
    report = SimulationReport()
    started = time.perf_counter()
    world = build_world(config)
    for day in range(config.days):
        rows, duplicates, kinds = deliver_day(world, config, day)
        report.events += rows.num_rows - duplicates
        report.delivered += rows.num_rows
        report.duplicates += duplicates
        report.malformed.update(kinds)
        report.files += land_by_arrival_hour(landing_root, batch_name(config, day), rows)
        land_directory(world, config, day, landing_root)
        if on_day:
            on_day(day)
    report.seconds = time.perf_counter() - started
    return report
