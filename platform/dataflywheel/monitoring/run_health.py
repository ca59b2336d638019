"""Is a run's process still there, and has a step waited too long for its pool?

Dagster's default run launcher starts each run as a process on this host and cannot check its
health, so a run whose process was killed (kill -9, out of memory, a reboot) stays STARTED for
ever and keeps its pool slot. A run's worker reports its pid in an engine event when it starts;
the pid is alive if a process of that pid exists, is not a zombie, and was created before the
report (a pid reused later by another process is not the run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import psutil


@dataclass(frozen=True)
class Worker:
    pid: int
    reported_at: float  # epoch seconds of the engine event that named it


def run_worker(engine_events: Iterable[tuple[float, Mapping[str, object]]]) -> Worker | None:
    """The first process an engine event of the run named (its worker), or None before it started.

    ``engine_events`` are (timestamp, metadata) in the order they were logged; metadata values
    are plain or Dagster metadata values (whose ``.value`` is the text).
    """
    for timestamp, metadata in engine_events:
        pid = metadata.get("pid")
        if pid is not None:
            return Worker(int(getattr(pid, "value", pid)), timestamp)
    return None


def is_alive(worker: Worker) -> bool:
    try:
        process = psutil.Process(worker.pid)
        # A second of slack: the two clocks are read at different moments.
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= worker.reported_at + 1
    except psutil.NoSuchProcess:
        return False


@dataclass(frozen=True)
class PoolWait:
    pool: str
    run_id: str
    step_key: str
    waiting_since: datetime


def overdue(waits: Iterable[PoolWait], now: datetime, bound_seconds: float) -> list[PoolWait]:
    """The steps that have waited for a pool slot longer than ``bound_seconds``."""
    return [w for w in waits if (now - w.waiting_since).total_seconds() > bound_seconds]
