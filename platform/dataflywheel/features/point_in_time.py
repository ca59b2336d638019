"""The point-in-time join: each request with every view's latest usable row, and the directory as of then.

Usable means published (``available_at <= ts``) and not older than the view's TTL; otherwise
the view's columns are NULL, as for a key never seen. Training examples use it for each
impression; the skew check uses it to recompute what serving saw.
"""

from __future__ import annotations

from dataflywheel.features.build import sql_interval
from dataflywheel.features.definitions import SCHEMA, VIEWS
from dataflywheel.warehouse.engine import AsOfJoin, Engine


def point_in_time_sql(engine: Engine, requests: str, ts: str, views=VIEWS) -> str:
    """Each row of ``requests`` with every view's values as of its ``ts`` (and the row's own
    ``feature_ts`` as ``<table>_ts``, so models can see how old it is)."""
    joins = []
    for view in views:
        ttl = sql_interval(view.ttl)
        keys = ", ".join(view.keys)
        # Only rows of keys asked for, published within the requests' time span: the join's
        # cost follows the requests, not the feature table's history.
        candidates = f"""(SELECT * FROM {SCHEMA}.{view.table}
            WHERE ({keys}) IN (SELECT {keys} FROM requests)
              AND available_at <= (SELECT max({ts}) FROM requests)
              AND available_at >= (SELECT min({ts}) FROM requests) - {ttl})"""
        usable = f"CASE WHEN l.{ts} - {{r}}.available_at <= {ttl} THEN {{r}}.{{column}} END"
        columns = tuple((v, usable.replace("{column}", v)) for v in view.values)
        columns += ((view.ts_column, usable.replace("{column}", "feature_ts")),)
        joins.append(AsOfJoin(candidates, tuple((k, k) for k in view.keys), "available_at", columns))
    return f"WITH {engine.materialized('requests', requests)} {engine.as_of_join_sql('requests', ts, joins)}"


def directory_sql(engine: Engine, requests: str, ts: str, marts: str = "main") -> str:
    """Each row of ``requests`` (``user_id``, ``item_id``, ``tenant_id``, ``ts``) with the directory
    attributes as of ``ts``: team, role, join date, the item's container, author team and
    creation time, and team size and container size counting only members and items that
    existed then. Training examples and the online snapshot both use it."""
    joins = (
        AsOfJoin("team_growth", (("team_id", "team_id"),), "joined_at", (("team_size", "coalesce({r}.team_size, 0)"),)),
        AsOfJoin(
            "container_growth",
            (("container_id", "container_id"),),
            "created_at",
            (("container_items", "coalesce({r}.container_items, 0)"),),
        ),
    )
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
    {engine.as_of_join_sql("described", ts, joins)}"""
