"""The product event schema: the single, versioned definition every part of the platform uses.

Two shapes of the same event exist:

* the *wire* shape, as a client sends it and the landing zone stores it: every client
  field is text (exactly what arrived, so a quarantined row keeps its original content),
  plus ``received_ts``, the collector's own clock;
* the *typed* shape of ``raw_events``, after validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dataflywheel.contracts.vocabulary import EventType

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})


# The longest text a wire field may carry, in characters: ids and names are short, and a
# client that sends more is broken or hostile. ``properties`` holds a few event attributes.
MAX_ID_LENGTH = 128
MAX_PROPERTIES_LENGTH = 16_384


@dataclass(frozen=True)
class Field:
    name: str
    sql_type: str  # the typed column in raw_events (portable SQL type names)
    description: str
    max_length: int = MAX_ID_LENGTH  # on the wire, where every client field is text


FIELDS: tuple[Field, ...] = (
    Field("event_id", "VARCHAR", "Client-generated id; redeliveries repeat it (dedup key)."),
    Field("event_type", "VARCHAR", "One of contracts.vocabulary.EventType."),
    Field("event_ts", "TIMESTAMP", "Client clock, UTC. May be skewed; bounded against received_ts."),
    Field("received_ts", "TIMESTAMP", "Collector clock, UTC. Defines the arrival hour."),
    Field("tenant_id", "VARCHAR", "The customer site. Nothing ever crosses tenants."),
    Field("user_id", "VARCHAR", "The acting user."),
    Field("item_id", "VARCHAR", "The Jira issue or Confluence page acted on."),
    Field("item_type", "VARCHAR", "jira_issue | confluence_page."),
    Field("surface", "VARCHAR", "home_feed | search | direct | notification."),
    Field("rec_request_id", "VARCHAR", "Home-feed request that showed the item."),
    Field("position", "INTEGER", "0-based slot in the home feed."),
    Field("propensity", "DOUBLE", "Probability the logging policy showed this item in this slot."),
    Field("model_version", "VARCHAR", "Policy / model that produced the recommendation."),
    Field("dwell_ms", "BIGINT", "Time spent on the item, milliseconds."),
    Field("properties", "VARCHAR", "Event-specific attributes as JSON text.", MAX_PROPERTIES_LENGTH),
    Field("schema_version", "INTEGER", "Version of this schema the client spoke."),
)

# received_ts is stamped by the collector; every other field is client text on the wire.
SERVER_FIELDS = ("received_ts",)
WIRE_TEXT_FIELDS = tuple(f.name for f in FIELDS if f.name not in SERVER_FIELDS)

ALWAYS_REQUIRED = ("event_id", "event_type", "event_ts", "tenant_id", "user_id", "schema_version")
ITEM_FIELDS = ("item_id", "item_type", "surface")
REC_FIELDS = ("rec_request_id", "position", "model_version")
# Free-form identifiers: no control, zero-width or bidirectional formatting characters, which
# would hide in logs and dashboards or spoof another id (enums are checked against their vocabularies).
IDENTIFIER_FIELDS = ("event_id", "tenant_id", "user_id", "item_id", "rec_request_id", "model_version")


def wire_timestamp(moment: datetime) -> str:
    """A UTC time as the wire carries ``event_ts``: ISO-8601 with milliseconds and a ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def required_fields(event_type: EventType) -> tuple[str, ...]:
    """Fields that must be present for an event of this type to be usable downstream."""
    if event_type is EventType.SEARCH_PERFORMED:
        return ALWAYS_REQUIRED + ("surface",)
    if event_type is EventType.REC_IMPRESSION:
        return ALWAYS_REQUIRED + ITEM_FIELDS + REC_FIELDS + ("propensity",)
    if event_type is EventType.REC_CLICK:
        return ALWAYS_REQUIRED + ITEM_FIELDS + REC_FIELDS
    return ALWAYS_REQUIRED + ITEM_FIELDS
