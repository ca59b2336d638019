"""The feature store's one definition: hourly tiles, feature rows, and point-in-time joins.

Clock: a feature row for hour ``h`` describes what the platform *knew* at the end of that
arrival hour (``feature_ts = h + 1h``): it is built from events that reached the collector
before ``feature_ts``, whatever their client time. A late event therefore changes features
only from the hour it arrived, and recomputing an hour later gives the same row (no
hindsight). ``available_at = feature_ts + publish_delay`` is when serving may use the row.

Three steps, all DuckDB SQL over the warehouse, each replacing one hour:

1. tiles: per-key counts of one arrival hour (small; windows are sums of tiles);
2. feature rows: for keys active in the hour, window aggregates as of ``feature_ts``;
3. the point-in-time join: each impression gets, per entity, the latest row with
   ``available_at <= impression_ts`` and not older than the TTL.

Offline training and the online snapshot read the same feature rows, so there is no
second implementation for serving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from ..events.schema import CONFLUENCE_EVENTS, ENGAGEMENT_EVENTS, JIRA_EVENTS, EventType
from ..events.warehouse import scalar, transaction

SCHEMA = "features"
WINDOWS_HOURS = {"1h": 1, "1d": 24, "7d": 168, "28d": 672}
LONGEST_WINDOW_HOURS = max(WINDOWS_HOURS.values())


@dataclass(frozen=True)
class FeatureTiming:
    publish_delay: timedelta = timedelta(minutes=10)  # hour closes -> rows usable by serving
    ttl: timedelta = timedelta(days=28)  # older rows are not joined: the key is treated as new


def _in(events) -> str:
    return ", ".join(f"'{e}'" for e in sorted(str(e) for e in events))


VIEWS = _in([EventType.ISSUE_VIEWED, EventType.PAGE_VIEWED, EventType.REC_CLICK])
# What counts as a user touching an item (impressions are shown to the user, not acted on).
INTERACTIONS = _in(set(EventType) - {EventType.REC_IMPRESSION, EventType.SEARCH_PERFORMED})

TILE_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.user_tiles (
    hour TIMESTAMP, tenant_id VARCHAR, user_id VARCHAR, events BIGINT, jira_events BIGINT,
    confluence_events BIGINT, engagements BIGINT, impressions BIGINT, clicks BIGINT);
CREATE TABLE IF NOT EXISTS {SCHEMA}.item_tiles (
    hour TIMESTAMP, tenant_id VARCHAR, item_id VARCHAR, views BIGINT, engagements BIGINT,
    impressions BIGINT, clicks BIGINT);
CREATE TABLE IF NOT EXISTS {SCHEMA}.item_engager_tiles (
    hour TIMESTAMP, tenant_id VARCHAR, item_id VARCHAR, user_id VARCHAR);
CREATE TABLE IF NOT EXISTS {SCHEMA}.user_item_tiles (
    hour TIMESTAMP, tenant_id VARCHAR, user_id VARCHAR, item_id VARCHAR, container_id VARCHAR,
    interactions BIGINT, last_interaction_ts TIMESTAMP);
"""

ROW_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.user_features (
    tenant_id VARCHAR, user_id VARCHAR, feature_ts TIMESTAMP, available_at TIMESTAMP,
    {", ".join(f"user_events_{w} BIGINT" for w in WINDOWS_HOURS)},
    user_jira_share_28d DOUBLE, user_engagements_7d BIGINT, user_clicks_7d BIGINT, user_impressions_7d BIGINT,
    user_jira_share_1d DOUBLE);
-- Homes created before the column existed.
ALTER TABLE {SCHEMA}.user_features ADD COLUMN IF NOT EXISTS user_jira_share_1d DOUBLE;
CREATE TABLE IF NOT EXISTS {SCHEMA}.item_features (
    tenant_id VARCHAR, item_id VARCHAR, feature_ts TIMESTAMP, available_at TIMESTAMP,
    item_views_1d BIGINT, item_views_7d BIGINT, item_views_28d BIGINT, item_engagements_7d BIGINT,
    item_engaged_users_7d BIGINT, item_engaged_users_28d BIGINT, item_impressions_7d BIGINT, item_clicks_7d BIGINT);
