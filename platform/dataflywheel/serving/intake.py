"""What the collector does with a batch of events before acknowledging it.

Each event becomes a wire row (every client field as text, exactly what arrived, and the
collector's ``received_ts``) and is judged by the same rules ``raw_events`` applies
(``ingest.validation.reason_sql``, run by an in-memory DuckDB over the batch), so a client
learns at once what the warehouse will quarantine. Valid or not, every row the key's tenant
sent is landed: ``raw_events`` quarantines the bad ones with their reason, as for any file.
A row naming another tenant is refused and kept apart (``TENANT_MISMATCH``): landing it would
put one tenant's data in another's name.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime

import orjson
import polars as pl

from dataflywheel.contracts.schema import WIRE_TEXT_FIELDS
from dataflywheel.ingest.validation import reason_sql
from dataflywheel.warehouse import choice
from dataflywheel.warehouse.engine import Engine

TENANT_MISMATCH = "tenant_mismatch"
_local = threading.local()


def wire_text(value) -> str | None:
    """A JSON value as the wire's text: strings as they are, numbers as written, objects as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return orjson.dumps(value).decode()


def wire_rows(events: Sequence[Mapping]) -> list[list[str | None]]:
    """Each event's wire fields, in ``WIRE_TEXT_FIELDS`` order (fields the schema does not know are not kept)."""
    return [[wire_text(event.get(name)) for name in WIRE_TEXT_FIELDS] for event in events]


def _batch(rows: list[list[str | None]], received: datetime) -> pl.DataFrame:
    naive = received.replace(tzinfo=None)
    frame = pl.DataFrame(rows, schema={name: pl.String for name in WIRE_TEXT_FIELDS}, orient="row")
    return frame.with_columns(
        received_ts=pl.lit(naive, pl.Datetime("us")),
        arrival_hour=pl.lit(naive.replace(minute=0, second=0, microsecond=0), pl.Datetime("us")),
    )


def _engine() -> Engine:
    """One engine per thread (requests are judged side by side), with the rules compiled once into
    a view over ``batch``: parsing the rules' SQL on every request costs more than running them."""
    if not hasattr(_local, "engine"):
        engine = choice.in_memory()
        with engine.registered("batch", _batch([[None] * len(WIRE_TEXT_FIELDS)], datetime.now())):
            engine.execute(
                f"CREATE TEMP VIEW judged AS SELECT {reason_sql(engine, 'arrival_hour')} AS reason FROM batch"
            )
        _local.engine = engine
    return _local.engine


def reasons(rows: list[list[str | None]], received: datetime, tenant_id: str) -> list[str | None]:
    """Per row: why ``raw_events`` will quarantine it (or the collector refuses it), or None."""
    if not rows:
        return []
    engine = _engine()
    with engine.registered("batch", _batch(rows, received)):
        verdicts = engine.frame("SELECT reason FROM judged").get_column("reason")
    tenant = WIRE_TEXT_FIELDS.index("tenant_id")
    return [TENANT_MISMATCH if row[tenant] != tenant_id else verdict for row, verdict in zip(rows, verdicts)]
