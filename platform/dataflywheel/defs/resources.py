"""Resources shared by the domains."""

from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from dataflywheel import settings
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

    @contextmanager
    def get_connection(self):
        """A DuckDB connection, for the raw loaders (ingestion reads the landing zone through DuckDB)."""
        with self.engine() as engine:
            yield engine.con


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
