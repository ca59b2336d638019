"""Every feature, declared once: entities, tiles, feature views and the request-time features.

From these declarations come the feature tables (their columns), the SQL that builds them
hour by hour, the point-in-time join of the training examples, the online snapshot, the
service's lookups and the model's input list. Adding a feature is one line in a view.

Clock: a feature row for arrival hour ``h`` describes what the platform *knew* at the end of
that hour (``feature_ts = h + 1h``): it is built from events that reached the collector
before ``feature_ts``, whatever their client time. ``available_at = feature_ts +
publish_delay`` is when serving may use the row; rows older than the view's TTL are not
joined (the key is treated as new), offline and online alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from dataflywheel.contracts.vocabulary import (
    CONFLUENCE_EVENTS,
    ENGAGEMENT_EVENTS,
    INTERACTION_EVENTS,
    JIRA_EVENTS,
    OPEN_EVENTS,
    EventType,
)

SCHEMA = "features"


def in_events(events) -> str:
    """``event_type IN (...)`` over the hour's events (aliased ``e``)."""
    return f"e.event_type IN ({', '.join(repr(str(e)) for e in sorted(events))})"


# --- Tiles: per-key counts of one arrival hour; every window is a sum of tiles ------------------


@dataclass(frozen=True)
class Tile:
    """A tile table: the hour's events (``e``, with the item directory as ``i``) grouped by keys."""

    table: str
    keys: tuple[str, ...]
    measures: tuple[tuple[str, str, str], ...] = ()  # (column, aggregate over the hour's events, type)
    where: str = "true"
    joins_items: bool = False  # measures read the item directory (``i``)


def _count(predicate: str | None = None) -> str:
    return f"count(*) FILTER (WHERE {predicate})" if predicate else "count(*)"


TILES = (
    Tile(
        "user_tiles",
        ("tenant_id", "user_id"),
        (
            ("events", _count(), "BIGINT"),
            ("jira_events", _count(in_events(JIRA_EVENTS)), "BIGINT"),
            ("confluence_events", _count(in_events(CONFLUENCE_EVENTS)), "BIGINT"),
            ("engagements", _count(in_events(ENGAGEMENT_EVENTS)), "BIGINT"),
            ("impressions", _count(in_events({EventType.REC_IMPRESSION})), "BIGINT"),
            ("clicks", _count(in_events({EventType.REC_CLICK})), "BIGINT"),
        ),
    ),
    Tile(
        "item_tiles",
        ("tenant_id", "item_id"),
        (
            ("views", _count(in_events(OPEN_EVENTS)), "BIGINT"),
            ("engagements", _count(in_events(ENGAGEMENT_EVENTS)), "BIGINT"),
            ("impressions", _count(in_events({EventType.REC_IMPRESSION})), "BIGINT"),
            ("clicks", _count(in_events({EventType.REC_CLICK})), "BIGINT"),
        ),
        where="e.item_id IS NOT NULL",
    ),
    # Who engaged with an item in the hour: distinct engagers over a window are distinct users here.
    Tile("item_engager_tiles", ("tenant_id", "item_id", "user_id"), where=in_events(ENGAGEMENT_EVENTS)),
    Tile(
        "user_item_tiles",
        ("tenant_id", "user_id", "item_id"),
        (
            ("container_id", "max(i.container_id)", "VARCHAR"),  # an item has one container
            ("interactions", "count(*)", "BIGINT"),
            ("last_interaction_ts", "max(e.event_ts)", "TIMESTAMP"),
        ),
        where=f"{in_events(INTERACTION_EVENTS)} AND e.item_id IS NOT NULL",
        joins_items=True,
    ),
)
TILE_BY_TABLE = {tile.table: tile for tile in TILES}


# --- Feature views -------------------------------------------------------------------------------


class Input(StrEnum):
    """How the model sees a value (see ``ranking.inputs``)."""

    LOG_COUNT = "log_count"  # missing = 0, clipped at 0, then log1p
    HOURS_SINCE = "hours_since"  # missing = a year ago, clipped at 0, then log1p
    SHARE = "share"  # missing = 0.5 (no evidence either way)
    FLAG = "flag"  # a boolean as 0 / 1
    NONE = "none"  # not an input by itself (a timestamp, or used through another input)


@dataclass(frozen=True)
class Window:
    """An aggregate of a tile column over the last ``hours`` arrival hours up to the row's hour."""

    aggregate: str  # sum | share | distinct | max
    column: str
    hours: int
    whole: str | None = None  # share: the denominator column

    def sql(self, hour: str) -> str:
        def summed(column: str) -> str:
            return f"coalesce(sum(t.{column}) FILTER (WHERE t.hour > {hour} - INTERVAL {self.hours} HOUR), 0)"

        if self.aggregate == "sum":
            return summed(self.column)
        if self.aggregate == "share":
            return f"{summed(self.column)} / greatest({summed(self.whole)}, 1)"
        if self.aggregate == "distinct":
            return f"count(DISTINCT t.{self.column}) FILTER (WHERE t.hour > {hour} - INTERVAL {self.hours} HOUR)"
        if self.aggregate == "max":
            return f"max(t.{self.column}) FILTER (WHERE t.hour > {hour} - INTERVAL {self.hours} HOUR)"
        raise ValueError(f"unknown aggregate {self.aggregate}")


@dataclass(frozen=True)
class Feature:
    name: str
    tiles: str  # the tile table it aggregates
    window: Window
    sql_type: str
    model_input: Input


