"""Each validation rule, run by the real validator in DuckDB, on rows broken the way clients break them."""

from datetime import datetime, timezone

import duckdb
import polars as pl
import pytest

from dataflywheel.ingest.validation import Reason, reason_sql
from dataflywheel.simulator.wire import MALFORMED_KINDS, breakage
from dataflywheel.warehouse.duckdb import DuckDBEngine
from helpers import SEARCH_EVENT

RECEIVED = datetime(2026, 11, 16, 10, 0, 5, tzinfo=timezone.utc)
ARRIVAL_HOUR = "TIMESTAMP '2026-11-16 10:00:00'"  # the folder the rows landed in
VALID = {  # a home-feed impression: the type with the most required fields
    **SEARCH_EVENT,
    "event_id": "018f000000000000000000000000abcd",
    "event_type": "rec_impression",
    "event_ts": "2026-11-16T10:00:03.120Z",
    "item_id": "i20",
    "item_type": "jira_issue",
    "surface": "home_feed",
    "rec_request_id": "r5",
    "position": "3",
    "propensity": "0.02",
    "model_version": "sim-popularity-v0",
    "received_ts": RECEIVED,
}


def reason_of(rows: pl.DataFrame) -> list[str | None]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    wire = rows.to_arrow()  # noqa: F841 - scanned by DuckDB below
    return [
        r[0]
        for r in con.execute(
            f"SELECT {reason_sql(DuckDBEngine(con), ARRIVAL_HOUR)} FROM "
            "(SELECT * EXCLUDE (received_ts), received_ts::TIMESTAMP AS received_ts FROM wire)"
        ).fetchall()
    ]


def test_a_well_formed_event_passes():
    assert reason_of(pl.DataFrame([VALID])) == [None]


@pytest.mark.parametrize("reason", MALFORMED_KINDS, ids=str)
def test_each_broken_row_gets_exactly_its_reason(reason):
    broken = pl.DataFrame([VALID]).with_columns(**breakage(reason))
    assert reason_of(broken) == [reason.value]


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"rec_request_id": None}, Reason.MISSING_REQUIRED_FIELD),  # required for feed events only
        ({"propensity": "0"}, Reason.INVALID_NUMBER),
        ({"propensity": "1.5"}, Reason.INVALID_NUMBER),
        ({"position": "-1"}, Reason.INVALID_NUMBER),
        ({"event_ts": "2026-11-09T10:00:00.000Z"}, Reason.TIMESTAMP_OUT_OF_BOUNDS),  # older than 7 days
        ({"event_ts": "2026-11-16T10:20:00.000Z"}, Reason.TIMESTAMP_OUT_OF_BOUNDS),  # 20 min in the future
        ({"item_type": "trello_card"}, Reason.INVALID_ENUM),
        ({"schema_version": "one"}, Reason.UNSUPPORTED_SCHEMA_VERSION),
        ({"event_id": ""}, Reason.MISSING_REQUIRED_FIELD),
        # received_ts is the collector's: a row whose folder disagrees was moved or re-landed
        ({"received_ts": datetime(2026, 11, 16, 11, tzinfo=timezone.utc)}, Reason.RECEIVED_OUTSIDE_ARRIVAL_HOUR),
        ({"received_ts": datetime(2026, 11, 16, 9, 59, 59, tzinfo=timezone.utc)}, Reason.RECEIVED_OUTSIDE_ARRIVAL_HOUR),
        ({"received_ts": None}, Reason.RECEIVED_OUTSIDE_ARRIVAL_HOUR),
        # every string has a bound; properties a larger one
        ({"user_id": "u" * 129}, Reason.FIELD_TOO_LONG),
        ({"properties": '{"a": "' + "x" * 16_400 + '"}'}, Reason.FIELD_TOO_LONG),
        ({"event_type": "x" * 129}, Reason.FIELD_TOO_LONG),
        # control, zero-width and bidirectional characters in identifiers
        ({"user_id": "u1\x00"}, Reason.CONTROL_CHARACTERS),
        ({"user_id": "u1\nu2"}, Reason.CONTROL_CHARACTERS),
        ({"tenant_id": "t\x1b[31m"}, Reason.CONTROL_CHARACTERS),
        ({"item_id": "i\u202egnp.exe"}, Reason.CONTROL_CHARACTERS),  # right-to-left override
        ({"event_id": "e\u200b1"}, Reason.CONTROL_CHARACTERS),  # zero-width space
        ({"model_version": "m\x9b"}, Reason.CONTROL_CHARACTERS),  # C1 control
    ],
)
def test_rule_edges(change, reason):
    assert reason_of(pl.DataFrame([{**VALID, **change}])) == [reason.value]


@pytest.mark.parametrize(
    "change",
    [
        {"event_ts": "2026-11-16T10:08:00.000Z"},  # skewed clock, within tolerance
        {"event_ts": "2026-11-14T10:00:00.000Z"},  # two days late (offline client)
        {**SEARCH_EVENT, "received_ts": RECEIVED},
        {"user_id": "u" * 128, "properties": '{"a": "' + "x" * 16_370 + '"}'},  # at the bounds
        {"user_id": "Zoë-日本-😀"},  # any printable Unicode
        {"properties": '{"text": "line one\\nline two"}'},  # JSON escapes in properties are fine
        {"received_ts": datetime(2026, 11, 16, 10, 59, 59, 999000, tzinfo=timezone.utc)},
    ],
)
def test_legitimate_variations_are_not_quarantined(change):
    assert reason_of(pl.DataFrame([{**VALID, **change}])) == [None]
