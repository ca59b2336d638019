"""From true events to what the collector receives: text fields, and the faults of delivery.

Delivery faults are drawn here: network delay, client clock skew, late (offline)
delivery, at-least-once redelivery (duplicates), and malformed rows of every kind the
validator knows. The kind of each malformed row is kept in a ``_fault`` column (dropped
before landing), so tests can check that the validator names exactly that reason.
"""

from __future__ import annotations

import binascii

import numpy as np
import polars as pl
import pyarrow as pa

from dataflywheel.contracts.schema import MAX_ID_LENGTH, SCHEMA_VERSION
from dataflywheel.contracts.vocabulary import ItemType
from dataflywheel.ingest.validation import Reason
from dataflywheel.simulator.activity import EVENT_TYPES, LOGGING_POLICY, PROPERTIES, SURFACES, DayEvents
from dataflywheel.simulator.config import FaultRates
from dataflywheel.simulator.world import World

ITEM_TYPES = [ItemType.JIRA_ISSUE.value, ItemType.CONFLUENCE_PAGE.value]
# Every reason a client's row can earn. A row received outside its folder's hour is the landing
# zone's fault, not a client's: the fault-injection tests land those themselves.
MALFORMED_KINDS = [reason for reason in Reason if reason is not Reason.RECEIVED_OUTSIDE_ARRIVAL_HOUR]
FAULT_COLUMN = "_fault"  # the malformed kind applied to a row, null if none
TIMESTAMP_TEXT = "%Y-%m-%dT%H:%M:%S%.3fZ"


def event_ids(ts_us: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """UUIDv7-style ids: 48 bits of millisecond time, then 80 random bits, as 32 hex chars.

    Time-ordered ids keep the warehouse's dedup lookups local to recent data.
    """
    n = len(ts_us)
    raw = np.empty((n, 16), np.uint8)
    raw[:, :6] = (ts_us // 1000).astype(">u8").view(np.uint8).reshape(n, 8)[:, 2:]
    raw[:, 6:] = np.frombuffer(rng.bytes(n * 10), np.uint8).reshape(n, 10)
    offsets = np.arange(0, (n + 1) * 32, 32, dtype=np.int32)
    hex_text = binascii.hexlify(raw.tobytes())
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(hex_text)])


def decode_labels(codes: np.ndarray, labels: list[str], absent: np.ndarray | None = None) -> pa.Array:
    """Integer codes to their text labels (null where ``absent``), via an Arrow dictionary."""
    indices = pa.array(codes.astype(np.int32), mask=absent)
    return pa.DictionaryArray.from_arrays(indices, pa.array(labels)).cast(pa.string())


def _prefixed(name: str, prefix: str) -> pl.Expr:
    """``prefix`` + integer id as text; negative ids (absent) become null."""
    col = pl.col(name)
    return pl.when(col >= 0).then(pl.lit(prefix) + col.cast(pl.String)).alias(name)


def _number_text(name: str, present: pl.Expr) -> pl.Expr:
    return pl.when(present).then(pl.col(name).cast(pl.String)).alias(name)


