"""Validation rules for landed events, as one SQL expression per rule.

Rules are plain data here and compiled to a single ``CASE`` expression that the engine runs
over a whole arrival hour at once (the dialect's parts, parsing and JSON, come from it). The
first failing rule names the row's reason; rows with a reason are quarantined with their
original text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from dataflywheel.contracts.schema import (
    ALWAYS_REQUIRED,
    FIELDS,
    IDENTIFIER_FIELDS,
    SERVER_FIELDS,
    SUPPORTED_SCHEMA_VERSIONS,
    required_fields,
)
from dataflywheel.contracts.vocabulary import ITEM_TYPE_OF_EVENT, EventType, ItemType, Surface
from dataflywheel.warehouse.engine import Engine


class Reason(StrEnum):
    RECEIVED_OUTSIDE_ARRIVAL_HOUR = "received_outside_arrival_hour"
    FIELD_TOO_LONG = "field_too_long"
    CONTROL_CHARACTERS = "control_characters"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    MISSING_REQUIRED_FIELD = "missing_required_field"
    INVALID_TIMESTAMP = "invalid_timestamp"
    TIMESTAMP_OUT_OF_BOUNDS = "timestamp_out_of_bounds"
    INVALID_ENUM = "invalid_enum"
    INCONSISTENT_ITEM_TYPE = "inconsistent_item_type"
    INVALID_NUMBER = "invalid_number"
    INVALID_JSON = "invalid_json"


# Control (C0, DEL, C1), zero-width and bidirectional formatting characters, in RE2 / Java syntax.
CONTROL_CHARACTERS_PATTERN = r"[\x00-\x1f\x7f-\x9f\x{200b}-\x{200f}\x{202a}-\x{202e}\x{2060}-\x{2069}\x{feff}]"


@dataclass(frozen=True)
class Bounds:
    """How far a client clock may disagree with the collector's and still be believed."""

    max_future: timedelta = timedelta(minutes=10)  # client clock ahead of the server
    max_lateness: timedelta = timedelta(days=7)  # offline clients deliver late

    def accepted_arrivals(self, event_ts: str) -> tuple[str, str]:
        """SQL bounds of the arrival hours in which a delivery of an event stamped ``event_ts``
        is accepted: every copy of an event the platform loads arrived between them."""
        future, lateness = self.sql()
        return f"{event_ts} - {future} - INTERVAL 1 HOUR", f"{event_ts} + {lateness}"

    def sql(self) -> tuple[str, str]:
        return (
            f"INTERVAL {int(self.max_future.total_seconds())} SECOND",
            f"INTERVAL {int(self.max_lateness.total_seconds())} SECOND",
        )


def _quote(values) -> str:
    return ", ".join(f"'{v}'" for v in sorted(str(v) for v in values))


def _missing(field: str) -> str:
    return f"({field} IS NULL OR {field} = '')"


def _types_by_extra_required_fields() -> dict[tuple[str, ...], list[EventType]]:
    """Event types grouped by the fields they require beyond the always-required ones."""
    groups: dict[tuple[str, ...], list[EventType]] = {}
    for event_type in EventType:
        extra = tuple(f for f in required_fields(event_type) if f not in ALWAYS_REQUIRED)
        if extra:
            groups.setdefault(extra, []).append(event_type)
    return groups


PARSED_TS = "event_ts_parsed"


