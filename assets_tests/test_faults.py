"""Fault injection at the landing zone: bad files, hostile strings, redeliveries at the edges.

Every case loads real Parquet files through ``ingest_hour`` on DuckDB and ends with the same
questions: does conservation hold, is every good row loaded exactly once, and does the place a
bad file or row ends up name it and say why. The README's fault table lists these cases.
"""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataflywheel.contracts.schema import wire_timestamp
from dataflywheel.ingest.landed_files import FileReason
from dataflywheel.ingest.landing import WIRE_SCHEMA, hour_dir, land_events
from dataflywheel.ingest.raw_events import RAW_TABLES, ingest_hour
from dataflywheel.ingest.validation import Reason
from dataflywheel.warehouse.duckdb import DuckDBEngine, connect
from helpers import land_rows, wire_frame

HOUR = datetime(2026, 11, 18, 10)
RECEIVED = HOUR.replace(minute=20)
GOOD_ROWS = 50


def _events(prefix: str, n: int, event_ts: datetime = RECEIVED) -> list[dict]:
    return [{"event_id": f"{prefix}-{i:04d}", "event_ts": wire_timestamp(event_ts)} for i in range(n)]


def _wire_table(rows: list[dict], received: datetime = RECEIVED) -> pa.Table:
    frame = wire_frame([{**row, "received_ts": received.replace(tzinfo=timezone.utc)} for row in rows])
    return frame.drop("_fault").to_arrow().select(WIRE_SCHEMA.names).cast(WIRE_SCHEMA)


def _invalid_utf8(table: pa.Table) -> pa.Table:
    """The same rows with one user_id that is not UTF-8, written as a UTF8 column all the same."""
    values = [v.encode() for v in table.column("user_id").to_pylist()]
    values[3] = b"u\xff\xfe"
    broken = pa.array(values, pa.binary()).view(pa.string())
    return table.set_column(table.schema.get_field_index("user_id"), "user_id", broken)


BAD_FILES = {
    # kind -> (what is written, the reason it must be quarantined with, rows its footer gives)
    "random bytes": (lambda t, path: path.write_bytes(bytes(range(256)) * 8), FileReason.UNREADABLE_FILE, 0),
    "zero bytes": (lambda t, path: path.write_bytes(b""), FileReason.UNREADABLE_FILE, 0),
    "truncated": (lambda t, path: path.write_bytes(_parquet_bytes(t)[:-40]), FileReason.UNREADABLE_FILE, 0),
    "no event_id": (lambda t, path: pq.write_table(t.drop_columns(["event_id"]), path), FileReason.MISSING_COLUMNS, 7),
    "extra column": (
        lambda t, path: pq.write_table(t.append_column("browser", pa.array(["x"] * t.num_rows)), path),
        FileReason.UNEXPECTED_COLUMNS,
        7,
    ),
    "event_ts as int64": (
        lambda t, path: pq.write_table(t.set_column(2, "event_ts", pa.array(range(t.num_rows), pa.int64())), path),
        FileReason.MISTYPED_COLUMNS,
        7,
    ),
    "invalid UTF-8": (lambda t, path: pq.write_table(_invalid_utf8(t), path), FileReason.UNDECODABLE_CONTENT, 7),
    "corrupt page": (lambda t, path: path.write_bytes(_corrupt_page(t)), FileReason.UNDECODABLE_CONTENT, 7),
}


def _corrupt_page(table: pa.Table) -> bytes:
    """A file whose footer is intact but whose first data page does not decompress."""
    data = bytearray(_parquet_bytes(table.select(WIRE_SCHEMA.names), compression="snappy"))
    for i in range(8, 40):  # inside the first column chunk, after the magic bytes
        data[i] ^= 0xFF
    return bytes(data)


def _parquet_bytes(table: pa.Table, **options) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **options)
    return sink.getvalue().to_pybytes()


def _tables(con, hour=HOUR) -> dict[str, list]:
    return {
        t: con.execute(
            f"SELECT * EXCLUDE (arrival_hour) FROM raw.{t} WHERE arrival_hour = ? ORDER BY ALL", [hour]
        ).fetchall()
        for t in RAW_TABLES
    }


