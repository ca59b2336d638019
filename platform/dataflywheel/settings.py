"""One typed settings object: where the platform writes, and the knobs users tune.

Everything the platform writes lives under one home folder (``DATAFLYWHEEL_HOME``, default
``./.dataflywheel``). :func:`current` reads the environment on every call, not at import, so
tests and entry points can point a process at another home by setting the environment.
Every knob can be overridden by an environment variable named after it
(``DATAFLYWHEEL_<FIELD>``, and ``DATAFLYWHEEL_GATE_<FIELD>`` / ``DATAFLYWHEEL_DRIFT_<FIELD>``
for the thresholds), and descriptions in the UI quote the values from here.

Nothing here writes at import: :func:`prepare_home` (``make setup``, the CLI, the test
session) writes Dagster's configuration.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


@dataclass(frozen=True)
class GateThresholds:
    """When a retrained challenger may replace the champion (the blocking quality gate)."""

    auc_tolerance: float = 0.0  # the challenger's held-out AUC may not be lower than the champion's ...
    log_loss_tolerance: float = 0.01  # ... and its log loss at most this share higher

    def describe(self) -> str:
        return (
            f"the challenger's AUC is not lower than the champion's (tolerance {self.auc_tolerance}) and its "
            f"log loss at most {self.log_loss_tolerance:.0%} higher"
        )


@dataclass(frozen=True)
class DriftThresholds:
    """When a difference counts as drift. Calibrated on simulated weeks (bench/drift_detection.py)."""

    # Normed Wasserstein (numeric) / Jensen-Shannon distance: one such column is data drift. Quiet
    # simulated days stay under 0.05; the demo week had a 0.185 step (see docs/architecture.md).
    column: float = 0.2
    target_p_value: float = 0.001  # two-proportion z-test on the click / engagement rate, and ...
    target_change: float = 0.2  # ... a relative change of the whole day's rate at least this large
    auc_drop: float = 0.02  # quality drop: held-out AUC down by this much and by 3 standard errors


@dataclass(frozen=True)
class Settings:
    home: Path
    dagster_home: Path
    warehouse_path: Path
    landing_url: str  # a local folder by default, any fsspec URL (s3://...) by config
    raw_layer_dir: Path  # the raw layer's Parquet (ingest/raw_layer.py): the home's raw/ by default
    mlflow_uri: str  # tracking + registry; SQLite under the home folder by default
    partitions_start: datetime  # first hour of the hourly / daily partitions shown in Dagster
    # Dagster's runs, event log and schedules: SQLite under DAGSTER_HOME by default; PostgreSQL, by its
    # SQLAlchemy URL, is the production storage for several daemons and webservers. Name the driver
    # (postgresql+psycopg2://user@host:5432/db): SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3,
    # which dagster-postgres does not install.
    dagster_postgres_url: str | None = None
    # The engine the dbt models, the feature store and the training examples run on: "duckdb" (the
    # embedded default: one file, one writer) or "spark" (warehouse/spark.py; landed files still load
    # on DuckDB and reach Spark as the raw layer's Parquet). Several processes use Spark at once under
    # Dagster (a run, the dbt it starts): they share one Hive metastore service, at this thrift:// URI
    # (`dataflywheel spark-metastore` runs one); without it each Spark process opens an embedded Derby
    # metastore, which one process at a time may use (benchmarks, single-process tests).
    engine: str = "duckdb"
    spark_metastore_uri: str | None = None
    allowed_lateness_hours: float = 2  # later events still load, are counted, and make built days stale
    # Arrival hours after an impression hour that its labels wait for: a click counts up to an hour after
    # the impression (fct_rec_impressions), and its delivery may take most of another.
    label_delay_hours: int = 2
    catch_up_days: int = 14  # automation builds partitions this far back as their inputs arrive; older: backfill
    # Hourly model states kept on disk: every report automation may rebuild (catch_up_days back, and the
    # drift report's 7-day reference before that) still finds the models that served. The registry keeps all.
    model_retention_days: int = 28
    volume_tolerance: float = 0.5  # an hour may be (1 - t) to 1 / (1 - t) times the same hour a week earlier
    retrain_cooldown_hours: float = 12  # no second drift-triggered retrain within this many hours
    calibration_tolerance: float = 0.25  # a segment's predicted P(click) within this share of the observed ...
    calibration_min_clicks: int = 50  # ... in every segment with at least this many clicks
    skew_keys_per_table: int = 5_000  # keys the skew check samples per feature table, from each side
    pool_wait_alert_minutes: float = 30  # a step waiting this long for a pool slot (e.g. `duckdb`) alerts
    alert_webhook: str | None = None  # also post alerts here (Slack-compatible ``{"text": ...}``)
    gate: GateThresholds = field(default_factory=GateThresholds)
    drift: DriftThresholds = field(default_factory=DriftThresholds)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        home = Path(environ.get("DATAFLYWHEEL_HOME", PROJECT_ROOT / ".dataflywheel")).resolve()
        knobs = {
            name: kind(environ[f"DATAFLYWHEEL_{name.upper()}"])
            for name, kind in _KNOBS.items()
            if f"DATAFLYWHEEL_{name.upper()}" in environ
        }
        return cls(
            home=home,
            dagster_home=Path(environ.get("DAGSTER_HOME", home / "dagster")).resolve(),
            warehouse_path=Path(environ.get("DATAFLYWHEEL_WAREHOUSE", home / "warehouse.duckdb")).resolve(),
            landing_url=environ.get("DATAFLYWHEEL_LANDING_URL", str(home / "landing")),
            mlflow_uri=environ.get("DATAFLYWHEEL_MLFLOW_URI", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"),
            dagster_postgres_url=environ.get("DATAFLYWHEEL_DAGSTER_POSTGRES_URL") or None,
            spark_metastore_uri=environ.get("DATAFLYWHEEL_SPARK_METASTORE_URI") or None,
            raw_layer_dir=Path(environ.get("DATAFLYWHEEL_RAW_PARQUET", home / "raw")).resolve(),
            partitions_start=datetime.fromisoformat(environ.get("DATAFLYWHEEL_PARTITIONS_START", "2026-11-01")).replace(
                tzinfo=timezone.utc
            ),
            gate=_thresholds(GateThresholds, "DATAFLYWHEEL_GATE_", environ),
            drift=_thresholds(DriftThresholds, "DATAFLYWHEEL_DRIFT_", environ),
            **knobs,
        )

    @property
    def serving_lag_hours(self) -> int:
        """How many hours before hour h the model that served h learned its last hour.

        The model of hour k is built once arrival hour k + label_delay_hours is over (plus a few
        minutes of runs), so when hour h begins the newest one is k = h - label_delay_hours - 2.
        Held-out scores use that model: what users were really shown, not a fresher one.
        """
        return self.label_delay_hours + 2

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def ranker_chain_dir(self) -> Path:
        """The hourly ranker chain (one model per hour)."""
        return self.models_dir / "ranker"

    @property
    def loss_monitor_dir(self) -> Path:
        """The loss-stream monitor's state, hour by hour beside the chain."""
        return self.models_dir / "loss_monitor"

    @property
    def online_features_dir(self) -> Path:
        return self.home / "online"

    @property
    def mlflow_artifact_root(self) -> Path:
        return self.home / "mlflow" / "artifacts"

    @property
    def alerts_path(self) -> Path:
        """The SQLite file holding the alerts table (written by the alerts sensor)."""
        return self.home / "alerts.db"

    @property
    def api_keys_path(self) -> Path:
        """The SQLite file of per-tenant API keys (hashed)."""
        return self.home / "api_keys.db"

    @property
    def collector_log_dir(self) -> Path:
        """The collector's durable log: acknowledged batches until compaction lands them."""
        return self.home / "collector" / "log"

    @property
    def collector_quarantine_dir(self) -> Path:
        """Rows the collector refused to land (another tenant's), as Parquet with the reason."""
        return self.home / "collector" / "quarantine"

    @property
    def drift_reports_dir(self) -> Path:
        """Daily drift reports, one HTML and one JSON file per day."""
        return self.home / "drift"

    @property
    def dbt_target_path(self) -> Path:
        return self.home / "dbt" / "target"

    def environment(self) -> dict[str, str]:
        """The variables child processes (dbt, Dagster's daemon and runs) need to find this home."""
        return {
            "DATAFLYWHEEL_HOME": str(self.home),
            "DAGSTER_HOME": str(self.dagster_home),
            "DATAFLYWHEEL_WAREHOUSE": str(self.warehouse_path),
            "DBT_LOG_PATH": str(self.home / "dbt" / "logs"),
            # dagster-dbt puts each invocation's artifacts under DBT_TARGET_PATH: keep them in the home.
            "DBT_TARGET_PATH": str(self.dbt_target_path),
            "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
            "DO_NOT_TRACK": "1",  # Evidently's telemetry (the network is closed anyway)
            "DATAFLYWHEEL_ENGINE": self.engine,  # dbt's target (profiles.yml)
            "DATAFLYWHEEL_RAW_PARQUET": str(self.raw_layer_dir),  # dbt's sources on Spark
        } | {
            name: value
            for name, value in (
                ("DATAFLYWHEEL_DAGSTER_POSTGRES_URL", self.dagster_postgres_url),
                ("DATAFLYWHEEL_SPARK_METASTORE_URI", self.spark_metastore_uri),
            )
            if value
        }

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"DATAFLYWHEEL_ENGINE={self.engine!r}: one of {', '.join(ENGINES)}")