CREATE TABLE IF NOT EXISTS {SCHEMA}.user_item_features (
    tenant_id VARCHAR, user_id VARCHAR, item_id VARCHAR, feature_ts TIMESTAMP, available_at TIMESTAMP,
    pair_interactions_28d BIGINT, pair_last_interaction_ts TIMESTAMP);
CREATE TABLE IF NOT EXISTS {SCHEMA}.user_container_features (
    tenant_id VARCHAR, user_id VARCHAR, container_id VARCHAR, feature_ts TIMESTAMP, available_at TIMESTAMP,
    container_interactions_28d BIGINT, container_last_interaction_ts TIMESTAMP);
"""

TILE_TABLES = ("user_tiles", "item_tiles", "item_engager_tiles", "user_item_tiles")
ROW_TABLES = ("user_features", "item_features", "user_item_features", "user_container_features")


def ensure_feature_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the feature-row tables if missing: readers get no rows rather than an error."""
    con.execute(ROW_DDL)


def sql_timestamp(value: datetime) -> str:
    return f"TIMESTAMP '{value:%Y-%m-%d %H:%M:%S}'"


def _replace_hour(con: duckdb.DuckDBPyConnection, table: str, column: str, value: datetime, select: str) -> int:
    con.execute(f"DELETE FROM {SCHEMA}.{table} WHERE {column} = {sql_timestamp(value)}")
    con.execute(f"INSERT INTO {SCHEMA}.{table} {select}")
    return scalar(con, f"SELECT count(*) FROM {SCHEMA}.{table} WHERE {column} = {sql_timestamp(value)}")


def build_tiles(con: duckdb.DuckDBPyConnection, hour: datetime, items_table: str = "main.dim_items") -> dict[str, int]:
    """Replace arrival hour ``hour``'s tiles from ``raw.raw_events``, in one transaction."""
    h = sql_timestamp(hour)
    hour_events = f"SELECT * FROM raw.raw_events WHERE arrival_hour = {h}"
    selects = {
        "user_tiles": f"""SELECT {h}, tenant_id, user_id, count(*),
            count(*) FILTER (WHERE event_type IN ({_in(JIRA_EVENTS)})),
            count(*) FILTER (WHERE event_type IN ({_in(CONFLUENCE_EVENTS)})),
            count(*) FILTER (WHERE event_type IN ({_in(ENGAGEMENT_EVENTS)})),
            count(*) FILTER (WHERE event_type = '{EventType.REC_IMPRESSION}'),
            count(*) FILTER (WHERE event_type = '{EventType.REC_CLICK}')
            FROM ({hour_events}) GROUP BY tenant_id, user_id""",
        "item_tiles": f"""SELECT {h}, tenant_id, item_id,
            count(*) FILTER (WHERE event_type IN ({VIEWS})),
            count(*) FILTER (WHERE event_type IN ({_in(ENGAGEMENT_EVENTS)})),
            count(*) FILTER (WHERE event_type = '{EventType.REC_IMPRESSION}'),
            count(*) FILTER (WHERE event_type = '{EventType.REC_CLICK}')
            FROM ({hour_events}) WHERE item_id IS NOT NULL GROUP BY tenant_id, item_id""",
        "item_engager_tiles": f"""SELECT DISTINCT {h}, tenant_id, item_id, user_id FROM ({hour_events})
            WHERE event_type IN ({_in(ENGAGEMENT_EVENTS)})""",
        "user_item_tiles": f"""SELECT {h}, e.tenant_id, e.user_id, e.item_id, any_value(i.container_id),
            count(*), max(e.event_ts)
            FROM ({hour_events}) e LEFT JOIN {items_table} i ON i.item_id = e.item_id
            WHERE e.event_type IN ({INTERACTIONS}) AND e.item_id IS NOT NULL
            GROUP BY e.tenant_id, e.user_id, e.item_id""",
    }
    con.execute(TILE_DDL)
    with transaction(con):
        return {table: _replace_hour(con, table, "hour", hour, select) for table, select in selects.items()}


def _window(column: str, hours: int, h: str) -> str:
    """Sum of ``column`` over the tiles of the last ``hours`` arrival hours up to hour h."""
    return f"coalesce(sum({column}) FILTER (WHERE t.hour > {h} - INTERVAL {hours} HOUR), 0)"


