"""From true events to what the collector receives: text fields, and the faults of delivery.

Delivery faults are drawn here: network delay, client clock skew, late (offline)
delivery, at-least-once redelivery (duplicates), and malformed rows of every kind the
validator knows. Each malformed row's kind is known, so tests can check that the
validator gives exactly that reason.
"""

from __future__ import annotations

import binascii
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..events.landing import WIRE_SCHEMA
from ..events.schema import SCHEMA_VERSION, ItemType
from ..events.validation import Reason
from .activity import EVENT_TYPES, LOGGING_POLICY, PROPERTIES, SURFACES, DayEvents
from .config import FaultRates
from .world import World

ITEM_TYPES = np.array([ItemType.JIRA_ISSUE.value, ItemType.CONFLUENCE_PAGE.value], dtype=object)
MALFORMED_KINDS = list(Reason)


def _fixed_width_strings(buf: bytes, width: int, n: int) -> pa.Array:
    """Zero-copy Arrow strings from ``n`` back-to-back fixed-width ASCII values."""
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])


def event_ids(ts_us: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """UUIDv7-style ids: 48 bits of millisecond time, then 80 random bits, as 32 hex chars.

    Time-ordered ids keep the warehouse's dedup lookups local to recent data.
    """
    n = len(ts_us)
    raw = np.empty((n, 16), np.uint8)
    raw[:, :6] = (ts_us // 1000).astype(">u8").view(np.uint8).reshape(n, 8)[:, 2:]
    raw[:, 6:] = np.frombuffer(rng.bytes(n * 10), np.uint8).reshape(n, 10)
    return _fixed_width_strings(binascii.hexlify(raw.tobytes()), 32, n)


def iso_timestamps(ts_us: np.ndarray) -> pa.Array:
    """ISO-8601 UTC text with milliseconds, as clients send it."""
    text = np.datetime_as_string(ts_us.astype("datetime64[us]").astype("datetime64[ms]"), unit="ms")
    return _fixed_width_strings(np.char.add(text.astype("S23"), b"Z").tobytes(), 24, len(ts_us))


def _ids(prefix: str, values: np.ndarray) -> pa.Array:
    """``prefix`` + integer id as text; -1 becomes null."""
    arr = pa.array(values, mask=values < 0)
    return pc.binary_join_element_wise(prefix, arr.cast(pa.string()), "")


def _numbers(values: np.ndarray, absent: np.ndarray) -> pa.Array:
    return pa.array(values, mask=absent).cast(pa.string())


def to_wire(world: World, events: DayEvents, client_ts_us: np.ndarray, received_ts_us: np.ndarray,
            rng: np.random.Generator) -> pa.Table:
    """The events as the collector receives them (text fields plus the server's received_ts)."""
    n = len(events)
    has_item = events.item >= 0
    item = np.maximum(events.item, 0)
    columns = {
        "event_id": event_ids(events.ts_us, rng),
        "event_type": pa.array(np.array([e.value for e in EVENT_TYPES], dtype=object)[events.event_type]),
        "event_ts": iso_timestamps(client_ts_us),
        "tenant_id": _ids("t", world.user_tenant[events.user]),
        "user_id": _ids("u", events.user),
        "item_id": _ids("i", events.item),
        "item_type": pa.array(ITEM_TYPES[world.item_type[item]], mask=~has_item),
        "surface": pa.array(np.array([s.value for s in SURFACES], dtype=object)[events.surface]),
        "rec_request_id": _ids("r", events.rec_request),
        "position": _numbers(events.position, events.position < 0),
        "propensity": _numbers(events.propensity, np.isnan(events.propensity)),
        "model_version": pa.array(np.full(n, LOGGING_POLICY, dtype=object), mask=events.rec_request < 0),
        "dwell_ms": _numbers(events.dwell_ms, events.dwell_ms < 0),
        "properties": pa.array(PROPERTIES[events.properties]),
        "schema_version": pa.array(np.full(n, str(SCHEMA_VERSION), dtype=object)),
        "received_ts": pa.array(received_ts_us, pa.timestamp("us", tz="UTC")),
    }
    return pa.table(columns).select(WIRE_SCHEMA.names).cast(WIRE_SCHEMA)


def delivery_times(events: DayEvents, faults: FaultRates, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(client clock, server receive time) per event: delay, skew and late delivery."""
    n = len(events)
    received = events.ts_us + (rng.exponential(1.5, n) * 1e6).astype(np.int64) + 50_000
    late = rng.random(n) < faults.late
    late_by = rng.uniform(3_600, faults.max_late_hours * 3_600, n) * 1e6
    received = np.where(late, events.ts_us + late_by.astype(np.int64), received)
    skewed = rng.random(n) < faults.clock_skew
    skew = rng.uniform(-faults.max_skew_seconds, faults.max_skew_seconds, n) * 1e6
    client = np.where(skewed, events.ts_us + skew.astype(np.int64), events.ts_us)
    return client, received


def corrupt(table: pa.Table, rate: float, rng: np.random.Generator) -> tuple[pa.Table, pa.Table, list[Reason]]:
    """Break a ``rate`` share of rows, cycling through every malformed kind.

    Returns the untouched rows, the broken rows, and the kind applied to each broken row.
    """
    broken_rows = np.flatnonzero(rng.random(table.num_rows) < rate)
    keep = np.ones(table.num_rows, dtype=bool)
    keep[broken_rows] = False
    kinds = [MALFORMED_KINDS[i % len(MALFORMED_KINDS)] for i in range(len(broken_rows))]
    records = table.take(pa.array(broken_rows, pa.int64())).to_pylist()
    for record, kind in zip(records, kinds):
        _break_row(record, kind)
    return table.filter(pa.array(keep)), pa.Table.from_pylist(records, schema=WIRE_SCHEMA), kinds


def _break_row(row: dict, reason: Reason) -> None:
    """Make one row fail exactly one rule, the way real clients do."""
    if reason is Reason.UNSUPPORTED_SCHEMA_VERSION:
        row["schema_version"] = "99"
    elif reason is Reason.UNKNOWN_EVENT_TYPE:
        row["event_type"] = "issue_vieweed"
    elif reason is Reason.MISSING_REQUIRED_FIELD:
        row["user_id"] = None
    elif reason is Reason.INVALID_TIMESTAMP:
        row["event_ts"] = "yesterday at noon"
    elif reason is Reason.TIMESTAMP_OUT_OF_BOUNDS:
        row["event_ts"] = (row["received_ts"] + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    elif reason is Reason.INVALID_ENUM:
        row["surface"] = "sidebar"
    elif reason is Reason.INCONSISTENT_ITEM_TYPE:
        row["item_id"] = row["item_id"] or "i0"
        row["item_type"] = row["item_type"] or ItemType.JIRA_ISSUE.value
        row["event_type"] = "page_viewed" if row["item_type"] == ItemType.JIRA_ISSUE else "issue_viewed"
    elif reason is Reason.INVALID_NUMBER:
        row["dwell_ms"] = "twelve"
    elif reason is Reason.INVALID_JSON:
        row["properties"] = '{"to_status": '


def redeliveries(table: pa.Table, rate: float, rng: np.random.Generator) -> pa.Table:
    """Copies of a ``rate`` share of rows, received again seconds to two hours later."""
    rows = np.flatnonzero(rng.random(table.num_rows) < rate)
    copies = table.take(pa.array(rows, pa.int64()))
    received = copies.column("received_ts").to_numpy().astype("datetime64[us]").astype(np.int64)
    later = received + (rng.uniform(1, 7_200, len(rows)) * 1e6).astype(np.int64)
    index = copies.schema.get_field_index("received_ts")
    copies = copies.set_column(index, "received_ts", pa.array(later, pa.timestamp("us", tz="UTC")))
    return copies.cast(WIRE_SCHEMA)
