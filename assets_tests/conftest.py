"""Shared fixtures. Each test session gets its own home folder, set before anything imports
the definitions, so tests never touch a developer's ``.dataflywheel``."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest

# Under the project's own (git-ignored) home folder, like everything else the code writes.
_TEST_HOMES = Path(__file__).resolve().parents[1] / ".dataflywheel" / "test-sessions"
_TEST_HOMES.mkdir(parents=True, exist_ok=True)
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="session-", dir=_TEST_HOMES))
os.environ["DATAFLYWHEEL_HOME"] = str(_SESSION_HOME)
os.environ["DAGSTER_HOME"] = str(_SESSION_HOME / "dagster")
os.environ["DATAFLYWHEEL_WAREHOUSE"] = str(_SESSION_HOME / "warehouse.duckdb")
os.environ["DATAFLYWHEEL_PARTITIONS_START"] = "2026-11-01"
os.environ["DBT_TARGET_PATH"] = str(_SESSION_HOME / "dbt" / "target")
os.environ["DBT_LOG_PATH"] = str(_SESSION_HOME / "dbt" / "logs")
os.environ.pop("DATAFLYWHEEL_LANDING_URL", None)
os.environ.pop("DATAFLYWHEEL_DAGSTER_POSTGRES_URL", None)  # never a developer's own database
for _engine_setting in ("DATAFLYWHEEL_ENGINE", "DATAFLYWHEEL_SPARK_METASTORE_URI", "DATAFLYWHEEL_RAW_PARQUET"):
    os.environ.pop(_engine_setting, None)  # DuckDB unless a test chooses Spark

from dataflywheel import settings  # noqa: E402
from dataflywheel.simulator.config import SimulationConfig  # noqa: E402

# Real servers started on demand: PostgreSQL (Dagster's production storage) and an S3 API (moto).
pytest_plugins = ["postgres_server", "s3_server"]


def pytest_configure(config):
    """The test session's set-up, as `make setup` does it for a home: Dagster's configuration and
    the dbt manifest the definitions read."""
    from dataflywheel.dbt_project import parse_manifest

    settings.export_environment()
    settings.prepare_home()
    if not (settings.current().dbt_target_path / "manifest.json").exists():
        parse_manifest()


MONDAY = date(2026, 11, 16)


@pytest.fixture
def small_config() -> SimulationConfig:
    """Two working days, small enough for a unit test, large enough for statistics."""
    return SimulationConfig(days=2, events_per_day=40_000, seed=7, start=MONDAY)


@pytest.fixture
def workdir(tmp_path: Path) -> dict[str, str]:
    """A private landing root and warehouse for one test."""
    return {"landing": str(tmp_path / "landing"), "warehouse": str(tmp_path / "warehouse.duckdb")}


def pytest_sessionfinish(session, exitstatus):
    """Keep a failed session's home for inspection; remove a passing one."""
    if exitstatus == 0:
        shutil.rmtree(_SESSION_HOME, ignore_errors=True)
