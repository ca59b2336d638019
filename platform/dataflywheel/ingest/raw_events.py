"""Load one arrival hour of landed events into ``raw.raw_events``: screen, validate, dedup, quarantine.

The whole hour is replaced in one transaction, so re-running an hour (a retry after a
crash, a backfill, a bad file replaced) gives the same tables. Every landed file and row
ends up in exactly one place:

    landed rows = loaded (raw_events) + duplicates (duplicate_events)
                  + quarantined rows (quarantined_events) + rows of quarantined files (quarantined_files)

Files are screened from their footers first (``landed_files``), so a bad file is set aside
whole and never blocks the rest of its hour. Dedup is by ``event_id``, against the hour
itself and against every other loaded hour in which a copy of the same event could have
been accepted (``Bounds.accepted_arrivals`` of its ``event_ts``), earlier or later, so two
accepted copies are loaded once whichever hour loads first. A copy re-stamped so late that
on its own it is out of bounds is a duplicate when its event is already loaded, and
quarantined when it is not (docs/architecture.md: the guarantee, exactly).
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from dataflywheel.ingest.landed_files import FileReason, LandedFile, error_summary, screen
from dataflywheel.ingest.landing import event_file_stamps, filesystem, fingerprint
from dataflywheel.ingest.tables import RAW_SCHEMA, WIRE_COLUMNS, ensure_raw_tables
from dataflywheel.ingest.validation import PARSED_TS, Bounds, Reason, reason_sql, typed_select_sql
from dataflywheel.warehouse.engine import Engine

RAW_TABLES = ("raw_events", "quarantined_events", "duplicate_events", "quarantined_files")
ROW_TABLES = RAW_TABLES[:3]  # the tables holding one row per landed row


@dataclass
class HourCounts:
    landed: int = 0  # rows, from the footers of every landed file
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0  # rows quarantined one by one
    files: int = 0
    files_accounted: int = 0  # files whose rows reached the tables, set aside, or that were empty
    fingerprint: str = ""  # of the hour's files as listed (landing.fingerprint): what the landing sensor compares
    rejected_files: list[LandedFile] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    lateness_seconds: dict[str, float] = field(default_factory=dict)  # p50/p90/p99/max
    event_dates: dict[str, int] = field(default_factory=dict)  # loaded events by event-time day
    beyond_watermark: int = 0  # loaded events that arrived later than the allowed lateness

    @property
    def rejected_rows(self) -> int:
        return sum(f.rows for f in self.rejected_files)

    @property
    def conserved(self) -> bool:
        rows = self.loaded + self.duplicates + self.quarantined + self.rejected_rows
        return self.landed == rows and self.files == self.files_accounted


def ingest_hour(
    engine: Engine,
    landing_root: str,
    hour: datetime,
    bounds: Bounds = Bounds(),
    allowed_lateness: timedelta = timedelta(hours=2),
) -> HourCounts:
    """Replace arrival hour ``hour`` (naive UTC) in the raw tables from its landed files.

    Events later than ``allowed_lateness`` are loaded like any other and counted: they are
    the ones that make already-built event days stale.
    """
    ensure_raw_tables(engine)
    stamps = event_file_stamps(landing_root, hour.strftime("%Y-%m-%dT%H"))
    engine.read_filesystem(filesystem(landing_root))
    hour_sql = f"TIMESTAMP '{hour:%Y-%m-%d %H:00:00}'"
    with _staged_landed(engine, [screen(url) for url in stamps], bounds, hour_sql) as files:
        with engine.transaction():
            for table in RAW_TABLES:
                engine.execute(f"DELETE FROM {RAW_SCHEMA}.{table} WHERE arrival_hour = {hour_sql}")
            if any(f.rejected is None for f in files):
                _load(engine, hour_sql, bounds)
            _record_rejected(engine, hour, [f for f in files if f.rejected is not None])
    counts = _counts(engine, hour_sql, files, allowed_lateness)
    counts.fingerprint = fingerprint(stamps)
    return counts


@contextmanager
def _staged_landed(engine: Engine, files: list[LandedFile], bounds: Bounds, hour_sql: str):
    """Stage the rows of the readable files as ``landed``, yielding every file with its verdict.

    Staged before the hour's transaction, so a file the engine fails to decode costs a
    re-read, not the transaction: each file is then read alone to find the ones at fault.
    """
    with ExitStack() as stack:
        readable = [f.url for f in files if f.rejected is None]
        try:
            if readable:
                stack.enter_context(engine.staged("landed", _landed_sql(engine, readable, bounds, hour_sql)))
        except Exception as error:
            if not engine.is_data_error(error):
                raise  # the engine's or the machine's trouble: the run fails and is retried, no file set aside
            # Which file: only reading them one by one tells.
            errors = {url: message for url in readable if (message := _read_error(engine, url, bounds, hour_sql))}
            if not errors or (len(errors) > 1 and len(set(errors.values())) == 1):
                raise  # no file fails alone, or all the same way (files' own errors name the file)
            files = [f.reject(FileReason.UNDECODABLE_CONTENT, errors[f.url]) if f.url in errors else f for f in files]
            readable = [f.url for f in files if f.rejected is None]
            if readable:
                stack.enter_context(engine.staged("landed", _landed_sql(engine, readable, bounds, hour_sql)))
        yield files


def _read_error(engine: Engine, url: str, bounds: Bounds, hour_sql: str) -> str | None:
    """The engine's data error reading one file alone, or None if it reads."""
    try:
        with engine.staged("landed_probe", _landed_sql(engine, [url], bounds, hour_sql)):
            return None
    except Exception as error:
        if not engine.is_data_error(error):
            raise
        return error_summary(error)


