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
from dataflywheel.serving.recommend import Recommendation


def time_ordered_ids(now: datetime, n: int) -> list[str]:
    """UUIDv7-style ids (48 bits of milliseconds, then 80 random bits): dedup lookups stay local in time."""
    millis, random = f"{int(now.timestamp() * 1000):012x}", os.urandom(10 * n).hex()
    return [millis + random[20 * i : 20 * (i + 1)] for i in range(n)]


def impression_events(served: Recommendation, tenant_id: str, user_id: str, surface: str, now: datetime) -> list[dict]:
    ts = wire_timestamp(now)
    return [
        {
            "event_id": event_id,
            "event_type": EventType.REC_IMPRESSION.value,
            "event_ts": ts,
            "tenant_id": tenant_id,
            "user_id": user_id,
            "item_id": shown.item_id,
            "item_type": shown.item_type,
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
                    "features": shown.features,
                    "scoring_ms": served.scoring_ms,
                    "fallback_from": served.fallback_from,
                },
                option=orjson.OPT_SERIALIZE_NUMPY,
            ).decode(),
            "schema_version": SCHEMA_VERSION,
        }
        for event_id, shown in zip(time_ordered_ids(now, len(served.items)), served.items)
    ]