@dataclass(frozen=True)
class FeatureView:
    """A feature table: one row per key active in an arrival hour, joined point-in-time on ``keys``."""

    table: str
    keys: tuple[str, ...]  # the entity's keys, columns of a request (ids are unique across tenants)
    tiles: str  # keys active in this tile table during the hour get a row
    features: tuple[Feature, ...]
    ttl: timedelta = timedelta(days=28)  # older rows are not joined: the key is treated as new
    publish_delay: timedelta = timedelta(minutes=10)  # hour closes -> rows usable by serving
    where: str = "true"  # over the active keys

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        keys = tuple((k, "VARCHAR") for k in ("tenant_id", *self.keys))
        stamps = (("feature_ts", "TIMESTAMP"), ("available_at", "TIMESTAMP"))
        return keys + stamps + tuple((f.name, f.sql_type) for f in self.features)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def ts_column(self) -> str:
        """The joined row's ``feature_ts`` in a request, so models can see how old it is."""
        return f"{self.table}_ts"


H1, D1, D7, D28 = 1, 24, 7 * 24, 28 * 24


def count(name: str, tiles: str, column: str, hours: int) -> Feature:
    """A windowed sum of a tile count; the model takes its log."""
    return Feature(name, tiles, Window("sum", column, hours), "BIGINT", Input.LOG_COUNT)


def share(name: str, tiles: str, part: str, whole: str, hours: int) -> Feature:
    """``part`` / ``whole`` over a window (0 when ``whole`` is 0)."""
    return Feature(name, tiles, Window("share", part, hours, whole), "DOUBLE", Input.SHARE)


def distinct(name: str, tiles: str, column: str, hours: int) -> Feature:
    return Feature(name, tiles, Window("distinct", column, hours), "BIGINT", Input.LOG_COUNT)


def latest(name: str, tiles: str, column: str, hours: int) -> Feature:
    """The latest timestamp within a window (the model sees the hours since it, a request-time feature)."""
    return Feature(name, tiles, Window("max", column, hours), "TIMESTAMP", Input.NONE)


USER_FEATURES = FeatureView(
    "user_features",
    ("user_id",),
    "user_tiles",
    (
        count("user_events_1h", "user_tiles", "events", H1),
        count("user_events_1d", "user_tiles", "events", D1),
        count("user_events_7d", "user_tiles", "events", D7),
        count("user_events_28d", "user_tiles", "events", D28),
        share("user_jira_share_28d", "user_tiles", "jira_events", "events", D28),
        count("user_engagements_7d", "user_tiles", "engagements", D7),
        count("user_clicks_7d", "user_tiles", "clicks", D7),
        count("user_impressions_7d", "user_tiles", "impressions", D7),
        share("user_jira_share_1d", "user_tiles", "jira_events", "events", D1),
    ),
)
ITEM_FEATURES = FeatureView(
    "item_features",
    ("item_id",),
    "item_tiles",
    (
        count("item_views_1d", "item_tiles", "views", D1),
        count("item_views_7d", "item_tiles", "views", D7),
        count("item_views_28d", "item_tiles", "views", D28),
        count("item_engagements_7d", "item_tiles", "engagements", D7),
        distinct("item_engaged_users_7d", "item_engager_tiles", "user_id", D7),
        distinct("item_engaged_users_28d", "item_engager_tiles", "user_id", D28),
        count("item_impressions_7d", "item_tiles", "impressions", D7),
        count("item_clicks_7d", "item_tiles", "clicks", D7),
    ),
)
USER_ITEM_FEATURES = FeatureView(
    "user_item_features",
    ("user_id", "item_id"),
    "user_item_tiles",
    (
        count("pair_interactions_28d", "user_item_tiles", "interactions", D28),
        latest("pair_last_interaction_ts", "user_item_tiles", "last_interaction_ts", D28),
    ),
)
USER_CONTAINER_FEATURES = FeatureView(
    "user_container_features",
    ("user_id", "container_id"),
    "user_item_tiles",
    (
        count("container_interactions_28d", "user_item_tiles", "interactions", D28),
        latest("container_last_interaction_ts", "user_item_tiles", "last_interaction_ts", D28),
    ),
    where="a.container_id IS NOT NULL",
)

VIEWS: tuple[FeatureView, ...] = (USER_FEATURES, ITEM_FEATURES, USER_ITEM_FEATURES, USER_CONTAINER_FEATURES)


# --- Request-time features: derived from a request, its feature rows and the directory ----------


@dataclass(frozen=True)
class RequestFeature:
    """A feature computed when a request (an impression, or a serving request) is made; see
    ``features.request_time`` for the one function that computes them all."""

    name: str
    model_input: Input
    description: str
    depends_on: tuple[str, ...] = ()  # view features it is computed from


REQUEST_FEATURES = (
    RequestFeature("user_tenure_days", Input.LOG_COUNT, "days since the user joined"),
    RequestFeature("item_age_hours", Input.HOURS_SINCE, "hours since the item was created"),
    RequestFeature(
        "hours_since_pair_interaction",
        Input.HOURS_SINCE,
        "hours since the user last touched the item",
        ("pair_last_interaction_ts",),
    ),
    RequestFeature(
        "hours_since_container_interaction",
        Input.HOURS_SINCE,
        "hours since the user last touched its container",
        ("container_last_interaction_ts",),
    ),
    RequestFeature("same_team", Input.FLAG, "the item's author team is the user's team"),
    RequestFeature("team_size", Input.LOG_COUNT, "members of the user's team at request time"),
    RequestFeature("container_items", Input.LOG_COUNT, "items in the item's container at request time"),
)


@dataclass(frozen=True)
class Segments:
    """How requests are segmented for evaluation, calibration and exposure reports."""

    new_user_days: int = 7
    new_item_days: int = 3
    tenant_size_buckets: tuple[tuple[int, str], ...] = field(default=((50, "small"), (500, "medium")))  # else large
