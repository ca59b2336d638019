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

from dataflywheel.ingest.landing import event_files, filesystem, row_count
from dataflywheel.ingest.tables import RAW_SCHEMA, WIRE_COLUMNS, ensure_raw_tables
from dataflywheel.ingest.validation import PARSED_TS, Bounds, reason_sql, typed_select_sql
from dataflywheel.warehouse.engine import Engine

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
    engine: Engine,
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
    ensure_raw_tables(engine)
    files = event_files(landing_root, hour.strftime("%Y-%m-%dT%H"))
    engine.read_filesystem(filesystem(landing_root))
    hour_sql = f"TIMESTAMP '{hour:%Y-%m-%d %H:00:00}'"
    with engine.transaction():
        for table in RAW_TABLES:
            engine.execute(f"DELETE FROM {RAW_SCHEMA}.{table} WHERE arrival_hour = {hour_sql}")
        if files:
            with engine.staged("landed", _landed_sql(engine, files, bounds)):
                _load(engine, hour_sql, horizon)
    return _counts(engine, hour_sql, files, allowed_lateness)


def _landed_sql(engine: Engine, files: list[str], bounds: Bounds) -> str:
    """The hour's landed rows with their address, parsed timestamp and validation verdict."""
    wire_text = ", ".join(name for name, _ in WIRE_COLUMNS if name != "received_ts")
    return f"""SELECT *, {reason_sql(engine, bounds, PARSED_TS)} AS reason
        FROM (
            SELECT {wire_text}, CAST(received_ts AS TIMESTAMP) AS received_ts, source_file, file_row_number,
                   {engine.parse_wire_timestamp_sql("event_ts")} AS {PARSED_TS}
            FROM {engine.landed_files_sql(files)} f) typed"""


def _load(engine: Engine, hour_sql: str, horizon: timedelta) -> None:
    wire_cols = ", ".join(name for name, _ in WIRE_COLUMNS)
    engine.execute(
        f"""INSERT INTO {RAW_SCHEMA}.quarantined_events
        SELECT {wire_cols}, {hour_sql}, reason, source_file FROM landed WHERE reason IS NOT NULL"""
    )
    # The first delivery within the hour wins; later copies are duplicates of it.
    later_copies = """SELECT event_id, source_file, file_row_number FROM (
            SELECT event_id, source_file, file_row_number,
                   row_number() OVER (PARTITION BY event_id ORDER BY received_ts, source_file, file_row_number)
                       AS delivery
            FROM landed
            WHERE reason IS NULL AND event_id IN (
                SELECT event_id FROM landed WHERE reason IS NULL GROUP BY event_id HAVING count(*) > 1)) copies
        WHERE delivery > 1"""
    hours = int(horizon.total_seconds() // 3600)
    seen_elsewhere = f"""SELECT r.event_id, min(r.arrival_hour) AS kept_in
        FROM {RAW_SCHEMA}.raw_events r
        WHERE r.event_id IN (SELECT event_id FROM landed WHERE reason IS NULL)
          -- Ids are time-ordered (UUIDv7-style), so this range lets DuckDB skip old row groups.
          AND r.event_id BETWEEN (SELECT min(event_id) FROM landed) AND (SELECT max(event_id) FROM landed)
          AND r.arrival_hour BETWEEN {hour_sql} - INTERVAL {hours} HOUR AND {hour_sql} + INTERVAL {hours} HOUR
          AND r.arrival_hour <> {hour_sql}
        GROUP BY r.event_id"""
    with engine.staged("later_copies", later_copies), engine.staged("seen_elsewhere", seen_elsewhere):
        _insert_outcomes(engine, hour_sql)


def _insert_outcomes(engine: Engine, hour_sql: str) -> None:
    """Each valid landed row goes to exactly one of duplicate_events or raw_events."""
    engine.execute(
        f"""INSERT INTO {RAW_SCHEMA}.duplicate_events
        SELECT l.event_id, l.received_ts, {hour_sql}, coalesce(s.kept_in, {hour_sql}), l.source_file
        FROM landed l
        LEFT JOIN seen_elsewhere s USING (event_id)
        LEFT JOIN later_copies c USING (source_file, file_row_number)
        WHERE l.reason IS NULL AND (s.event_id IS NOT NULL OR c.event_id IS NOT NULL)"""
    )
    engine.execute(
        f"""INSERT INTO {RAW_SCHEMA}.raw_events
        SELECT {typed_select_sql(engine, PARSED_TS)}, {hour_sql}, source_file FROM landed l
        WHERE l.reason IS NULL
          AND NOT EXISTS (SELECT 1 FROM seen_elsewhere s WHERE s.event_id = l.event_id)
          AND NOT EXISTS (SELECT 1 FROM later_copies c
                          WHERE c.source_file = l.source_file AND c.file_row_number = l.file_row_number)"""
    )


def _counts(engine: Engine, hour_sql: str, files: list[str], allowed_lateness: timedelta) -> HourCounts:
    """What the hour's rows became, read back from the tables (one scan per table)."""
    where = f"WHERE arrival_hour = {hour_sql}"
    reasons = dict(
        engine.frame(
            f"SELECT reason, count(*) AS n FROM {RAW_SCHEMA}.quarantined_events {where} GROUP BY 1 ORDER BY 1"
        ).iter_rows()
    )
    fractions = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
    quantiles = ", ".join(f"{engine.quantile_sql('lag', q)} AS {name}" for name, q in fractions.items())
    lag = engine.frame(
        f"""SELECT count(*) AS loaded, {quantiles},
                   max(lag) AS max, count(*) FILTER (WHERE lag > ?) AS beyond_watermark
            FROM (SELECT {engine.seconds_between_sql("received_ts", "event_ts")} AS lag
                  FROM {RAW_SCHEMA}.raw_events {where}) lags""",
        [allowed_lateness.total_seconds()],
    ).row(0, named=True)
    return HourCounts(
        landed=landed_row_count(files),
        files=len(files),
        loaded=lag["loaded"],
        duplicates=engine.scalar(f"SELECT count(*) FROM {RAW_SCHEMA}.duplicate_events {where}"),
        quarantined=sum(reasons.values()),
        reasons=reasons,
        lateness_seconds={k: lag[k] for k in (*fractions, "max")},
        event_dates={
            str(day): n
            for day, n in engine.frame(
                f"""SELECT CAST(event_ts AS DATE) AS day, count(*) AS n FROM {RAW_SCHEMA}.raw_events {where}
                GROUP BY 1 ORDER BY 1"""
            ).iter_rows()
        },
        beyond_watermark=lag["beyond_watermark"],
    )
