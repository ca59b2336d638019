"""Daily snapshots of the product's directory: users with their teams, items with their homes.

In the real product these come from the application database (an export or CDC), not
from the event stream; ``dim_users`` and ``dim_items`` are built from them.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from dataflywheel.simulator.config import SimulationConfig
from dataflywheel.simulator.wire import ITEM_TYPES, decode_labels
from dataflywheel.simulator.world import ROLES, World


def _timestamps(config: SimulationConfig, seconds: np.ndarray) -> pa.Array:
    return pa.array(config.start_us + seconds.astype(np.int64) * 1_000_000, pa.timestamp("us", tz="UTC"))


def _text(prefix: str, ids: np.ndarray) -> pa.Array:
    """The same id text as the events carry (prefix + integer)."""
    return pl.select(pl.lit(prefix) + pl.Series(ids).cast(pl.String)).to_series().to_arrow()


def users_snapshot(world: World, config: SimulationConfig, day: int) -> pa.Table:
    users = np.flatnonzero(world.user_join_day <= day)
    return pa.table(
        {
            "user_id": _text("u", users),
            "tenant_id": _text("t", world.user_tenant[users]),
            "team_id": _text("tm", world.user_team[users]),
            "role": decode_labels(world.user_role[users], list(ROLES)),
            "utc_offset_hours": pa.array(world.user_tz_hours[users].astype(np.float64)),
            "joined_at": _timestamps(config, world.user_join_day[users] * 86_400),
        }
    )


def items_snapshot(world: World, config: SimulationConfig, day: int) -> pa.Table:
    items = np.flatnonzero(world.item_created_s < (day + 1) * 86_400)
    container = world.item_container[items]
    return pa.table(
        {
            "item_id": _text("i", items),
            "tenant_id": _text("t", world.item_tenant[items]),
            "item_type": decode_labels(world.item_type[items], ITEM_TYPES),
            "container_id": _text("c", container),
            "container_type": decode_labels(world.item_type[items], ["project", "space"]),
            "author_team_id": _text("tm", world.item_team[items]),
            "author_user_id": _text("u", world.item_author[items]),
            "created_at": _timestamps(config, world.item_created_s[items]),
        }
    )