ENGINES = ("duckdb", "spark")

# The scalar knobs an environment variable may override, and their types.
_KNOBS = {
    "engine": str,
    "allowed_lateness_hours": float,
    "label_delay_hours": int,
    "catch_up_days": int,
    "model_retention_days": int,
    "volume_tolerance": float,
    "retrain_cooldown_hours": float,
    "calibration_tolerance": float,
    "calibration_min_clicks": int,
    "skew_keys_per_table": int,
    "pool_wait_alert_minutes": float,
    "alert_webhook": str,
}


def _thresholds(cls, prefix: str, environ: Mapping[str, str]):
    overrides = {
        f.name: float(environ[prefix + f.name.upper()])
        for f in dataclasses.fields(cls)
        if prefix + f.name.upper() in environ
    }
    return cls(**overrides)


def current() -> Settings:
    """The settings of this process, read from its environment now."""
    return Settings.from_env()


def export_environment() -> Settings:
    """For entry points (CLI, tests): make this home the one every child process sees."""
    config = current()
    for name, value in config.environment().items():
        os.environ.setdefault(name, value)
    return current()


@contextmanager
def dbt_environment():
    """The home's dbt variables set while a dbt invocation starts (dagster-dbt passes os.environ on)."""
    wanted = current().environment()
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update({name: value for name, value in wanted.items() if saved[name] is None})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