def _land_with_bad_file(root: Path, kind: str, bad_name: str) -> None:
    land_rows(root, RECEIVED, "good-1", _events("good1", GOOD_ROWS))
    land_rows(root, RECEIVED, "good-2", _events("good2", GOOD_ROWS))
    write, _, _ = BAD_FILES[kind]
    folder = Path(hour_dir(str(root), f"{HOUR:%Y-%m-%dT%H}"))
    write(_wire_table(_events("bad", 7)), folder / bad_name)


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_is_quarantined_whole_and_never_blocks_its_hour_whatever_its_place(kind, tmp_path):
    reason, footer_rows = BAD_FILES[kind][1:]
    outcomes = {}
    for place, bad_name in (("first", "000-bad.parquet"), ("last", "zzz-bad.parquet")):
        root = tmp_path / place / "landing"
        _land_with_bad_file(root, kind, bad_name)
        con = connect(tmp_path / place / "warehouse.duckdb")
        counts = ingest_hour(DuckDBEngine(con), str(root), HOUR)
        assert counts.conserved, (kind, place)
        assert counts.loaded == 2 * GOOD_ROWS  # every good row, whatever the bad file
        assert [(f.name, f.rejected, f.rows) for f in counts.rejected_files] == [(bad_name, reason, footer_rows)]
        assert counts.files == counts.files_accounted == 3
        recorded = con.execute("SELECT source_file, reason, detail FROM raw.quarantined_files").fetchall()
        assert [(name, why) for name, why, _ in recorded] == [(bad_name, reason.value)]
        assert recorded[0][2]  # and says what is wrong with it
        outcomes[place] = {
            t: [row[:-1] if t != "quarantined_files" else row[1:2] for row in rows] for t, rows in _tables(con).items()
        }
    assert outcomes["first"] == outcomes["last"]  # the file's place in the listing changes nothing


def test_a_mistyped_column_is_named_in_the_reason(tmp_path):
    _land_with_bad_file(tmp_path / "landing", "event_ts as int64", "x.parquet")
    counts = ingest_hour(DuckDBEngine(connect(tmp_path / "w.duckdb")), str(tmp_path / "landing"), HOUR)
    assert counts.rejected_files[0].detail == "event_ts is int64"


def test_an_hour_of_only_bad_files_loads_nothing_and_still_conserves(tmp_path):
    folder = Path(hour_dir(str(tmp_path / "landing"), f"{HOUR:%Y-%m-%dT%H}"))
    folder.mkdir(parents=True)
    (folder / "a.parquet").write_bytes(b"")
    pq.write_table(_invalid_utf8(_wire_table(_events("x", 9))), folder / "b.parquet")
    pq.write_table(_invalid_utf8(_wire_table(_events("y", 8))), folder / "c.parquet")
    con = connect(tmp_path / "w.duckdb")
    counts = ingest_hour(DuckDBEngine(con), str(tmp_path / "landing"), HOUR)
    assert counts.conserved and counts.loaded == 0 and counts.landed == 17
    reasons = sorted(str(f.rejected) for f in counts.rejected_files)
    assert reasons == ["undecodable_content", "undecodable_content", "unreadable_file"]


def test_the_engines_own_trouble_fails_the_run_and_sets_no_file_aside(tmp_path, monkeypatch):
    """Out of memory or disk is not a file's fault: the hour fails (and is retried), nothing is quarantined."""
    import duckdb

    land_rows(tmp_path / "landing", RECEIVED, "a", _events("ok", 10))
    con = connect(tmp_path / "w.duckdb")
    engine = DuckDBEngine(con)

    def out_of_memory(name, query):
        raise duckdb.OutOfMemoryException("could not allocate block")

    monkeypatch.setattr(engine, "staged", out_of_memory)
    with pytest.raises(duckdb.OutOfMemoryException):
        ingest_hour(engine, str(tmp_path / "landing"), HOUR)
    assert con.execute("SELECT count(*) FROM raw.quarantined_files").fetchone()[0] == 0


