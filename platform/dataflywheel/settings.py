"""One place for paths and environment variables.

Everything the platform writes lives under one home folder (``DATAFLYWHEEL_HOME``,
default ``./.dataflywheel``). Values are read on every call, not at import, so tests and
entry points can point a process at another home by setting the environment.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

DEFAULT_PARTITIONS_START = "2026-11-01"


def home() -> Path:
    return Path(os.environ.get("DATAFLYWHEEL_HOME", PROJECT_ROOT / ".dataflywheel")).resolve()


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", home() / "dagster")).resolve()


def landing_url() -> str:
    """Root of the landing zone: a local folder by default, any fsspec URL (s3://...) by config."""
    return os.environ.get("DATAFLYWHEEL_LANDING_URL", str(home() / "landing"))


def warehouse_path() -> Path:
    return Path(os.environ.get("DATAFLYWHEEL_WAREHOUSE", home() / "warehouse.duckdb")).resolve()


def dbt_target_path() -> Path:
    return home() / "dbt" / "target"


def partitions_start() -> datetime:
    """First hour of the hourly / daily partitions shown in Dagster."""
    raw = os.environ.get("DATAFLYWHEEL_PARTITIONS_START", DEFAULT_PARTITIONS_START)
    return datetime.fromisoformat(raw).replace(tzinfo=timezone.utc)


def dedup_horizon_hours() -> int:
    return int(os.environ.get("DATAFLYWHEEL_DEDUP_HORIZON_HOURS", 7 * 24))


def allowed_lateness_hours() -> float:
    """Events later than this are still loaded, counted, and make built days stale."""
    return float(os.environ.get("DATAFLYWHEEL_ALLOWED_LATENESS_HOURS", 2))


def configure_environment() -> None:
    """Export the home folder and Dagster/dbt locations for child processes.

    Every entry point calls this, so run history, cursors and dbt artifacts all land in
    the home folder and survive restarts.
    """
    os.environ.setdefault("DATAFLYWHEEL_HOME", str(home()))
    os.environ.setdefault("DAGSTER_HOME", str(dagster_home()))
    os.environ.setdefault("DATAFLYWHEEL_WAREHOUSE", str(warehouse_path()))
    os.environ.setdefault("DBT_LOG_PATH", str(home() / "dbt" / "logs"))
    # dagster-dbt puts each invocation's artifacts under DBT_TARGET_PATH: keep them in the home.
    os.environ.setdefault("DBT_TARGET_PATH", str(dbt_target_path()))
    os.environ.setdefault("DBT_PROFILES_DIR", str(DBT_PROJECT_DIR))
    ensure_dagster_home()


DAGSTER_YAML = """\
# Written by dataflywheel. Every step touching the DuckDB warehouse runs in pool `duckdb`:
# DuckDB allows one writer process, so the pool's limit is 1.
concurrency:
  pools:
    granularity: op
    default_limit: 1
telemetry:
  enabled: false
# One event log for all runs (not one SQLite file per run): the alerts sensor reads events of
# every run after a cursor, which a run-sharded log cannot serve. Postgres does the same in production.
event_log_storage:
  module: dagster.core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {events_dir}
"""


def ensure_dagster_home() -> Path:
    path = dagster_home()
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    text = DAGSTER_YAML.format(events_dir=path / "history" / "events")
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    return path


def models_dir() -> Path:
    return home() / "models"


def online_features_dir() -> Path:
    return home() / "online"


def mlflow_tracking_uri() -> str:
    """MLflow tracking and registry: SQLite under the home folder unless configured."""
    return os.environ.get("DATAFLYWHEEL_MLFLOW_URI", f"sqlite:///{home() / 'mlflow' / 'mlflow.db'}")


def mlflow_artifact_root() -> Path:
    return home() / "mlflow" / "artifacts"


def alerts_path() -> Path:
    """The SQLite file holding the alerts table (written by the alerts sensor)."""
    return home() / "alerts.db"


def drift_reports_dir() -> Path:
    """Daily drift reports, one HTML and one JSON file per day."""
    return home() / "drift"


def retrain_cooldown_hours() -> float:
    """No second drift-triggered retrain within this many hours of the last one."""
    return float(os.environ.get("DATAFLYWHEEL_RETRAIN_COOLDOWN_HOURS", 12))
