"""The DuckDB engine: how to open the warehouse, and the engine operations in DuckDB's SQL."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import fsspec
import polars as pl

from dataflywheel.warehouse.engine import AsOfJoin


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with UTC session time, so TIMESTAMP columns are always UTC."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    # Row order inside a table carries no meaning here; letting inserts run in parallel
    # roughly halves the cost of loading an hour.
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # runs are not interactive: keep logs clean
    if not read_only:
        # Commit to the write-ahead log and compress into the file in larger checkpoints
        # (and on close) instead of after every hour: commits stay durable and get cheaper.
        con.execute("SET checkpoint_threshold = '1GB'")
    return con


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """The single value of a one-row query, with the result consumed (DuckDB 2 refuses new
    relational queries on a connection while an earlier result is still open)."""
    return con.execute(sql, params or []).fetchall()[0][0]


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection):
    """All statements in the block commit together, or none do (the error propagates)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except Exception:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


class DuckDBEngine:
    """The embedded engine: ``warehouse.engine.Engine`` on one DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    @classmethod
    @contextmanager
    def open(cls, path: str | Path, read_only: bool = False):
        con = connect(path, read_only)
        try:
            yield cls(con)
        finally:
            con.close()

    @classmethod
    def in_memory(cls) -> "DuckDBEngine":
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        return cls(con)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.con.execute(sql, list(params or []))

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return scalar(self.con, sql, list(params or []))

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        return pl.from_arrow(self.con.sql(sql, params=list(params or [])).to_arrow_table())

    def transaction(self):
        return transaction(self.con)

    @contextmanager
    def registered(self, name: str, frame: pl.DataFrame):
        self.con.register(name, frame.to_arrow())
        try:
            yield
        finally:
            self.con.unregister(name)

    def ensure_table(self, table: str, columns: Sequence[tuple[str, str]], partitioned_by: str | None = None) -> None:
        schema = table.split(".")[0]
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        listed = ", ".join(f'"{name}" {kind}' for name, kind in columns)
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({listed})")
        have = {row[0] for row in self.con.execute(f"DESCRIBE {table}").fetchall()}
        for name, kind in columns:  # a table an older version created gets the columns added since
            if name not in have:
                self.con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')

    def replace_rows(
        self, table: str, where: str, select: str, columns: Sequence[str], partition: tuple[str, str] | None = None
    ) -> int:
        self.con.execute(f"DELETE FROM {table} WHERE {where}")
        self.con.execute(f"INSERT INTO {table} ({', '.join(columns)}) {select}")
        return self.scalar(f"SELECT count(*) FROM {table} WHERE {where}")

    def append_frame(self, table: str, frame: pl.DataFrame) -> None:
        with self.registered("_appended", frame):
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _appended")

    def as_of_join_sql(self, left: str, left_ts: str, joins: Sequence[AsOfJoin]) -> str:
        clauses, columns = [], []
        for n, join in enumerate(joins):
            alias = f"j{n}"
            on = " AND ".join(f"l.{a} = {alias}.{b}" for a, b in join.keys)
            clauses.append(f"ASOF LEFT JOIN {join.right} {alias} ON {on} AND l.{left_ts} >= {alias}.{join.right_ts}")
            columns += [f"{expression.format(r=alias)} AS {name}" for name, expression in join.columns]
        return f"SELECT l.*, {', '.join(columns)} FROM {left} l {' '.join(clauses)}"

    def materialized(self, name: str, query: str) -> str:
        return f"{name} AS MATERIALIZED ({query})"

    def latest_per_key_sql(self, source: str, keys: Sequence[str], order_by: str) -> str:
        return f"""SELECT * FROM {source}
            QUALIFY row_number() OVER (PARTITION BY {", ".join(keys)} ORDER BY {order_by} DESC) = 1"""

    def sample_sql(self, source: str, rows: int, seed: int, key: str) -> str:
        # A top-``rows`` heap over a seeded hash: bounded memory, the same rows for the same seed.
        return f"SELECT * FROM {source} ORDER BY hash({key}, {int(seed)}) LIMIT {int(rows)}"

    def parquet_sql(self, paths: Sequence[str | Path]) -> str:
        return f"read_parquet({_string_list(paths)})"

    def landed_files_sql(self, paths: Sequence[str]) -> str:
        return f"""(SELECT * EXCLUDE (filename), parse_filename(filename) AS source_file
            FROM read_parquet({_string_list(paths)}, filename = true, file_row_number = true,
                              hive_partitioning = false))"""

    def read_filesystem(self, fs: fsspec.AbstractFileSystem) -> None:
        protocols = [fs.protocol] if isinstance(fs.protocol, str) else list(fs.protocol)
        local = protocols[0] in ("file", "local")
        if not local and not any(name in self.con.list_filesystems() for name in protocols):
            self.con.register_filesystem(fs)

    @contextmanager
    def staged(self, name: str, query: str):
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")
        try:
            yield
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def is_data_error(self, error: Exception) -> bool:
        # Invalid UTF-8 and pages that do not decompress are InvalidInput; a page header that does
        # not decode raises DuckDB's unspecialized Error. Memory, disk, binder errors are not the file's.
        return isinstance(error, duckdb.InvalidInputException) or type(error) is duckdb.Error

    def try_cast_sql(self, expression: str, sql_type: str) -> str:
        return f"TRY_CAST({expression} AS {sql_type})"

    def parse_wire_timestamp_sql(self, text: str) -> str:
        return f"try_strptime({text}, '%Y-%m-%dT%H:%M:%S.%gZ')"

    def matches_sql(self, text: str, pattern: str) -> str:
        return f"regexp_matches({text}, {_string_list([pattern])[1:-1]})"

    def is_json_sql(self, text: str) -> str:
        return f"json_valid({text})"

    def json_text_sql(self, document: str, field: str) -> str:
        return f"json_extract_string({document}, '$.{field}')"

    def seconds_between_sql(self, later: str, earlier: str) -> str:
        return f"epoch({later} - {earlier})"

    def quantile_sql(self, expression: str, fraction: float) -> str:
        return f"quantile_cont({expression}, {float(fraction)})"

    def export_parquet(self, query: str, path: Path) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self.con.execute(f"COPY ({query}) TO '{tmp}' (FORMAT parquet)")
        os.replace(tmp, path)
        return self.scalar(f"SELECT count(*) FROM {self.parquet_sql([path])}")


def _string_list(values: Sequence[str | Path]) -> str:
    """A DuckDB list literal of strings, quotes escaped."""
    quoted = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
    return f"[{quoted}]"