def build_feature_rows(con: duckdb.DuckDBPyConnection, hour: datetime, timing: FeatureTiming = FeatureTiming()):
    """Replace the feature rows of arrival hour ``hour``: one per key active in that hour.

    Window values are exact as of ``feature_ts``; a key without activity keeps its last
    row (the join sees how old it is through ``feature_ts`` and drops it after the TTL).
    """
    h = sql_timestamp(hour)
    feature_ts = hour + timedelta(hours=1)
    stamps = (
        f"{sql_timestamp(feature_ts)} AS feature_ts, {sql_timestamp(feature_ts + timing.publish_delay)} AS available_at"
    )
    horizon = f"t.hour > {h} - INTERVAL {LONGEST_WINDOW_HOURS} HOUR AND t.hour <= {h}"

    def active(tiles: str, keys: str) -> str:
        return f"(SELECT DISTINCT {keys} FROM {SCHEMA}.{tiles} WHERE hour = {h})"

    selects = {
        "user_features": f"""SELECT a.tenant_id, a.user_id, {stamps},
            {", ".join(_window("t.events", n, h) for n in WINDOWS_HOURS.values())},
            {_window("t.jira_events", 672, h)} / greatest({_window("t.events", 672, h)}, 1),
            {_window("t.engagements", 168, h)}, {_window("t.clicks", 168, h)}, {_window("t.impressions", 168, h)},
            {_window("t.jira_events", 24, h)} / greatest({_window("t.events", 24, h)}, 1)
            FROM {active("user_tiles", "tenant_id, user_id")} a
            JOIN {SCHEMA}.user_tiles t USING (tenant_id, user_id) WHERE {horizon}
            GROUP BY a.tenant_id, a.user_id""",
        "item_features": f"""WITH active AS {active("item_tiles", "tenant_id, item_id")},
            engagers AS (
                SELECT t.item_id, count(DISTINCT t.user_id) FILTER (WHERE t.hour > {h} - INTERVAL 168 HOUR) AS u7,
                       count(DISTINCT t.user_id) AS u28
                FROM {SCHEMA}.item_engager_tiles t JOIN active a USING (tenant_id, item_id) WHERE {horizon}
                GROUP BY t.item_id)
            SELECT a.tenant_id, a.item_id, {stamps},
            {_window("t.views", 24, h)}, {_window("t.views", 168, h)}, {_window("t.views", 672, h)},
            {_window("t.engagements", 168, h)}, coalesce(any_value(g.u7), 0), coalesce(any_value(g.u28), 0),
            {_window("t.impressions", 168, h)}, {_window("t.clicks", 168, h)}
            FROM active a
            JOIN {SCHEMA}.item_tiles t USING (tenant_id, item_id)
            LEFT JOIN engagers g ON g.item_id = a.item_id
            WHERE {horizon}
            GROUP BY a.tenant_id, a.item_id""",
        "user_item_features": f"""SELECT a.tenant_id, a.user_id, a.item_id, {stamps},
            sum(t.interactions), max(t.last_interaction_ts)
            FROM {active("user_item_tiles", "tenant_id, user_id, item_id")} a
            JOIN {SCHEMA}.user_item_tiles t USING (tenant_id, user_id, item_id) WHERE {horizon}
            GROUP BY a.tenant_id, a.user_id, a.item_id""",
        "user_container_features": f"""SELECT a.tenant_id, a.user_id, a.container_id, {stamps},
            sum(t.interactions), max(t.last_interaction_ts)
            FROM {active("user_item_tiles", "tenant_id, user_id, container_id")} a
            JOIN {SCHEMA}.user_item_tiles t USING (tenant_id, user_id, container_id)
            WHERE {horizon} AND a.container_id IS NOT NULL
            GROUP BY a.tenant_id, a.user_id, a.container_id""",
    }
    ensure_feature_tables(con)
    with transaction(con):
        return {table: _replace_hour(con, table, "feature_ts", feature_ts, select) for table, select in selects.items()}


@dataclass(frozen=True)
class Entity:
    """A feature table joined point-in-time on ``keys`` (columns of the impression)."""

    table: str
    keys: tuple[str, ...]
    values: tuple[str, ...]