def _landed_sql(engine: Engine, files: list[str], bounds: Bounds, hour_sql: str) -> str:
    """The hour's landed rows with their address, parsed timestamp and validation verdict."""
    wire_text = ", ".join(name for name, _ in WIRE_COLUMNS if name != "received_ts")
    return f"""SELECT *, {reason_sql(engine, hour_sql, bounds, PARSED_TS)} AS reason
        FROM (
            SELECT {wire_text}, CAST(received_ts AS TIMESTAMP) AS received_ts, source_file, file_row_number,
                   {engine.parse_wire_timestamp_sql("event_ts")} AS {PARSED_TS}
            FROM {engine.landed_files_sql(files)} f) typed"""


# Rows that may be copies of an event loaded elsewhere: the valid ones, and those whose event_ts is
# too far from their received_ts, which a late redelivery of a loaded event is.
_DEDUP_CANDIDATE = f"(reason IS NULL OR reason = '{Reason.TIMESTAMP_OUT_OF_BOUNDS}')"


def _load(engine: Engine, hour_sql: str, bounds: Bounds) -> None:
    # Within the hour the first valid delivery wins; later copies are duplicates of it.
    later_copies = f"""SELECT event_id, source_file, file_row_number FROM (
            SELECT event_id, source_file, file_row_number,
                   row_number() OVER (PARTITION BY event_id
                                      ORDER BY reason IS NOT NULL, received_ts, source_file, file_row_number)
                       AS delivery,
                   bool_or(reason IS NULL) OVER (PARTITION BY event_id) AS any_valid
            FROM landed
            WHERE {_DEDUP_CANDIDATE} AND event_id IN (
                SELECT event_id FROM landed WHERE {_DEDUP_CANDIDATE} GROUP BY event_id HAVING count(*) > 1)) copies
        WHERE delivery > 1 AND any_valid"""
    earliest, latest = _candidate_window(engine, bounds)
    first, _ = bounds.accepted_arrivals("l.first_ts")
    _, last = bounds.accepted_arrivals("l.last_ts")
    # Decided per event, over every other hour a copy of it could have been accepted in; ids are
    # time-ordered (UUIDv7-style) and the hours bounded, so DuckDB skips the row groups out of range.
    seen_elsewhere = f"""SELECT l.event_id, min(r.arrival_hour) AS kept_in
        FROM (SELECT event_id, min({PARSED_TS}) AS first_ts, max({PARSED_TS}) AS last_ts
              FROM landed WHERE {_DEDUP_CANDIDATE} GROUP BY event_id) l
        JOIN {RAW_SCHEMA}.raw_events r ON r.event_id = l.event_id
        WHERE r.event_id BETWEEN (SELECT min(event_id) FROM landed) AND (SELECT max(event_id) FROM landed)
          AND r.arrival_hour BETWEEN {earliest} AND {latest}
          AND r.arrival_hour BETWEEN {first} AND {last}
          AND r.arrival_hour <> {hour_sql}
        GROUP BY l.event_id"""
    # Every copy of an event kept in another hour points there; otherwise to the first copy, kept here.
    copies = f"""SELECT l.source_file, l.file_row_number, s.kept_in
        FROM landed l JOIN seen_elsewhere s USING (event_id) WHERE {_DEDUP_CANDIDATE.replace("reason", "l.reason")}
        UNION ALL
        SELECT c.source_file, c.file_row_number, {hour_sql} FROM ({later_copies}) c
        WHERE NOT EXISTS (SELECT 1 FROM seen_elsewhere s WHERE s.event_id = c.event_id)"""
    with engine.staged("seen_elsewhere", seen_elsewhere), engine.staged("copies", copies):
        _insert_outcomes(engine, hour_sql)


