"""Resources shared by the domains."""

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import polars as pl

from dataflywheel import settings
from dataflywheel.features.examples import load_examples
from dataflywheel.lifecycle.registry import Registry
from dataflywheel.warehouse.duckdb import DuckDBEngine


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse file. Opened per use and closed after, so the single-writer lock
    is held only while a step in the ``duckdb`` pool is running."""

    path: str

    @contextmanager
    def engine(self):
        """The warehouse behind the engine interface (features, ranking, monitoring)."""
        with DuckDBEngine.open(self.path) as engine:
            yield engine


def warehouse() -> Warehouse:
    return Warehouse(path=str(settings.current().warehouse_path))


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
