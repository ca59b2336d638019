"""Closed collector log segments into the landing zone: Parquet by arrival hour, then deleted.

A segment's rows land as one file per arrival hour named after the segment, written by the
landing zone's temp-file-then-rename: re-compacting a segment after a crash finds the files it
already wrote and skips them (``write_atomic`` never overwrites), so a segment is landed once
however often compaction restarts. Rows refused for naming another tenant go to the collector's
own quarantine folder, with their reason, never to the landing zone.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pyarrow as pa

from dataflywheel.ingest.landing import WIRE_SCHEMA, hour_key, land_events, write_atomic
from dataflywheel.serving.durable_log import read_records

QUARANTINE_SCHEMA = WIRE_SCHEMA.append(pa.field("reason", pa.string()))


def batch_record(received: datetime, tenant_id: str, rows: list, refused: list) -> bytes:
    """One acknowledged batch as a log record (one line): landed rows and refused ones with reasons."""
    received_us = int(received.timestamp() * 1_000_000)
    return orjson.dumps({"received_us": received_us, "tenant_id": tenant_id, "rows": rows, "refused": refused})


def _table(rows: list[list], received_us: list[int], schema: pa.Schema) -> pa.Table:
    text = [name for name in schema.names if name != "received_ts"]  # a row's values, in this order
    columns = {name: pa.array([row[i] for row in rows], pa.string()) for i, name in enumerate(text)}
    columns["received_ts"] = pa.array(received_us, pa.timestamp("us", tz="UTC"))
    return pa.table(columns).select(schema.names).cast(schema)


def compact(segment: Path, landing_root: str, quarantine_dir: Path) -> int:
    """Land a closed segment's rows (refused ones to the quarantine), then delete it; rows landed."""
    by_hour: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    refused_by_hour: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for line in read_records(segment):
        record = orjson.loads(line)
        hour = hour_key(datetime.fromtimestamp(record["received_us"] / 1e6, timezone.utc))
        for target, key in ((by_hour, "rows"), (refused_by_hour, "refused")):
            rows, stamps = target[hour]
            rows.extend(record[key])
            stamps.extend([record["received_us"]] * len(record[key]))
    name = f"collector-{segment.stem}"
    landed = 0
    for hour, (rows, stamps) in sorted(by_hour.items()):
        if rows:
            land_events(landing_root, hour, name, _table(rows, stamps, WIRE_SCHEMA))
            landed += len(rows)
    for hour, (rows, stamps) in sorted(refused_by_hour.items()):
        if rows:
            write_atomic(
                _table(rows, stamps, QUARANTINE_SCHEMA),
                str(quarantine_dir / f"arrival_hour={hour}" / f"{name}.parquet"),
            )
    segment.unlink()
    return landed