_DAGSTER_YAML_COMMON = """\
# Written by dataflywheel (`make setup`). Every step touching the DuckDB warehouse runs in pool
# `duckdb`: DuckDB allows one writer process, so the pool's limit is 1.
# Runs the daemon launches (a process each) queue: on two cores more at once only compete for them,
# and the steps touching the warehouse take the `duckdb` slot one at a time anyway.
# A run whose process dies: the crashed-runs sensor fails it and frees its pool slots (the default
# launcher cannot report its health); run monitoring times out runs that never start or never finish
# cancelling, and frees what finished runs still hold. Crashed runs are retried once (not runs whose
# own steps failed: those failures are real and alerted).
run_monitoring:
  enabled: true
  start_timeout_seconds: 300
  cancel_timeout_seconds: 300
  free_slots_after_run_end_seconds: 60
run_retries:
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
concurrency:
  runs:
    max_concurrent_runs: 2
  pools:
    granularity: op
    default_limit: 1
telemetry:
  enabled: false
"""

_SQLITE_STORAGE = """\
# One event log for all runs (not one SQLite file per run): the alerts sensor reads events of
# every run after a cursor, which a run-sharded log cannot serve. Postgres does the same in production.
# Its folder is named by DAGSTER_HOME, not written out, so a copied or moved home uses its own.
event_log_storage:
  module: dagster.core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir:
      env: DAGSTER_HOME
"""


_POSTGRES_STORAGE = """\
# Runs, the event log and schedules on PostgreSQL (DATAFLYWHEEL_DAGSTER_POSTGRES_URL): the storage
# for daemons and webservers on several machines. The URL is read from the environment, not written here.
storage:
  postgres:
    postgres_url:
      env: DATAFLYWHEEL_DAGSTER_POSTGRES_URL
"""


def dagster_yaml(config: Settings) -> str:
    """Dagster's instance configuration for ``config``: storage on SQLite or PostgreSQL by one setting."""
    return _DAGSTER_YAML_COMMON + (_POSTGRES_STORAGE if config.dagster_postgres_url else _SQLITE_STORAGE)


def prepare_home(config: Settings | None = None) -> Path:
    """Write Dagster's configuration into the home (idempotent). Setup, the CLI and tests call it."""
    config = config or current()
    path = config.dagster_home
    path.mkdir(parents=True, exist_ok=True)
    wanted, written = dagster_yaml(config), path / "dagster.yaml"
    if not written.exists() or written.read_text() != wanted:
        written.write_text(wanted)
    earlier = path / "history" / "events"  # where homes made before kept the event log (set-up runs first)
    if (earlier / "event_log.db").exists() and not (path / "event_log.db").exists():
        for name in ("event_log.db", "event_log.db-wal", "event_log.db-shm"):
            if (earlier / name).exists():
                (earlier / name).rename(path / name)
    return path


@contextmanager
def dagster_instance(config: Settings):
    """Dagster's instance of ``config``'s home, opened from any process: its configuration names
    the event log's folder by ``DAGSTER_HOME`` (or PostgreSQL's URL by its variable), which must
    name this home's while it opens."""
    import dagster as dg  # imported here: settings stay importable without loading Dagster

    named = {"DAGSTER_HOME": str(config.dagster_home)}
    if config.dagster_postgres_url:
        named["DATAFLYWHEEL_DAGSTER_POSTGRES_URL"] = config.dagster_postgres_url
    saved = {name: os.environ.get(name) for name in named}
    os.environ.update(named)
    try:
        instance = dg.DagsterInstance.from_config(str(config.dagster_home))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value
    with instance:
        yield instance
