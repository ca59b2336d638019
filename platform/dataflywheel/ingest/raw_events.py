"""Load one arrival hour of landed events into ``raw.raw_events``: validate, dedup, quarantine.

The whole hour is replaced in one transaction, so re-running an hour (a retry after a
crash, a backfill) gives the same tables. Every landed row ends up in exactly one place:

    landed = loaded (raw_events) + duplicates (duplicate_events) + quarantined (quarantined_events)

Dedup is by ``event_id`` against the hour itself and against every *other* loaded hour
within the horizon, earlier or later, so the result does not depend on the order in
which hours are loaded: an event is kept in exactly one arrival hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from dataflywheel.ingest.landing import event_files, register_with, row_count
from dataflywheel.ingest.tables import RAW_SCHEMA, WIRE_COLUMNS, ensure_raw_tables
from dataflywheel.ingest.validation import PARSED_TS, Bounds, parsed_event_ts, reason_sql, typed_select_sql
from dataflywheel.warehouse.duckdb import transaction

RAW_TABLES = ("raw_events", "quarantined_events", "duplicate_events")


@dataclass
class HourCounts:
    landed: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    files: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    lateness_seconds: dict[str, float] = field(default_factory=dict)  # p50/p90/p99/max
    event_dates: dict[str, int] = field(default_factory=dict)  # loaded events by event-time day
    beyond_watermark: int = 0  # loaded events that arrived later than the allowed lateness

    @property
    def conserved(self) -> bool:
        return self.landed == self.loaded + self.duplicates + self.quarantined


def landed_row_count(files: list[str]) -> int:
    """Rows in the landed files, from Parquet footers: independent of the load query."""
    return sum(row_count(f) for f in files)


def ingest_hour(
    con: duckdb.DuckDBPyConnection,
    landing_root: str,
    hour: datetime,
    horizon: timedelta = timedelta(days=7),
    bounds: Bounds = Bounds(),
    allowed_lateness: timedelta = timedelta(hours=2),
) -> HourCounts:
    """Replace arrival hour ``hour`` (naive UTC) in the raw tables from its landed files.

    Events later than ``allowed_lateness`` are loaded like any other and counted: they are
    the ones that make already-built event days stale.
    """
    ensure_raw_tables(con)
    files = event_files(landing_root, hour.strftime("%Y-%m-%dT%H"))
    register_with(con, landing_root)
    hour_sql = f"TIMESTAMP '{hour:%Y-%m-%d %H:00:00}'"
    wire_cols = ", ".join(name for name, _ in WIRE_COLUMNS)
    with transaction(con):
        for table in RAW_TABLES:
            con.execute(f"DELETE FROM {RAW_SCHEMA}.{table} WHERE arrival_hour = {hour_sql}")
        if files:
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE landed AS
                SELECT *, {reason_sql(bounds, PARSED_TS)} AS reason
                FROM (
                    SELECT * EXCLUDE (received_ts, filename), received_ts::TIMESTAMP AS received_ts,
                           parse_filename(filename) AS source_file, {parsed_event_ts()} AS {PARSED_TS}
                    FROM read_parquet(?, filename = true, file_row_number = true, hive_partitioning = false))""",
                [files],
            )
            _load(con, hour_sql, wire_cols, horizon)
    return _counts(con, hour_sql, files, allowed_lateness)


def _load(con: duckdb.DuckDBPyConnection, hour_sql: str, wire_cols: str, horizon: timedelta) -> None:
    con.execute(
        f"""INSERT INTO {RAW_SCHEMA}.quarantined_events
        SELECT {wire_cols}, {hour_sql}, reason, source_file FROM landed WHERE reason IS NOT NULL"""
    )
    # The first delivery within the hour wins; later copies are duplicates of it.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE later_copies AS
        SELECT event_id, source_file, file_row_number FROM landed
        WHERE reason IS NULL AND event_id IN (
            SELECT event_id FROM landed WHERE reason IS NULL GROUP BY event_id HAVING count(*) > 1)
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY received_ts, source_file, file_row_number) > 1"""
    )
    hours = int(horizon.total_seconds() // 3600)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE seen_elsewhere AS
        SELECT r.event_id, min(r.arrival_hour) AS kept_in
        FROM {RAW_SCHEMA}.raw_events r
        WHERE r.event_id IN (SELECT event_id FROM landed WHERE reason IS NULL)
          -- Ids are time-ordered (UUIDv7-style), so this range lets DuckDB skip old row groups.
          AND r.event_id BETWEEN (SELECT min(event_id) FROM landed) AND (SELECT max(event_id) FROM landed)
          AND r.arrival_hour BETWEEN {hour_sql} - INTERVAL {hours} HOUR AND {hour_sql} + INTERVAL {hours} HOUR
          AND r.arrival_hour <> {hour_sql}
        GROUP BY r.event_id"""
    )
    con.execute(
        f"""INSERT INTO {RAW_SCHEMA}.duplicate_events
        SELECT l.event_id, l.received_ts, {hour_sql}, coalesce(s.kept_in, {hour_sql}), l.source_file
        FROM landed l
        LEFT JOIN seen_elsewhere s USING (event_id)
        LEFT JOIN later_copies c USING (source_file, file_row_number)
        WHERE l.reason IS NULL AND (s.event_id IS NOT NULL OR c.event_id IS NOT NULL)"""
    )
    con.execute(
        f"""INSERT INTO {RAW_SCHEMA}.raw_events
        SELECT {typed_select_sql(PARSED_TS)}, {hour_sql}, source_file FROM landed l
        WHERE l.reason IS NULL
          AND NOT EXISTS (SELECT 1 FROM seen_elsewhere s WHERE s.event_id = l.event_id)
          AND NOT EXISTS (SELECT 1 FROM later_copies c
                          WHERE c.source_file = l.source_file AND c.file_row_number = l.file_row_number)"""
    )


def _counts(con: duckdb.DuckDBPyConnection, hour_sql: str, files: list[str], allowed_lateness: timedelta) -> HourCounts:
    """What the hour's rows became, read back from the tables (one scan per table)."""
    where = f"WHERE arrival_hour = {hour_sql}"
    reasons = dict(
        con.execute(
            f"SELECT reason, count(*) FROM {RAW_SCHEMA}.quarantined_events {where} GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    loaded, quantiles, worst, beyond_watermark = con.execute(
        f"""SELECT count(*), quantile_cont(lag, [0.5, 0.9, 0.99]), max(lag), count(*) FILTER (WHERE lag > ?)
            FROM (SELECT epoch(received_ts - event_ts) AS lag FROM {RAW_SCHEMA}.raw_events {where})""",
        [allowed_lateness.total_seconds()],
    ).fetchone()
    quantiles = quantiles or [None, None, None]
    return HourCounts(
        landed=landed_row_count(files),
        files=len(files),
        loaded=loaded,
        duplicates=con.execute(f"SELECT count(*) FROM {RAW_SCHEMA}.duplicate_events {where}").fetchone()[0],
        quarantined=sum(reasons.values()),
        reasons=reasons,
        lateness_seconds={"p50": quantiles[0], "p90": quantiles[1], "p99": quantiles[2], "max": worst},
        event_dates={
            str(day): n
            for day, n in con.execute(
                f"SELECT CAST(event_ts AS DATE), count(*) FROM {RAW_SCHEMA}.raw_events {where} GROUP BY 1 ORDER BY 1"
            ).fetchall()
        },
        beyond_watermark=beyond_watermark,
    )