def to_wire(
    world: World, events: DayEvents, client_ts_us: np.ndarray, received_ts_us: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """The events as the collector receives them: client text fields plus received_ts."""
    has_item = events.item >= 0
    item_type = np.where(has_item, world.item_type[np.maximum(events.item, 0)], -1)
    frame = pl.DataFrame(
        {
            "event_id": event_ids(events.ts_us, rng),
            "event_type": decode_labels(events.event_type, [e.value for e in EVENT_TYPES]),
            "event_ts": client_ts_us,
            "tenant_id": world.user_tenant[events.user],
            "user_id": events.user,
            "item_id": events.item,
            "item_type": decode_labels(item_type, ITEM_TYPES, absent=~has_item),
            "surface": decode_labels(events.surface, [s.value for s in SURFACES]),
            "rec_request_id": events.rec_request,
            "position": events.position,
            "propensity": events.propensity,
            "dwell_ms": events.dwell_ms,
            "properties": decode_labels(events.properties, list(PROPERTIES)),
            "received_ts": received_ts_us,
        }
    )
    is_rec = pl.col("rec_request_id") >= 0
    return frame.select(
        "event_id",
        "event_type",
        pl.col("event_ts").cast(pl.Datetime("us")).dt.to_string(TIMESTAMP_TEXT),
        _prefixed("tenant_id", "t"),
        _prefixed("user_id", "u"),
        _prefixed("item_id", "i"),
        "item_type",
        "surface",
        _prefixed("rec_request_id", "r"),
        _number_text("position", pl.col("position") >= 0),
        _number_text("propensity", pl.col("propensity").is_not_nan()),
        pl.when(is_rec).then(pl.lit(LOGGING_POLICY)).alias("model_version"),
        _number_text("dwell_ms", pl.col("dwell_ms") >= 0),
        "properties",
        pl.lit(str(SCHEMA_VERSION)).alias("schema_version"),
        pl.col("received_ts").cast(pl.Datetime("us", "UTC")),
        pl.lit(None, pl.String).alias(FAULT_COLUMN),
    )


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


def breakage(kind: Reason) -> dict[str, pl.Expr]:
    """How a client breaks a row so that it fails exactly the rule ``kind``."""
    if kind is Reason.FIELD_TOO_LONG:
        return {"item_id": pl.lit("i" * (MAX_ID_LENGTH + 1))}
    if kind is Reason.CONTROL_CHARACTERS:  # an ANSI escape that would clear an operator's terminal
        return {"user_id": pl.concat_str(pl.col("user_id"), pl.lit("\x1b[2J"))}
    if kind is Reason.UNSUPPORTED_SCHEMA_VERSION:
        return {"schema_version": pl.lit("99")}
    if kind is Reason.UNKNOWN_EVENT_TYPE:
        return {"event_type": pl.lit("issue_vieweed")}
    if kind is Reason.MISSING_REQUIRED_FIELD:
        return {"user_id": pl.lit(None, pl.String)}
    if kind is Reason.INVALID_TIMESTAMP:
        return {"event_ts": pl.lit("yesterday at noon")}
    if kind is Reason.TIMESTAMP_OUT_OF_BOUNDS:
        three_days_ahead = pl.col("received_ts") + pl.duration(days=3)
        return {"event_ts": three_days_ahead.dt.replace_time_zone(None).dt.to_string(TIMESTAMP_TEXT)}
    if kind is Reason.INVALID_ENUM:
        return {"surface": pl.lit("sidebar")}
    if kind is Reason.INCONSISTENT_ITEM_TYPE:
        item_type = pl.col("item_type").fill_null(ItemType.JIRA_ISSUE.value)
        return {
            "item_id": pl.col("item_id").fill_null("i0"),
            "item_type": item_type,
            "event_type": pl.when(item_type == ItemType.JIRA_ISSUE.value)
            .then(pl.lit("page_viewed"))
            .otherwise(pl.lit("issue_viewed")),
        }
    if kind is Reason.INVALID_NUMBER:
        return {"dwell_ms": pl.lit("twelve")}
    if kind is Reason.INVALID_JSON:
        return {"properties": pl.lit('{"to_status": ')}
    raise ValueError(kind)


def corrupt(frame: pl.DataFrame, rate: float, rng: np.random.Generator) -> pl.DataFrame:
    """Break a ``rate`` share of rows, cycling through every malformed kind."""
    broken = rng.random(frame.height) < rate
    kinds = np.arange(broken.sum()) % len(MALFORMED_KINDS)
    # Only the broken rows are rewritten; the rest pass through untouched (and uncopied).
    victims = frame.filter(pl.Series(broken)).with_columns(_kind=pl.Series(kinds))
    for index, reason in enumerate(MALFORMED_KINDS):
        hit = pl.col("_kind") == index
        changes = {name: pl.when(hit).then(expr).otherwise(pl.col(name)) for name, expr in breakage(reason).items()}
        victims = victims.with_columns(
            **changes, **{FAULT_COLUMN: pl.when(hit).then(pl.lit(reason.value)).otherwise(pl.col(FAULT_COLUMN))}
        )
    return pl.concat([frame.filter(~pl.Series(broken)), victims.drop("_kind")])


def redeliveries(frame: pl.DataFrame, rate: float, rng: np.random.Generator) -> pl.DataFrame:
    """Copies of a ``rate`` share of rows, received again seconds to two hours later."""
    picked = rng.random(frame.height) < rate
    delay_us = (rng.uniform(1, 7_200, int(picked.sum())) * 1e6).astype(np.int64)
    copies = frame.filter(pl.Series(picked))
    return copies.with_columns(pl.col("received_ts") + pl.duration(microseconds=pl.Series(delay_us)))


def landing_table(frame: pl.DataFrame) -> pa.Table:
    """The rows as landed: the wire columns only (the simulator's fault labels stay behind).

    Arrow string views are handed over without a copy; Parquet stores them as plain UTF8.
    """
    return frame.drop(FAULT_COLUMN).to_arrow(compat_level=pl.CompatLevel.newest())