def test_removing_a_bad_file_and_rerunning_the_hour_clears_its_quarantine(tmp_path):
    root = tmp_path / "landing"
    _land_with_bad_file(root, "random bytes", "bad.parquet")
    con = connect(tmp_path / "w.duckdb")
    first = ingest_hour(DuckDBEngine(con), str(root), HOUR)
    Path(hour_dir(str(root), f"{HOUR:%Y-%m-%dT%H}"), "bad.parquet").unlink()
    again = ingest_hour(DuckDBEngine(con), str(root), HOUR)
    assert again.conserved and not again.rejected_files and again.loaded == first.loaded
    assert again.fingerprint != first.fingerprint  # what the landing sensor sees change
    assert con.execute("SELECT count(*) FROM raw.quarantined_files").fetchone()[0] == 0


STRING_FAULTS = [
    ("user_id", "u1\x00", Reason.CONTROL_CHARACTERS),
    ("user_id", "u1\nforged log line", Reason.CONTROL_CHARACTERS),
    ("user_id", "u1\x1b[2J", Reason.CONTROL_CHARACTERS),
    ("item_id", "i1\u202egpj.exe", Reason.CONTROL_CHARACTERS),
    ("tenant_id", "t1\u200b", Reason.CONTROL_CHARACTERS),
    ("properties", '{"blob": "' + "x" * 1_000_000 + '"}', Reason.FIELD_TOO_LONG),
    ("user_id", "u" * 10_000, Reason.FIELD_TOO_LONG),
]


@pytest.mark.parametrize("field, value, reason", STRING_FAULTS, ids=[f"{f}-{r}-{len(v)}" for f, v, r in STRING_FAULTS])
def test_hostile_strings_are_quarantined_with_their_own_reason(field, value, reason, tmp_path):
    hostile = {
        "event_id": "hostile",
        "event_ts": wire_timestamp(RECEIVED),
        "event_type": "issue_viewed",
        "item_id": "i1",
        "item_type": "jira_issue",
        "surface": "direct",
        field: value,
    }
    land_rows(tmp_path / "landing", RECEIVED, "a", [*_events("ok", 10), hostile])
    con = connect(tmp_path / "w.duckdb")
    counts = ingest_hour(DuckDBEngine(con), str(tmp_path / "landing"), HOUR)
    assert counts.conserved and counts.loaded == 10 and counts.reasons == {reason.value: 1}
    kept = con.execute(f"SELECT {field}, source_file FROM raw.quarantined_events").fetchall()
    assert kept == [(value, "a.parquet")]  # the original text is kept, byte for byte, with its file


@pytest.mark.parametrize(
    "event_ts", ["0001-01-01T00:30:00.000Z", "9999-12-31T23:00:00.000Z", "1970-01-01T00:00:00.000Z"]
)
def test_an_absurd_event_time_is_quarantined_and_the_hour_loads(event_ts, tmp_path):
    land_rows(tmp_path / "landing", RECEIVED, "a", [*_events("ok", 10), {"event_id": "far", "event_ts": event_ts}])
    counts = ingest_hour(DuckDBEngine(connect(tmp_path / "w.duckdb")), str(tmp_path / "landing"), HOUR)
    assert counts.conserved and counts.loaded == 10
    assert counts.reasons == {Reason.TIMESTAMP_OUT_OF_BOUNDS.value: 1}


def test_copies_of_one_event_in_one_hour_are_judged_together_whatever_their_event_ts(tmp_path):
    """Two rows with one id: one copy's window reaches the hour that loaded the event, the other's does not."""
    first = datetime(2026, 11, 10, 11, 5)
    land_rows(tmp_path / "landing", first, "orig", [{"event_id": "018f-x", "event_ts": wire_timestamp(first)}])
    later = first + timedelta(days=7)
    rows = [
        {"event_id": "018f-x", "event_ts": wire_timestamp(first)},
        {"event_id": "018f-x", "event_ts": wire_timestamp(later)},
    ]
    land_rows(tmp_path / "landing", later, "again", rows)
    con = connect(tmp_path / "w.duckdb")
    for hour in (first.replace(minute=0), later.replace(minute=0)):
        assert ingest_hour(DuckDBEngine(con), str(tmp_path / "landing"), hour).conserved
    assert con.execute("SELECT count(*) FROM raw.raw_events").fetchone()[0] == 1
    kept_in = con.execute("SELECT DISTINCT kept_in_arrival_hour FROM raw.duplicate_events").fetchall()
    assert kept_in == [(first.replace(minute=0),)]  # both copies point where the event is


