"""Resources shared by the domains."""

from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from dataflywheel import settings
from dataflywheel.features.examples import load_examples
from dataflywheel.ingest.raw_layer import export_partition
from dataflywheel.lifecycle.registry import Registry
from dataflywheel.warehouse.duckdb import DuckDBEngine
from dataflywheel.warehouse.engine import Engine
from dataflywheel.warehouse.spark import SparkEngine


class Warehouse(dg.ConfigurableResource):
    """The warehouse behind the engine interface, on the engine the settings name (``engine``).

    DuckDB: its file, opened per use and closed after, so the single-writer lock is held only while
    a step in the ``duckdb`` pool is running. Spark: the run process's session (one per process,
    kept for its life). Landed files load on DuckDB either way (``landing``); on Spark each loaded
    partition then goes to the raw layer, which the models read.
    """

    path: str
    engine_name: str = "duckdb"

    @contextmanager
    def engine(self):
        """The engine the models, features, examples and their readers use."""
        if self.engine_name == "spark":
            with SparkEngine.open(settings.current().environment()) as engine:
                yield engine
        else:
            with self.landing() as engine:
                yield engine

    @contextmanager
    def landing(self):
        """Where landed files load (``raw_events``, the directory snapshots): DuckDB on either engine."""
        with DuckDBEngine.open(self.path) as engine:
            yield engine

    def publish_raw(self, landing: Engine, partition: datetime | date) -> None:
        """After a partition loads: on Spark, its rows in the raw layer the models read (the settings'
        folder, as dbt's and the Spark session's environment name it); nothing to do on DuckDB."""
        if self.engine_name == "spark":
            export_partition(landing, settings.current().raw_layer_dir, partition)


def warehouse() -> Warehouse:
    config = settings.current()
    return Warehouse(path=str(config.warehouse_path), engine_name=config.engine)


class ModelRegistry(dg.ConfigurableResource):
    """MLflow's model registry (SQLite under the home folder by default)."""

    tracking_uri: str
    artifact_root: str

    def get(self) -> Registry:
        Path(self.artifact_root).mkdir(parents=True, exist_ok=True)
        return Registry(self.tracking_uri, Path(self.artifact_root))


def model_registry() -> ModelRegistry:
    return ModelRegistry(
        tracking_uri=settings.current().mlflow_uri, artifact_root=str(settings.current().mlflow_artifact_root)
    )


def examples_between(warehouse: Warehouse, start, end) -> pl.DataFrame:
    """Training examples of [start, end) in stream order, for assets and jobs that learn or score them."""
    with warehouse.engine() as engine:
        return load_examples(engine, start, end)
