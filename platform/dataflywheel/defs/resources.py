"""Resources shared by the domains."""

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from .. import settings
from ..events.warehouse import connect
from ..ml.registry import Registry


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse file. Opened per use and closed after, so the single-writer lock
    is held only while a step in the ``duckdb`` pool is running."""

    path: str

    @contextmanager
    def get_connection(self):
        con: duckdb.DuckDBPyConnection = connect(self.path)
        try:
            yield con
        finally:
            con.close()


def warehouse() -> Warehouse:
    return Warehouse(path=str(settings.warehouse_path()))


class ModelRegistry(dg.ConfigurableResource):
    """MLflow's model registry (SQLite under the home folder by default)."""

    tracking_uri: str
    artifact_root: str

    def get(self) -> Registry:
        Path(self.artifact_root).mkdir(parents=True, exist_ok=True)
        return Registry(self.tracking_uri, Path(self.artifact_root))


def model_registry() -> ModelRegistry:
    return ModelRegistry(
        tracking_uri=settings.mlflow_tracking_uri(), artifact_root=str(settings.mlflow_artifact_root())
    )
