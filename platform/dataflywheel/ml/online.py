"""The online side of the feature store: the latest feature row per key, as files.

The ranking service loads these without opening the warehouse (DuckDB allows one writer,
and serving must not wait for it). The rows are the offline feature rows themselves,
picked as the point-in-time join would pick them at ``as_of``: one definition, two uses.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from ..events.warehouse import scalar
from .features import ENTITIES, SCHEMA, FeatureTiming, sql_timestamp

RECENT_PAIR_DAYS = 7  # user-item and user-container rows older than this are not published


def latest_rows_sql(table: str, keys: tuple[str, ...], as_of: datetime, oldest: datetime) -> str:
    return f"""SELECT * FROM {SCHEMA}.{table}
        WHERE available_at <= {sql_timestamp(as_of)} AND available_at > {sql_timestamp(oldest)}
        QUALIFY row_number() OVER (PARTITION BY {", ".join(keys)} ORDER BY available_at DESC) = 1"""


def publish(con: duckdb.DuckDBPyConnection, out_dir: Path, as_of: datetime, timing: FeatureTiming = FeatureTiming()):
    """Write ``<entity>.parquet`` per feature table, each replaced atomically; rows per file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = {}
    for entity in ENTITIES:
        pairs = len(entity.keys) > 1
        oldest = as_of - (min(timing.ttl, timedelta(days=RECENT_PAIR_DAYS)) if pairs else timing.ttl)
        final = out_dir / f"{entity.table}.parquet"
        tmp = out_dir / f".{entity.table}.parquet.tmp-{os.getpid()}"
        con.execute(f"COPY ({latest_rows_sql(entity.table, entity.keys, as_of, oldest)}) TO '{tmp}' (FORMAT parquet)")
        os.replace(tmp, final)
        rows[entity.table] = scalar(con, f"SELECT count(*) FROM read_parquet('{final}')")
    return rows


def lookup(out_dir: Path, table: str, **keys: str) -> dict | None:
    """One key's published row (what serving sees), or None."""
    where = " AND ".join(f"{k} = ?" for k in keys)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    found = con.execute(
        f"SELECT * FROM read_parquet(?) WHERE {where}", [str(out_dir / f"{table}.parquet"), *keys.values()]
    )
    row = found.fetchone()
    return dict(zip([d[0] for d in found.description], row)) if row else None
