"""Building the feature tables hour by hour, from the declarations in ``features.definitions``.

Two steps, each replacing one arrival hour in one transaction, so a re-run gives the same rows:

1. tiles: per-key counts of the hour's events (small; every window is a sum of tiles);
2. feature rows: for each key active in the hour, every window as of ``feature_ts``. A key
   without activity keeps its last row; the point-in-time join sees how old it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dataflywheel.features.definitions import (
    SCHEMA,
    TILE_BY_TABLE,
    TILES,
    VIEWS,
    FeatureView,
    Tile,
)
from dataflywheel.warehouse.engine import Engine


def sql_timestamp(value: datetime) -> str:
    return f"TIMESTAMP '{value:%Y-%m-%d %H:%M:%S}'"


def sql_interval(value: timedelta) -> str:
    return f"INTERVAL {int(value.total_seconds())} SECOND"


def tile_columns(tile: Tile) -> tuple[tuple[str, str], ...]:
    return (("hour", "TIMESTAMP"), *((k, "VARCHAR") for k in tile.keys), *((m, kind) for m, _, kind in tile.measures))


def tile_sql(tile: Tile, hour: datetime, items_table: str) -> str:
    """One tile table's rows for arrival hour ``hour``: the hour's events (``e``) grouped by the tile's keys."""
    h = sql_timestamp(hour)
    keys = ", ".join(f"e.{k}" for k in tile.keys)
    measures = "".join(f", {expression}" for _, expression, _ in tile.measures)
    items = f"LEFT JOIN {items_table} i ON i.item_id = e.item_id" if tile.joins_items else ""
    return f"""SELECT {h}, {keys}{measures}
        FROM (SELECT * FROM raw.raw_events WHERE arrival_hour = {h}) e {items}
        WHERE {tile.where} GROUP BY {keys}"""


def build_tiles(engine: Engine, hour: datetime, items_table: str = "main.dim_items", tiles=TILES) -> dict[str, int]:
    """Replace arrival hour ``hour``'s tiles from ``raw.raw_events``, in one transaction; rows per table."""
    for tile in tiles:
        engine.ensure_table(f"{SCHEMA}.{tile.table}", tile_columns(tile), partitioned_by="hour")
    with engine.transaction():
        return {
            tile.table: engine.replace_rows(
                f"{SCHEMA}.{tile.table}",
                f"hour = {sql_timestamp(hour)}",
                tile_sql(tile, hour, items_table),
                [name for name, _ in tile_columns(tile)],
                partition=("hour", sql_timestamp(hour)),
            )
            for tile in tiles
        }


def ensure_feature_tables(engine: Engine, views=VIEWS) -> None:
    """Create the feature tables (and any feature column added since): readers get no rows, not an error."""
    for view in views:
        engine.ensure_table(f"{SCHEMA}.{view.table}", view.columns, partitioned_by="feature_ts")


def feature_rows_sql(view: FeatureView, hour: datetime) -> str:
    """The view's rows for arrival hour ``hour``: one per key active in its tiles during the hour."""
    h = sql_timestamp(hour)
    feature_ts = hour + timedelta(hours=1)
    keys = ("tenant_id", *view.keys)
    listed = ", ".join(keys)
    longest = max(f.window.hours for f in view.features)
    horizon = f"t.hour > {h} - INTERVAL {longest} HOUR AND t.hour <= {h}"
    ctes = [f"a AS (SELECT DISTINCT {listed} FROM {SCHEMA}.{view.tiles} a WHERE hour = {h} AND {view.where})"]
    sources = list(dict.fromkeys(f.tiles for f in view.features))
    active_keys = ", ".join(f"a.{k}" for k in keys)
    for n, source in enumerate(sources):
        # The view's keys the tile has as columns (a user-container row sums its container's pairs).
        columns = {name for name, _ in tile_columns(TILE_BY_TABLE[source])}
        shared = ", ".join(k for k in keys if k in columns)
        windows = ", ".join(f"{f.window.sql(h)} AS {f.name}" for f in view.features if f.tiles == source)
        ctes.append(
            f"""s{n} AS (SELECT {active_keys}, {windows}
            FROM a JOIN {SCHEMA}.{source} t USING ({shared}) WHERE {horizon} GROUP BY {active_keys})"""
        )
    values = []
    for f in view.features:
        column = f"s{sources.index(f.tiles)}.{f.name}"
        values.append(f"coalesce({column}, 0)" if f.sql_type in ("BIGINT", "DOUBLE") else column)
    joins = " ".join(f"LEFT JOIN s{n} USING ({listed})" for n in range(len(sources)))
    return f"""WITH {", ".join(ctes)}
        SELECT {active_keys}, {sql_timestamp(feature_ts)},
               {sql_timestamp(feature_ts + view.publish_delay)}, {", ".join(values)}
        FROM a {joins}"""


def build_feature_rows(engine: Engine, hour: datetime, views=VIEWS) -> dict[str, int]:
    """Replace the feature rows of arrival hour ``hour`` in every view, in one transaction; rows per table."""
    ensure_feature_tables(engine, views)
    feature_ts = sql_timestamp(hour + timedelta(hours=1))
    with engine.transaction():
        return {
            view.table: engine.replace_rows(
                f"{SCHEMA}.{view.table}",
                f"feature_ts = {feature_ts}",
                feature_rows_sql(view, hour),
                [name for name, _ in view.columns],
                partition=("feature_ts", feature_ts),
            )
            for view in views
        }
