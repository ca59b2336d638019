"""A served list as ``rec_impression`` events: what the service showed, as the platform's own data.

Each shown item is one event with the request id, its position, the exact propensity of the
policy showing it there, the model version, and in ``properties`` its scores and the model
inputs it was scored on (for the skew report). They travel the collector's durable path, so
the next hour's training examples learn from what was really served.
"""

from __future__ import annotations

import os
from datetime import datetime

import orjson

from dataflywheel.contracts.schema import SCHEMA_VERSION, wire_timestamp
from dataflywheel.contracts.vocabulary import EventType
from dataflywheel.ranking.inputs import declared_inputs
from dataflywheel.serving.recommend import Recommendation

_INPUTS = [name for name, _ in declared_inputs()]


def time_ordered_id(now: datetime) -> str:
    """A UUIDv7-style id (48 bits of milliseconds, then random): dedup lookups stay local in time."""
    return f"{int(now.timestamp() * 1000):012x}{os.urandom(10).hex()}"


def impression_events(served: Recommendation, tenant_id: str, user_id: str, surface: str, now: datetime) -> list[dict]:
    # The served rows carry each item's directory attributes (its type among them) and model inputs.
    rows = served.features
    item_types = rows.get_column("item_type").to_list() if rows.height else []
    features = rows.select([c for c in _INPUTS if c in rows.columns]).to_dicts()
    ts = wire_timestamp(now)
    return [
        {
            "event_id": time_ordered_id(now),
            "event_type": EventType.REC_IMPRESSION.value,
            "event_ts": ts,
            "tenant_id": tenant_id,
            "user_id": user_id,
            "item_id": shown.item_id,
            "item_type": item_type,
            "surface": surface,
            "rec_request_id": served.request_id,
            "position": shown.position,
            "propensity": shown.propensity,
            "model_version": served.model_version,
            "properties": orjson.dumps(
                {
                    "score": shown.score,
                    "p_click": shown.p_click,
                    "p_engage": shown.p_engage,
                    "explored": shown.explored,
                    "features": row,
                },
                option=orjson.OPT_SERIALIZE_NUMPY,
            ).decode(),
            "schema_version": SCHEMA_VERSION,
        }
        for shown, item_type, row in zip(served.items, item_types, features)
    ]