def _candidate_window(engine: Engine, bounds: Bounds) -> tuple[str, str]:
    """Constant bounds of every arrival hour any staged row's copies could be in (for pruning).

    Clamped to the years any arrival hour can have: a client may send any event_ts.
    """
    first, _ = bounds.accepted_arrivals(f"min({PARSED_TS})")
    _, last = bounds.accepted_arrivals(f"max({PARSED_TS})")
    window = engine.frame(
        f"""SELECT greatest({first}, {_EARLIEST_ARRIVAL}) AS earliest, least({last}, {_LATEST_ARRIVAL}) AS latest
        FROM landed WHERE {_DEDUP_CANDIDATE}"""
    )
    earliest, latest = window.row(0)
    if earliest is None or earliest > latest:  # no candidate, or none in any possible arrival hour
        return _LATEST_ARRIVAL, _EARLIEST_ARRIVAL  # an empty range
    return f"TIMESTAMP '{earliest:%Y-%m-%d %H:%M:%S}'", f"TIMESTAMP '{latest:%Y-%m-%d %H:%M:%S}' + INTERVAL 1 SECOND"


_EARLIEST_ARRIVAL, _LATEST_ARRIVAL = "TIMESTAMP '2000-01-01'", "TIMESTAMP '2200-01-01'"


def _insert_outcomes(engine: Engine, hour_sql: str) -> None:
    """Each landed row goes to exactly one of duplicate_events, quarantined_events or raw_events."""
    wire_cols = ", ".join(name for name, _ in WIRE_COLUMNS)
    not_a_copy = """NOT EXISTS (SELECT 1 FROM copies c
                        WHERE c.source_file = l.source_file AND c.file_row_number = l.file_row_number)"""
    engine.execute(
        f"""INSERT INTO {RAW_SCHEMA}.duplicate_events
        SELECT l.event_id, l.received_ts, {hour_sql}, c.kept_in, l.source_file
        FROM landed l JOIN copies c USING (source_file, file_row_number)"""
    )
    engine.execute(
        f"""INSERT INTO {RAW_SCHEMA}.quarantined_events
        SELECT {wire_cols}, {hour_sql}, reason, source_file FROM landed l WHERE reason IS NOT NULL AND {not_a_copy}"""
    )
    engine.execute(
        f"""INSERT INTO {RAW_SCHEMA}.raw_events
        SELECT {typed_select_sql(engine, PARSED_TS)}, {hour_sql}, source_file FROM landed l
        WHERE l.reason IS NULL AND {not_a_copy}"""
    )


def _record_rejected(engine: Engine, hour: datetime, rejected: list[LandedFile]) -> None:
    if rejected:
        engine.append_frame(
            f"{RAW_SCHEMA}.quarantined_files",
            pl.DataFrame(
                {
                    "arrival_hour": [hour] * len(rejected),
                    "source_file": [f.name for f in rejected],
                    "reason": [str(f.rejected) for f in rejected],
                    "detail": [f.detail for f in rejected],
                    "rows": [f.rows for f in rejected],
                },
                schema_overrides={"arrival_hour": pl.Datetime("us"), "rows": pl.Int64},
            ),
        )


def _counts(engine: Engine, hour_sql: str, files: list[LandedFile], allowed_lateness: timedelta) -> HourCounts:
    """What the hour's files and rows became, read back from the tables (one scan per table)."""
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
    files_with_rows = " UNION ".join(f"SELECT DISTINCT source_file FROM {RAW_SCHEMA}.{t} {where}" for t in ROW_TABLES)
    return HourCounts(
        landed=sum(f.rows for f in files),
        files=len(files),
        files_accounted=engine.scalar(f"SELECT count(*) FROM ({files_with_rows}) read_files")
        + engine.scalar(f"SELECT count(*) FROM {RAW_SCHEMA}.quarantined_files {where}")
        + sum(1 for f in files if f.rejected is None and f.rows == 0),
        rejected_files=[f for f in files if f.rejected is not None],
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