ENTITIES = (
    Entity(
        "user_features",
        ("user_id",),
        (
            *(f"user_events_{w}" for w in WINDOWS_HOURS),
            "user_jira_share_28d",
            "user_engagements_7d",
            "user_clicks_7d",
            "user_impressions_7d",
            "user_jira_share_1d",
        ),
    ),
    Entity(
        "item_features",
        ("item_id",),
        (
            "item_views_1d",
            "item_views_7d",
            "item_views_28d",
            "item_engagements_7d",
            "item_engaged_users_7d",
            "item_engaged_users_28d",
            "item_impressions_7d",
            "item_clicks_7d",
        ),
    ),
    Entity("user_item_features", ("user_id", "item_id"), ("pair_interactions_28d", "pair_last_interaction_ts")),
    Entity(
        "user_container_features",
        ("user_id", "container_id"),
        ("container_interactions_28d", "container_last_interaction_ts"),
    ),
)


def point_in_time_sql(requests: str, ts: str, timing: FeatureTiming = FeatureTiming()) -> str:
    """Each row of ``requests`` with every entity's latest feature row usable at its ``ts``.

    Usable means published (``available_at <= ts``) and not older than the TTL; otherwise
    the entity's columns are NULL, as for a key never seen. The feature row's own
    ``feature_ts`` comes along as ``<table>_ts`` so models can see how old it is.
    """
    ttl = f"INTERVAL {int(timing.ttl.total_seconds())} SECOND"
    joins, columns = [], []
    for n, entity in enumerate(ENTITIES):
        alias = f"f{n}"
        on = " AND ".join(f"{alias}.{k} = r.{k}" for k in entity.keys)
        keys = ", ".join(entity.keys)
        # Only rows of keys asked for, published within the requests' time span: the join's
        # cost follows the requests, not the feature table's history.
        candidates = f"""(SELECT * FROM {SCHEMA}.{entity.table}
            WHERE ({keys}) IN (SELECT ({keys}) FROM requests)
              AND available_at <= (SELECT max({ts}) FROM requests)
              AND available_at >= (SELECT min({ts}) FROM requests) - {ttl})"""
        joins.append(f"ASOF LEFT JOIN {candidates} {alias} ON {on} AND r.{ts} >= {alias}.available_at")
        fresh = f"r.{ts} - {alias}.available_at <= {ttl}"
        columns += [f"CASE WHEN {fresh} THEN {alias}.{v} END AS {v}" for v in entity.values]
        columns.append(f"CASE WHEN {fresh} THEN {alias}.feature_ts END AS {entity.table}_ts")
    return f"""WITH requests AS MATERIALIZED ({requests})
    SELECT r.*, {", ".join(columns)} FROM requests r {" ".join(joins)}"""


def directory_sql(requests: str, ts: str, marts: str = "main") -> str:
    """Each row of ``requests`` (``user_id``, ``item_id``, ``tenant_id``, ``ts``) with the directory
    attributes as of ``ts``: team, role, join date, the item's container, author team and
    creation time, and team size and container size counting only members and items that
    existed then. Training examples and the online snapshot both use it."""
    return f"""
    WITH team_growth AS (
        SELECT team_id, joined_at, row_number() OVER (PARTITION BY team_id ORDER BY joined_at, user_id) AS team_size
        FROM {marts}.dim_users),
    container_growth AS (
        SELECT container_id, created_at,
               row_number() OVER (PARTITION BY container_id ORDER BY created_at, item_id) AS container_items
        FROM {marts}.dim_items),
    tenant_sizes AS (SELECT tenant_id, count(*) AS tenant_users FROM {marts}.dim_users GROUP BY tenant_id),
    described AS (
        SELECT r.*, u.team_id, u.role, u.joined_at, d.container_id, d.author_team_id,
               d.created_at AS item_created_at, s.tenant_users
        FROM ({requests}) r
        LEFT JOIN {marts}.dim_users u ON u.user_id = r.user_id
        LEFT JOIN {marts}.dim_items d ON d.item_id = r.item_id
        LEFT JOIN tenant_sizes s ON s.tenant_id = r.tenant_id)
    SELECT r.*, coalesce(t.team_size, 0) AS team_size, coalesce(c.container_items, 0) AS container_items
    FROM described r
    ASOF LEFT JOIN team_growth t ON t.team_id = r.team_id AND r.{ts} >= t.joined_at
    ASOF LEFT JOIN container_growth c ON c.container_id = r.container_id AND r.{ts} >= c.created_at"""
