"""The online side of the feature store: the latest row per key as files, and request rows from them.

The ranking service loads these without opening the warehouse (DuckDB allows one writer,
and serving must not wait for it). The rows are the offline feature rows themselves, picked
as the point-in-time join would pick them at ``as_of`` and kept as long as the join keeps
them (each view's TTL), plus the directory attributes computed by the same SQL as the
training examples'. :meth:`OnlineSnapshot.request_rows` assembles a request's row from them
with the same request-time function as training: one definition, two uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from dataflywheel.features.build import ensure_feature_tables, sql_timestamp
from dataflywheel.features.definitions import SCHEMA, VIEWS, FeatureView
from dataflywheel.features.point_in_time import directory_sql
from dataflywheel.features.request_time import derive
from dataflywheel.warehouse.engine import Engine

USER_DIRECTORY, ITEM_DIRECTORY = "user_directory", "item_directory"
USER_ATTRIBUTES = ("team_id", "role", "joined_at", "tenant_users", "team_size")
ITEM_ATTRIBUTES = ("item_type", "container_id", "author_team_id", "item_created_at", "container_items")


def usable_rows_sql(view: FeatureView, as_of: datetime) -> str:
    """The view's rows the point-in-time join may use at ``as_of``: published, and not older than the TTL."""
    return f"""SELECT * FROM {SCHEMA}.{view.table} WHERE available_at <= {sql_timestamp(as_of)}
        AND available_at >= {sql_timestamp(as_of - view.ttl)}"""


def newest_available_at(engine: Engine, views=VIEWS) -> datetime | None:
    """When the newest user feature row became usable: the time a snapshot published now describes."""
    ensure_feature_tables(engine, views)
    return engine.scalar(f"SELECT max(available_at) FROM {SCHEMA}.{views[0].table}")


def publish(engine: Engine, out_dir: Path, as_of: datetime, marts: str = "main", views=VIEWS) -> dict[str, int]:
    """Write ``<view>.parquet`` per feature view, and the user and item directory as of ``as_of``
    (team and container sizes then), each replaced atomically; rows per file."""
    ensure_feature_tables(engine, views)  # before the first feature hour: empty files, not a failure
    rows = {}
    for view in views:
        latest = engine.latest_per_key_sql(f"({usable_rows_sql(view, as_of)})", view.keys, "available_at")
        rows[view.table] = engine.export_parquet(latest, out_dir / f"{view.table}.parquet")
    ts = sql_timestamp(as_of)
    directories = {
        USER_DIRECTORY: f"""SELECT user_id, CAST(NULL AS STRING) AS item_id, tenant_id, {ts} AS as_of
            FROM {marts}.dim_users WHERE joined_at <= {ts}""",
        ITEM_DIRECTORY: f"""SELECT CAST(NULL AS STRING) AS user_id, item_id, tenant_id, item_type, {ts} AS as_of
            FROM {marts}.dim_items WHERE created_at <= {ts}""",
    }
    for name, requests in directories.items():
        rows[name] = engine.export_parquet(directory_sql(engine, requests, "as_of", marts), out_dir / f"{name}.parquet")
    return rows


@dataclass
class OnlineSnapshot:
    """One published snapshot, in memory: what the ranking service reads features from."""

    tables: dict[str, pl.DataFrame]
    views: tuple = VIEWS
    _positions: dict[str, dict[tuple, int]] = field(default_factory=dict, repr=False)
    _columns: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False)
    _published: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # a view's available_at per row

    @classmethod
    def load(cls, out_dir: Path, views=VIEWS) -> "OnlineSnapshot":
        names = [view.table for view in views] + [USER_DIRECTORY, ITEM_DIRECTORY]
        return cls({name: pl.read_parquet(out_dir / f"{name}.parquet") for name in names}, views)

    def lookup(self, table: str, **keys: str) -> dict | None:
        """One key's published row (what serving sees), or None."""
        found = self.tables[table].filter(*(pl.col(k) == v for k, v in keys.items()))
        return found.row(0, named=True) if found.height else None

    def index(self) -> None:
        """Build every table's key index and request columns now (the service does, before
        swapping a snapshot in, so no request pays for it)."""
        for table, keys in self._keys().items():
            self._positions_of(table, keys)
            self._request_columns(table)

    def _keys(self) -> dict[str, tuple[str, ...]]:
        return {USER_DIRECTORY: ("user_id",), ITEM_DIRECTORY: ("item_id",), **{v.table: v.keys for v in self.views}}

    def _positions_of(self, table: str, keys: tuple[str, ...]) -> dict[tuple, int]:
        if table not in self._positions:  # one row per key: the snapshot is the latest row per key
            frame = self.tables[table]
            self._positions[table] = dict(zip(zip(*(frame.get_column(k).to_list() for k in keys)), range(frame.height)))
        return self._positions[table]

    def _request_columns(self, table: str) -> pl.DataFrame:
        """What a request takes from ``table``: the directory attributes, or a view's values and
        its ``feature_ts`` as ``<view>_ts``."""
        if table not in self._columns:
            frame = self.tables[table]
            if table in (USER_DIRECTORY, ITEM_DIRECTORY):
                selected = frame.select(*(USER_ATTRIBUTES if table == USER_DIRECTORY else ITEM_ATTRIBUTES))
            else:
                view = next(v for v in self.views if v.table == table)
                selected = frame.select(*view.values, pl.col("feature_ts").alias(view.ts_column))
                self._published[table] = frame.get_column("available_at").to_numpy()
            self._columns[table] = selected
        return self._columns[table]

    def _rows_for(
        self, table: str, requests: pl.DataFrame, view: FeatureView | None = None, ts: str = ""
    ) -> pl.DataFrame:
        """The table's columns for each request's keys, nulls where it has no row: a left join by
        key, through an index built once instead of a hash table built per request. For a
        view, a row counts only if the point-in-time join would use it at the request's ``ts``:
        published by then (``available_at``) and not older than the view's TTL."""
        keys = self._keys()[table]
        columns = self._request_columns(table)
        positions = self._positions_of(table, keys)
        found = [positions.get(key) for key in zip(*(requests.get_column(k).to_list() for k in keys))]
        if view is not None and columns.height:
            at = requests.get_column(ts).to_numpy()
            index = np.array([-1 if p is None else p for p in found], dtype=np.intp)
            published = self._published[table][index]  # -1 (no row) reads the last row: masked out below
            usable = (index >= 0) & (published <= at) & (at - published <= np.timedelta64(view.ttl))
            found = [p if keep else None for p, keep in zip(found, usable.tolist())]
        return columns.gather(pl.Series(found, dtype=pl.UInt32))

    def request_rows(self, requests: pl.DataFrame, ts: str) -> pl.DataFrame:
        """``requests`` (``tenant_id``, ``user_id``, ``item_id`` and the time ``ts``) with every
        feature the training examples have, as the point-in-time join would give at ``ts``."""
        rows = pl.concat(
            [requests, self._rows_for(USER_DIRECTORY, requests), self._rows_for(ITEM_DIRECTORY, requests)],
            how="horizontal",
        )
        views = [self._rows_for(view.table, rows, view, ts) for view in self.views]
        return derive(pl.concat([rows, *views], how="horizontal"), ts)
