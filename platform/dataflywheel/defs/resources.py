"""Resources shared by the domains."""

from contextlib import contextmanager

import dagster as dg
import duckdb

from .. import settings
from ..events.warehouse import connect


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
