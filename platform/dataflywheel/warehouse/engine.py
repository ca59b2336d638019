"""What the feature store, ranking and monitoring need from a warehouse, as one interface.

Like Feast's ``OfflineStore``: the callers build portable SQL (SELECT, JOIN, GROUP BY,
window functions, aggregate FILTER, CAST, INTERVAL arithmetic) and ask the engine for
everything a dialect does its own way: parsing, JSON, quantiles, time differences, reading
files, staging, sampling. A second engine (Spark) implements this Protocol; nothing else
changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import fsspec
import polars as pl


@dataclass(frozen=True)
class AsOfJoin:
    """Join, to each left row (``l``), the latest row of ``right`` on ``keys`` whose ``right_ts`` is
    not after the left row's time; a left row without one gets NULLs."""

    right: str  # a table or a parenthesized query
    keys: tuple[tuple[str, str], ...]  # (left column, right column)
    right_ts: str
    columns: tuple[tuple[str, str], ...]  # (output name, expression over the joined row ``{r}`` and ``l``)


def sql_type(dtype: pl.DataType) -> str:
    """The portable SQL type of a polars column."""
    if dtype == pl.Boolean:
        return "BOOLEAN"
    if dtype.is_integer():
        return "INTEGER" if dtype in (pl.Int8, pl.Int16, pl.Int32) else "BIGINT"
    if dtype.is_float():
        return "DOUBLE"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP"
    if dtype == pl.Date:
        return "DATE"
    return "VARCHAR"


class Engine(Protocol):
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """The single value of a one-row query."""

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame: ...

    def transaction(self) -> AbstractContextManager[None]:
        """Everything in the block commits together, or nothing does."""

    def registered(self, name: str, frame: pl.DataFrame) -> AbstractContextManager[None]:
        """``frame`` readable as the view ``name`` inside the block."""

    def ensure_table(self, table: str, columns: Sequence[tuple[str, str]], partitioned_by: str | None = None) -> None:
        """Create ``table`` (schema.name) if missing, and add any column it does not have yet.
        ``partitioned_by``: the column whose values :meth:`replace_rows` replaces one at a time
        (an engine of files lays the table out by it; DuckDB needs nothing)."""

    def replace_rows(
        self, table: str, where: str, select: str, columns: Sequence[str], partition: tuple[str, str] | None = None
    ) -> int:
        """Delete the rows matching ``where`` and insert ``select`` into ``columns``: one
        partition replaced (wrap several in :meth:`transaction`). Rows now matching ``where``.
        ``partition`` (column, SQL literal): the partition ``where`` selects, in a table partitioned
        by that column (``ensure_table(partitioned_by=...)``); engines without DELETE overwrite it."""

    def append_frame(self, table: str, frame: pl.DataFrame) -> None:
        """Insert a frame's rows, matching columns by name."""

    def as_of_join_sql(self, left: str, left_ts: str, joins: Sequence[AsOfJoin]) -> str:
        """``left``'s rows (aliased ``l``) with each join's columns as of ``l.<left_ts>``."""

    def materialized(self, name: str, query: str) -> str:
        """A common table expression ``name`` computed once, however often it is referenced."""

    def latest_per_key_sql(self, source: str, keys: Sequence[str], order_by: str) -> str:
        """One row per key of ``source``: the greatest by ``order_by``."""

    def sample_sql(self, source: str, rows: int, seed: int, key: str) -> str:
        """A uniform, seeded, deterministic sample of at most ``rows`` rows of ``source`` (by a
        hash of ``key``), whatever the threads or the physical order."""

    def parquet_sql(self, paths: Sequence[str | Path]) -> str:
        """A FROM-able relation over Parquet files."""

    def landed_files_sql(self, paths: Sequence[str]) -> str:
        """A FROM-able relation over Parquet files with two more columns: ``source_file`` (the
        file's name) and ``file_row_number`` (0-based), so every row has an address."""

    def read_filesystem(self, fs: fsspec.AbstractFileSystem) -> None:
        """Make the files of ``fs`` (an object store, say) readable by :meth:`landed_files_sql`
        and :meth:`parquet_sql`."""

    def staged(self, name: str, query: str) -> AbstractContextManager[None]:
        """The query's rows computed once and readable as ``name`` by every statement inside
        the block (several statements, unlike :meth:`materialized`)."""

    def is_data_error(self, error: Exception) -> bool:
        """True when a read failed on the data itself (text that is not UTF-8, a corrupt page),
        not on the engine or the machine (memory, disk): only the former is a file's fault."""

    def try_cast_sql(self, expression: str, sql_type: str) -> str:
        """``expression`` as ``sql_type``, NULL where it does not convert."""

    def parse_wire_timestamp_sql(self, text: str) -> str:
        """A TIMESTAMP from the wire's timestamp text (ISO-8601, UTC, milliseconds:
        ``2026-11-22T13:05:00.123Z``), NULL where the text is not exactly that."""

    def matches_sql(self, text: str, pattern: str) -> str:
        """True where ``text`` contains a match of the regular expression ``pattern`` (RE2 / Java
        syntax, the common part: character classes with ``\\x{hhhh}`` escapes)."""

    def is_json_sql(self, text: str) -> str:
        """True where ``text`` is a valid JSON document (NULL for NULL)."""

    def json_text_sql(self, document: str, field: str) -> str:
        """The top-level ``field`` of the JSON object ``document``, as text (NULL where absent)."""

    def seconds_between_sql(self, later: str, earlier: str) -> str:
        """``later - earlier`` in seconds, fractional, for two TIMESTAMPs."""

    def quantile_sql(self, expression: str, fraction: float) -> str:
        """The continuous (interpolated) ``fraction`` quantile, as an aggregate."""

    def export_parquet(self, query: str, path: Path) -> int:
        """Write ``query`` to ``path`` as Parquet, replacing it atomically; rows written."""
