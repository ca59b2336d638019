"""Fresh, separate home folders for tests that run real Dagster processes (CLI runs, the daemon)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from dataflywheel import settings
from dataflywheel.ingest.landing import land_events
from helpers import wire_frame

SESSION_DBT_TARGET = settings.current().dbt_target_path  # the test session's parsed manifest
VENV_BIN = settings.PROJECT_ROOT / ".venv" / "bin"


def point_at_new_home(home: Path, monkeypatch, set_up: bool = True) -> settings.Settings:
    """This process and its children use ``home``, set up as `make setup` would (the manifest copied)
    unless ``set_up`` is False (a home used as found)."""
    for name in [n for n in os.environ if n.startswith(("DATAFLYWHEEL_", "DAGSTER_"))]:
        monkeypatch.delenv(name)
    for name, value in settings.Settings.from_env({"DATAFLYWHEEL_HOME": str(home)}).environment().items():
        monkeypatch.setenv(name, value)
    config = settings.current()
    if set_up:
        settings.prepare_home(config)
        shutil.copytree(SESSION_DBT_TARGET, config.dbt_target_path)
    return config


def land_hour(root: str, hour: datetime, rows: int) -> None:
    """An hour of valid search events (``rows`` of them: big enough, loading takes seconds)."""
    one = wire_frame(
        [{"received_ts": hour.replace(minute=30, tzinfo=timezone.utc), "event_ts": f"{hour:%Y-%m-%dT%H}:29:00.000Z"}]
    )
    frame = one.drop("_fault").select(pl.all().repeat_by(rows).explode())
    frame = frame.with_columns(event_id=pl.format("{}-{}", pl.lit(f"{hour:%m%d%H}"), pl.int_range(rows)))
    land_events(root, f"{hour:%Y-%m-%dT%H}", "batch", frame.to_arrow())


def materialize(hour: datetime, log: Path) -> subprocess.Popen:
    """`dagster asset materialize` of ``raw_events`` for ``hour``, as its own process group."""
    command = [str(VENV_BIN / "dagster"), "asset", "materialize", "-m", "dataflywheel.definitions"]
    command += ["--select", "raw_events", "--partition", f"{hour:%Y-%m-%d-%H}:00"]
    return subprocess.Popen(
        command, env=dict(os.environ), start_new_session=True, stdout=open(log, "ab"), stderr=subprocess.STDOUT
    )


def wait_for(condition, seconds: float, what: str, explain=None):
    """The first truthy value of ``condition()``, polled until ``seconds`` have passed; on a timeout,
    ``explain()`` (if given) says what the processes were doing, for a failure seen only in CI."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{explain()}" if explain else ""))


def runs_and_log_tail(instance, log: Path, lines: int = 40) -> str:
    """Every run's status and tags, and the last ``lines`` of a process log without its warnings."""
    runs = [f"{run.run_id[:8]} {run.status.value} {dict(run.tags)}" for run in instance.get_runs()]
    logged = [line for line in log.read_text(errors="replace").splitlines() if "Warning" not in line and line.strip()]
    return "\n".join(["runs:", *runs, f"{log.name}:", *logged[-lines:]])