# Redeliveries. The guarantee (docs/architecture.md): a copy of an event is a duplicate, loaded once,
# whenever both copies are accepted deliveries - each received within [event_ts - max_future,
# event_ts + max_lateness] - or the later one is a late redelivery of a loaded event; a row
# received outside its folder's hour is quarantined.
DAY = timedelta(days=1)


def _load_hours(tmp_path, deliveries, order=sorted):
    """Land each (received_ts, folder hour, event_ts) delivery of one event id, then load the hours."""
    root = tmp_path / "landing"
    for n, (received, folder, event_ts) in enumerate(deliveries):
        row = {
            "event_id": "018f-redelivered",
            "event_ts": wire_timestamp(event_ts),
            "received_ts": received.replace(tzinfo=timezone.utc),
        }
        frame = wire_frame([row]).drop("_fault").to_arrow()
        land_events(str(root), f"{folder:%Y-%m-%dT%H}", f"copy{n}", frame)
    con = connect(tmp_path / "w.duckdb")
    hours = order({folder.replace(minute=0, second=0, microsecond=0) for _, folder, _ in deliveries})
    counts = [ingest_hour(DuckDBEngine(con), str(root), hour) for hour in hours]
    assert all(c.conserved for c in counts)
    loaded = con.execute("SELECT count(*) FROM raw.raw_events").fetchone()[0]
    duplicates = con.execute("SELECT count(*) FROM raw.duplicate_events").fetchone()[0]
    reasons = dict(con.execute("SELECT reason, count(*) FROM raw.quarantined_events GROUP BY 1").fetchall())
    return loaded, duplicates, reasons


T = datetime(2026, 11, 10, 12, 30)  # the event's own time
E = T.replace(minute=5)  # one five minutes into its hour
OUT_OF_BOUNDS = {Reason.TIMESTAMP_OUT_OF_BOUNDS.value: 1}
ORDERS = {"forward": sorted, "backward": lambda hours: sorted(hours, reverse=True)}


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    "deliveries, expected",
    [
        # the same batch re-landed 8 days later with received_ts unchanged: not this folder's row
        ([(T, T, T), (T, T + 8 * DAY, T)], (1, 0, {Reason.RECEIVED_OUTSIDE_ARRIVAL_HOUR.value: 1})),
        # client clock 9 min ahead (allowed): the first copy arrived in the hour before its event_ts, the
        # redelivery exactly 7 days after it (allowed), 169 arrival hours apart
        ([(E - timedelta(minutes=9), E - timedelta(minutes=9), E), (E + 7 * DAY, E + 7 * DAY, E)], (1, 1, {})),
        # the accepted window's two edges: 10 min early and exactly 7 days late
        ([(T - timedelta(minutes=10), T - timedelta(minutes=10), T), (T + 7 * DAY, T + 7 * DAY, T)], (1, 1, {})),
        # re-stamped by the collector 8 days later: out of bounds alone, but a copy of a loaded event
        # (loaded in reverse, before its original, it can only be judged out of bounds: still once)
        ([(T, T, T), (T + 8 * DAY, T + 8 * DAY, T)], {"forward": (1, 1, {}), "backward": (1, 0, OUT_OF_BOUNDS)}),
        # 30 days later: still recognized
        ([(T, T, T), (T + 30 * DAY, T + 30 * DAY, T)], {"forward": (1, 1, {}), "backward": (1, 0, OUT_OF_BOUNDS)}),
        # a first delivery already too late is quarantined: nothing was loaded to be a copy of
        ([(T + 8 * DAY, T + 8 * DAY, T)], (0, 0, OUT_OF_BOUNDS)),
    ],
    ids=["relanded-unchanged", "skewed-169h", "window-edges", "restamped-8d", "restamped-30d", "only-too-late"],
)
def test_redeliveries_load_once(deliveries, expected, order, tmp_path):
    expected = expected[order] if isinstance(expected, dict) else expected
    assert _load_hours(tmp_path, deliveries, ORDERS[order]) == expected