def reason_sql(engine: Engine, arrival_hour: str, bounds: Bounds = Bounds(), parsed_ts: str | None = None) -> str:
    """A SQL expression over wire columns giving the first failed rule's reason, or NULL.

    ``arrival_hour`` is the SQL timestamp of the folder the rows landed in: the collector
    stamps ``received_ts`` in that hour, so a row that disagrees was moved or re-landed.
    ``parsed_ts`` names a column already holding the parsed ``event_ts``, so a loader that
    keeps the parsed value parses each timestamp once.
    """
    too_long = " OR ".join(f"length({f.name}) > {f.max_length}" for f in FIELDS if f.name not in SERVER_FIELDS)
    # One match over the identifiers joined (NULLs skipped): joining creates no character, and one
    # regex call per row costs less than six.
    identifiers = f"concat_ws('', {', '.join(IDENTIFIER_FIELDS)})"
    controls = engine.matches_sql(identifiers, CONTROL_CHARACTERS_PATTERN)
    cast = engine.try_cast_sql
    future, lateness = bounds.sql()
    required_by_type = "\n".join(
        f"WHEN event_type IN ({_quote(types)}) AND ({' OR '.join(_missing(f) for f in fields)}) "
        f"THEN '{Reason.MISSING_REQUIRED_FIELD}'"
        for fields, types in _types_by_extra_required_fields().items()
    )
    item_type_match = " OR ".join(
        f"(event_type = '{e}' AND item_type <> '{t}')" for e, t in sorted(ITEM_TYPE_OF_EVENT.items())
    )
    ts = parsed_ts or engine.parse_wire_timestamp_sql("event_ts")
    return f"""CASE
WHEN received_ts IS NULL OR received_ts < {arrival_hour} OR received_ts >= {arrival_hour} + INTERVAL 1 HOUR
  THEN '{Reason.RECEIVED_OUTSIDE_ARRIVAL_HOUR}'
WHEN {too_long} THEN '{Reason.FIELD_TOO_LONG}'
WHEN {controls} THEN '{Reason.CONTROL_CHARACTERS}'
WHEN {_missing("schema_version")} OR {cast("schema_version", "INTEGER")} IS NULL
     OR {cast("schema_version", "INTEGER")} NOT IN ({", ".join(map(str, sorted(SUPPORTED_SCHEMA_VERSIONS)))})
  THEN '{Reason.UNSUPPORTED_SCHEMA_VERSION}'
WHEN event_type IS NULL OR event_type NOT IN ({_quote(EventType)}) THEN '{Reason.UNKNOWN_EVENT_TYPE}'
WHEN {" OR ".join(_missing(f) for f in ALWAYS_REQUIRED)} THEN '{Reason.MISSING_REQUIRED_FIELD}'
{required_by_type}
WHEN {ts} IS NULL THEN '{Reason.INVALID_TIMESTAMP}'
WHEN {ts} > received_ts + {future} OR {ts} < received_ts - {lateness} THEN '{Reason.TIMESTAMP_OUT_OF_BOUNDS}'
WHEN (item_type IS NOT NULL AND item_type NOT IN ({_quote(ItemType)}))
  OR (surface IS NOT NULL AND surface NOT IN ({_quote(Surface)})) THEN '{Reason.INVALID_ENUM}'
WHEN {item_type_match} THEN '{Reason.INCONSISTENT_ITEM_TYPE}'
WHEN (position IS NOT NULL AND coalesce({cast("position", "INTEGER")} < 0, true))
  OR (propensity IS NOT NULL
      AND coalesce(NOT ({cast("propensity", "DOUBLE")} > 0 AND {cast("propensity", "DOUBLE")} <= 1), true))
  OR (dwell_ms IS NOT NULL AND coalesce({cast("dwell_ms", "BIGINT")} < 0, true)) THEN '{Reason.INVALID_NUMBER}'
WHEN properties IS NOT NULL AND NOT coalesce({engine.is_json_sql("properties")}, false) THEN '{Reason.INVALID_JSON}'
END"""


def typed_select_sql(engine: Engine, parsed_ts: str | None = None) -> str:
    """SELECT list turning valid wire rows into the typed raw_events shape."""
    return f"""event_id, event_type,
    {parsed_ts or engine.parse_wire_timestamp_sql("event_ts")} AS event_ts,
    CAST(received_ts AS TIMESTAMP) AS received_ts,
    tenant_id, user_id, item_id, item_type, surface, rec_request_id,
    CAST(position AS INTEGER) AS position, CAST(propensity AS DOUBLE) AS propensity, model_version,
    CAST(dwell_ms AS BIGINT) AS dwell_ms, coalesce(properties, '{{}}') AS properties,
    CAST(schema_version AS INTEGER) AS schema_version"""
