"""Which engine a caller outside the warehouse gets: the one place that names an implementation."""

from __future__ import annotations

from dataflywheel.warehouse.duckdb import DuckDBEngine
from dataflywheel.warehouse.engine import Engine


def in_memory() -> Engine:
    """A private engine with no warehouse behind it: for judging rows in flight (the collector)."""
    return DuckDBEngine.in_memory()
