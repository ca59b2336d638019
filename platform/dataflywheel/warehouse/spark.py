"""The Spark engine: ``warehouse.engine.Engine`` on a SparkSession, for volumes past one machine.

Tables are plain Parquet in the session's warehouse folder with a Hive metastore (Delta and
Iceberg jars cannot be fetched here), so two things differ from DuckDB, by design:

- No multi-statement transactions. Each replaced partition (or table) is committed on its own;
  a step that fails half-way leaves the tables it finished replaced, and its re-run replaces
  them again (every write here is a replacement, so re-runs converge).
- No DELETE. ``replace_rows`` overwrites a static partition where the table is partitioned by
  the column its ``partition`` names (``ensure_table(..., partitioned_by=...)``: the feature
  tiles and rows, the training examples by impression hour). Otherwise (a table an older
  version made unpartitioned) it writes the table's new contents to a new folder and points the
  table at it: never a moment without the old rows, but its cost follows the table, not the hour.

Landed files load on DuckDB only (``raw_events``); Spark starts from the raw layer's Parquet.

The session starts from the parameters of dbt's ``spark`` target (``dbt_project/profiles.yml``),
so the platform's Python steps and its dbt models see the same metastore and warehouse folder.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec
import polars as pl
import yaml

from dataflywheel.settings import DBT_PROJECT_DIR
from dataflywheel.warehouse.engine import AsOfJoin

PROFILES = DBT_PROJECT_DIR / "profiles.yml"
_SPARK_TYPES = {"VARCHAR": "STRING"}  # portable names Spark spells its own way


def session_parameters(environ: dict[str, str]) -> dict[str, str]:
    """The Spark configuration of dbt's ``spark`` target, its ``env_var(...)`` filled from ``environ``."""
    import jinja2

    profile = yaml.safe_load(PROFILES.read_text())["dataflywheel"]["outputs"]["spark"]
    template = jinja2.Environment(undefined=jinja2.StrictUndefined)
    fill = {"env_var": lambda name, default=None: environ[name] if default is None else environ.get(name, default)}
    return {
        name: template.from_string(str(value)).render(fill) for name, value in profile["server_side_parameters"].items()
    }


def spark_session(environ: dict[str, str]):
    """This process's SparkSession (made once, with Hive support, as dbt-spark's session method
    does). A process has one: asking it for another home's warehouse is an error, not a reuse."""
    from pyspark.sql import SparkSession

    parameters = session_parameters(environ)
    builder = SparkSession.builder.enableHiveSupport()
    for name, value in parameters.items():
        builder = builder.config(name, value)
    session = builder.getOrCreate()
    running = session.conf.get("spark.sql.warehouse.dir")
    if running.removeprefix("file:") != parameters["spark.sql.warehouse.dir"]:
        raise RuntimeError(
            f"this process's Spark session serves {running}, not {parameters['spark.sql.warehouse.dir']}"
        )
    return session


