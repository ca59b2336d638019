"""Closed collector log segments into the landing zone: Parquet by arrival hour, then deleted.

A segment's rows land as one file per arrival hour named after the segment, written by the
landing zone's temp-file-then-rename: re-compacting a segment after a crash finds the files it
already wrote and skips them (``write_atomic`` never overwrites), so a segment is landed once
however often compaction restarts. Rows refused for naming another tenant go to the collector's
own quarantine folder, with their reason, never to the landing zone.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import json as arrow_json

from dataflywheel.ingest.landing import WIRE_SCHEMA, hour_key, land_events, write_atomic
from dataflywheel.serving.durable_log import complete_records

QUARANTINE_SCHEMA = WIRE_SCHEMA.append(pa.field("reason", pa.string()))


def batch_record(received: datetime, tenant_id: str, rows: list, refused: list) -> bytes:
    """One acknowledged batch as a log record (one line): landed rows and refused ones with reasons."""
    received_us = int(received.timestamp() * 1_000_000)
    return orjson.dumps({"received_us": received_us, "tenant_id": tenant_id, "rows": rows, "refused": refused})


RECORD_SCHEMA = pa.schema(
    [
        ("received_us", pa.int64()),
        ("tenant_id", pa.string()),
        ("rows", pa.list_(pa.list_(pa.string()))),
        ("refused", pa.list_(pa.list_(pa.string()))),
    ]
)
MICROSECONDS_PER_HOUR = 3_600_000_000


def _records(segment: Path) -> pa.Table:
    """The segment's records, parsed by Arrow's JSON reader: in C++, off this interpreter's lock,
    so landing a segment does not hold up the requests served beside it."""
    data = complete_records(segment)
    if not data:
        return RECORD_SCHEMA.empty_table()
    return arrow_json.read_json(
        pa.BufferReader(data),
        read_options=arrow_json.ReadOptions(block_size=len(data)),  # one block: a record may be megabytes
        parse_options=arrow_json.ParseOptions(explicit_schema=RECORD_SCHEMA),
    )


def _rows(records: pa.Table, key: str, schema: pa.Schema) -> pa.Table:
    """One row per wire row under ``key`` (its values in the schema's order, received_ts last),
    stamped with its batch's received time."""
    nested = records.column(key).combine_chunks()
    flat = pc.list_flatten(nested)
    text = [name for name in schema.names if name != "received_ts"]
    columns = {name: pc.list_element(flat, i) for i, name in enumerate(text)}
    received = pc.take(records.column("received_us"), pc.list_parent_indices(nested))
    columns["received_ts"] = received.cast(pa.timestamp("us", tz="UTC"))
    return pa.table(columns).select(schema.names).cast(schema)


def _by_arrival_hour(rows: pa.Table):
    """(landing hour key, that hour's rows), in hour order."""
    hours = pc.divide(rows.column("received_ts").cast(pa.int64()), MICROSECONDS_PER_HOUR)
    for hour in sorted(pc.unique(hours).to_pylist()):
        key = hour_key(datetime.fromtimestamp(hour * 3600, timezone.utc))
        yield key, rows.filter(pc.equal(hours, hour))


def compact(segment: Path, landing_root: str, quarantine_dir: Path) -> int:
    """Land a closed segment's rows (refused ones to the quarantine), then delete it; rows landed."""
    records = _records(segment)
    name = f"collector-{segment.stem}"
    landed = _rows(records, "rows", WIRE_SCHEMA)
    for hour, rows in _by_arrival_hour(landed):
        land_events(landing_root, hour, name, rows)
    for hour, rows in _by_arrival_hour(_rows(records, "refused", QUARANTINE_SCHEMA)):
        write_atomic(rows, str(quarantine_dir / f"arrival_hour={hour}" / f"{name}.parquet"))
    segment.unlink()
    return landed.num_rows
