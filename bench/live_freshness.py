"""Live freshness under a real ``dagster-daemon``: how long after an event arrives are (a) its
features in the online snapshot and (b) a published model that learned from it?

A fresh home, the daemon started, then arrival hours landed one at a time, each once the
previous one has gone through, as they would arrive in production (each hour's files land
when the hour closes). For every landed hour A the daemon's own runs are timed from the
landing: ``online`` until an ``online_features`` materialization holds A's features, ``model``
until the ranker of A - label_delay_hours (whose labels A completed) is in the registry.
An event that reached the collector at t in hour A is then
  (a) in the online snapshot at  end(A) + online(A)
  (b) learned by a published model at  end(A + label_delay_hours) + model(A + label_delay_hours)
(its impression hour is its arrival hour, and its labels complete label_delay_hours later);
p50 and p95 are over every loaded event. The wait for the hour to close is real and counted;
only the wall-clock wait between hours is skipped (the hours are landed back to back).

    .venv/bin/python -m bench.live_freshness   # ~20 minutes; writes bench/LIVE_FRESHNESS.md
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from dataflywheel import settings
from dataflywheel.defs.partitions import HOUR_KEY
from dataflywheel.simulator.config import SimulationConfig
from dataflywheel.simulator.run import deliver_day, land_by_arrival_hour, land_directory
from dataflywheel.simulator.world import build_world

HOURS = 10
EVENTS_PER_DAY = 500_000  # the demo's volume on a working day
HERE = Path(__file__).resolve().parent
BIN = settings.PROJECT_ROOT / ".venv" / "bin"


def _environment(home: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DATAFLYWHEEL_", "DAGSTER_", "DBT_"))}
    return {**inherited, **settings.Settings.from_env({"DATAFLYWHEEL_HOME": str(home)}).environment()}


def _materialized_at(instance: dg.DagsterInstance, key: str, partition: str | None, after: float) -> float | None:
    """When ``key`` (partition) was first materialized at or after ``after`` (epoch seconds)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[partition] if partition else None),
        limit=50,
    ).records
    times = [r.timestamp for r in records if r.timestamp >= after]
    return min(times) if times else None


def _wait(predicate, timeout: float = 900.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value is not None:
            return value
        time.sleep(2)
    raise TimeoutError("the daemon did not get there in time")


def measure(work: Path) -> dict:
    home = work / "home"
    environment = _environment(home)
    config = settings.Settings.from_env(environment)
    subprocess.run([str(BIN / "dataflywheel"), "setup"], env=environment, check=True, capture_output=True)
    delay = config.label_delay_hours
    now = datetime.now(timezone.utc)
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS)
    # Yesterday and today (the hours landed are within them); yesterday's directory: the newest day over.
    simulation = SimulationConfig(days=2, events_per_day=EVENTS_PER_DAY, seed=11, start=now.date() - timedelta(days=1))
    world = build_world(simulation)
    rows = pl.concat([deliver_day(world, simulation, day)[0] for day in range(2)])
    land_directory(world, simulation, 0, config.landing_url)
    hours = [first + timedelta(hours=h) for h in range(HOURS)]
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", "dataflywheel.definitions"],
        env=environment,
        stdout=open(work / "daemon.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    online, model = {}, {}
    try:
        with settings.dagster_instance(config) as instance:
            for hour in hours:
                arrived = rows.filter(
                    (pl.col("received_ts") >= hour) & (pl.col("received_ts") < hour + timedelta(hours=1))
                )
                landed = time.time()
                land_by_arrival_hour(config.landing_url, "live", arrived)
                key = hour.strftime(HOUR_KEY)
                features_done = _wait(lambda: _materialized_at(instance, "user_features", key, landed))
                online[hour] = (
                    _wait(lambda: _materialized_at(instance, "online_features", None, features_done)) - landed
                )
                learnable = hour - timedelta(hours=delay)
                if learnable >= hours[0]:
                    ranker_key = learnable.strftime(HOUR_KEY)
                    model[learnable] = (
                        _wait(lambda: _materialized_at(instance, "ranker_model", ranker_key, landed)) - landed
                    )
                print(
                    f"{hour:%H:00} online +{online[hour]:.0f} s"
                    + (f", model of {learnable:%H:00} +{model[learnable]:.0f} s" if learnable in model else ""),
                    flush=True,
                )
            failed = [r.job_name for r in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))]
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)

    received = rows.filter(
        (pl.col("received_ts") >= hours[0]) & (pl.col("received_ts") < hours[-1] + timedelta(hours=1))
    )
    arrival = received.get_column("received_ts").to_numpy().astype("datetime64[us]").astype(np.int64) / 1e6
    hour_start = (arrival // 3600) * 3600
    to_close = hour_start + 3600 - arrival
    online_lag = np.array([online.get(datetime.fromtimestamp(h, timezone.utc), np.nan) for h in hour_start])
    model_lag = np.array([model.get(datetime.fromtimestamp(h, timezone.utc), np.nan) for h in hour_start])
    a = to_close + online_lag
    b = to_close + delay * 3600 + model_lag
    b = b[~np.isnan(b)]
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "date": f"{now:%Y-%m-%d}",
        "events_per_day": EVENTS_PER_DAY,
        "hours": HOURS,
        "label_delay_hours": delay,
        "events": int(len(arrival)),
        "online_seconds_per_hour": {f"{h:%H:00}": round(v, 1) for h, v in online.items()},
        "model_seconds_per_hour": {f"{h:%H:00}": round(v, 1) for h, v in model.items()},
        "to_online_minutes": {"p50": float(np.percentile(a, 50)) / 60, "p95": float(np.percentile(a, 95)) / 60},
        "to_model_minutes": {"p50": float(np.percentile(b, 50)) / 60, "p95": float(np.percentile(b, 95)) / 60},
        "failed_runs": failed,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(dir=settings.current().home) as work:
        result = measure(Path(work))
    (HERE / "live_freshness.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