class SparkEngine:
    """The distributed engine: ``warehouse.engine.Engine`` in Spark SQL."""

    def __init__(self, spark):
        self.spark = spark

    @classmethod
    @contextmanager
    def open(cls, environ: dict[str, str]):
        """The engine on this process's session. The session is not stopped on exit: it lives as long
        as the process (its JVM and the metastore's lock too), as dbt-spark's does."""
        yield cls(spark_session(environ))

    def _sql(self, sql: str, params: Sequence[Any] | None = None):
        # Timestamps go as text: Spark would read a naive datetime in the process's time zone.
        args = [f"{p:%Y-%m-%d %H:%M:%S.%f}" if isinstance(p, datetime) else p for p in params or []]
        return self.spark.sql(sql, args=args or None)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self._sql(sql, params).collect()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return self.frame(sql, params).row(0)[0]

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """Rows as polars, timestamps naive UTC as on DuckDB (Spark's functions such as date_trunc
        return zoned timestamps even on TIMESTAMP_NTZ columns)."""
        frame = pl.from_arrow(self._sql(sql, params).toArrow())
        zoned = [n for n, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone is not None]
        return frame.with_columns(pl.col(zoned).dt.convert_time_zone("UTC").dt.replace_time_zone(None))

    def transaction(self):
        return nullcontext()  # see the module's docstring: each partition commits alone

    @contextmanager
    def registered(self, name: str, frame: pl.DataFrame):
        self.spark.createDataFrame(frame.to_arrow()).createOrReplaceTempView(name)
        try:
            yield
        finally:
            self.spark.catalog.dropTempView(name)

    def ensure_table(self, table: str, columns: Sequence[tuple[str, str]], partitioned_by: str | None = None) -> None:
        schema = table.split(".")[0]
        self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
        partitioning = f" PARTITIONED BY (`{partitioned_by}`)" if partitioned_by else ""
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {table} ({_defined(columns)}) USING parquet{partitioning}")
        have = set(self.spark.table(table).columns)
        missing = [(name, kind) for name, kind in columns if name not in have]
        if missing:  # a table an older version created gets the columns added since
            self.spark.sql(f"ALTER TABLE {table} ADD COLUMNS ({_defined(missing)})")

    def replace_rows(
        self, table: str, where: str, select: str, columns: Sequence[str], partition: tuple[str, str] | None = None
    ) -> int:
        # The select's columns are positional, as in INSERT; the table may have more (added since).
        rows = self._aligned(self.spark.sql(select).toDF(*columns), table)
        partitioned_by = [c.name for c in self.spark.catalog.listColumns(table) if c.isPartition]
        if partition is not None and partitioned_by == [partition[0]]:
            name, value = partition  # the rows replacing it all have that value: they are written into it
            rows.drop(name).createOrReplaceTempView("_replacing")
            listed = ", ".join(f"`{c}`" for c in rows.columns if c != name)
            self.spark.sql(
                f"INSERT OVERWRITE {table} PARTITION (`{name}` = {value}) ({listed}) SELECT {listed} FROM _replacing"
            )
            self.spark.catalog.dropTempView("_replacing")
            return self.scalar(f"SELECT count(*) FROM {table} WHERE `{name}` = {value}")  # one partition read
        kept = self.spark.table(table).where(f"NOT coalesce({where}, false)")
        self._swap_contents(table, kept.unionByName(rows))
        return self.scalar(f"SELECT count(*) FROM {table} WHERE {where}")

    def _swap_contents(self, table: str, contents) -> None:
        """Write ``contents`` to a new folder, point ``table`` at it, then remove the old folder."""
        old = self.spark.sql(f"DESCRIBE TABLE EXTENDED {table}").where("col_name = 'Location'").first()[1]
        new = f"{old.rstrip('/').split('__v')[0]}__v{uuid.uuid4().hex[:12]}"
        contents.write.parquet(new)
        self.spark.sql(f"ALTER TABLE {table} SET LOCATION '{new}'")
        self.spark.catalog.refreshTable(table)
        shutil.rmtree(old.removeprefix("file:"), ignore_errors=True)

    def _aligned(self, rows, table: str):
        """``rows`` with the table's columns in its order and types (NULL for one ``rows`` lacks)."""
        from pyspark.sql import functions as F

        return rows.select(
            [
                (F.col(f"`{f.name}`") if f.name in rows.columns else F.lit(None)).cast(f.dataType).alias(f.name)
                for f in self.spark.table(table).schema
            ]
        )

    def append_frame(self, table: str, frame: pl.DataFrame) -> None:
        raise _loads_on_duckdb()  # its one caller records rejected landed files

    def as_of_join_sql(self, left: str, left_ts: str, joins: Sequence[AsOfJoin]) -> str:
        # Spark has no ASOF JOIN, and plans a lateral "latest row first, LIMIT 1" as a nested loop of
        # every left time with every candidate row. Instead, per join, one sort: the left rows and the
        # right rows in one stream by key and time, each left row taking the last right row at or
        # before its time (right rows first among equal times), carried as a struct.
        query = f"SELECT * FROM {left}"
        for n, join in enumerate(joins):
            alias = f"j{n}"
            left_keys = ", ".join(f"l.{a} AS _k{i}" for i, (a, _) in enumerate(join.keys))
            right_keys = ", ".join(f"r.{b} AS _k{i}" for i, (_, b) in enumerate(join.keys))
            # Right rows without a key or a time match nothing (as in DuckDB's ASOF JOIN).
            present = " AND ".join(f"r.{c} IS NOT NULL" for c in [*(b for _, b in join.keys), join.right_ts])
            by_key = ", ".join(f"_k{i}" for i in range(len(join.keys)))
            columns = ", ".join(f"{expression.format(r=alias)} AS {name}" for name, expression in join.columns)
            query = f"""SELECT l.*, {columns} FROM (
                SELECT _side, _left AS l, last(_right, true) OVER (PARTITION BY {by_key} ORDER BY _t, _side
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {alias}
                FROM (SELECT {left_keys}, l.{left_ts} AS _t, 1 AS _side, struct(l.*) AS _left, NULL AS _right
                      FROM ({query}) l
                      UNION ALL
                      SELECT {right_keys}, r.{join.right_ts} AS _t, 0 AS _side, NULL AS _left, struct(r.*) AS _right
                      FROM {join.right} r WHERE {present})
            ) WHERE _side = 1"""
        return query

    def materialized(self, name: str, query: str) -> str:
        return f"{name} AS ({query})"

    def latest_per_key_sql(self, source: str, keys: Sequence[str], order_by: str) -> str:
        listed = ", ".join(keys)
        return f"""SELECT * EXCEPT (_rank) FROM (
            SELECT *, row_number() OVER (PARTITION BY {listed} ORDER BY {order_by} DESC) AS _rank FROM {source})
            WHERE _rank = 1"""

    def sample_sql(self, source: str, rows: int, seed: int, key: str) -> str:
        return f"SELECT * FROM {source} ORDER BY xxhash64({key}, {int(seed)}) LIMIT {int(rows)}"

    def json_text_sql(self, document: str, field: str) -> str:
        return f"get_json_object({document}, '$.{field}')"

    def parquet_sql(self, paths: Sequence[str | Path]) -> str:
        return "(" + " UNION ALL ".join(f"SELECT * FROM parquet.`{p}`" for p in paths) + ")"

    # What only the loading of landed files asks for: it runs on DuckDB.
    def landed_files_sql(self, paths: Sequence[str]) -> str:
        raise _loads_on_duckdb()

    def read_filesystem(self, fs: fsspec.AbstractFileSystem) -> None:
        raise _loads_on_duckdb()

    def staged(self, name: str, query: str):
        raise _loads_on_duckdb()

    def is_data_error(self, error: Exception) -> bool:
        raise _loads_on_duckdb()

    def try_cast_sql(self, expression: str, sql_type: str) -> str:
        raise _loads_on_duckdb()

    def parse_wire_timestamp_sql(self, text: str) -> str:
        raise _loads_on_duckdb()

    def matches_sql(self, text: str, pattern: str) -> str:
        raise _loads_on_duckdb()

    def is_json_sql(self, text: str) -> str:
        raise _loads_on_duckdb()

    def seconds_between_sql(self, later: str, earlier: str) -> str:
        raise _loads_on_duckdb()

    def quantile_sql(self, expression: str, fraction: float) -> str:
        raise _loads_on_duckdb()

    def export_parquet(self, query: str, path: Path) -> int:
        """One Parquet file at ``path``, replaced atomically (Spark writes a folder of parts: one
        part here, moved into place)."""
        rows = self.spark.sql(query).localCheckpoint()
        folder = path.with_name(f".{path.name}.parts")
        shutil.rmtree(folder, ignore_errors=True)
        rows.coalesce(1).write.parquet(str(folder))
        (part,) = folder.glob("part-*.parquet")
        os.replace(part, path)
        shutil.rmtree(folder)
        return rows.count()


def _defined(columns: Sequence[tuple[str, str]]) -> str:
    """Column definitions in Spark's type names."""
    return ", ".join(f"`{name}` {_SPARK_TYPES.get(kind, kind)}" for name, kind in columns)


def _loads_on_duckdb() -> NotImplementedError:
    """Landed files load on DuckDB (raw_events); Spark reads the raw layer they become."""
    return NotImplementedError(
        "raw_events loads landed files on DuckDB; Spark starts from the raw layer's Parquet (ingest/raw_layer.py)"
    )
