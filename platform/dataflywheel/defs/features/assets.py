"""Feature store assets: thin wiring around ``features.build`` and ``features.online``."""

from datetime import datetime, timedelta

import dagster as dg

from dataflywheel import settings
from dataflywheel.defs.automation import after_any_update, when_inputs_arrive
from dataflywheel.defs.ingestion.assets import raw_events
from dataflywheel.defs.partitions import arrival_hours, hours_in, partition_of
from dataflywheel.defs.resources import Warehouse
from dataflywheel.defs.transform.assets import dbt_model
from dataflywheel.features import online
from dataflywheel.features.build import build_feature_rows, build_tiles
from dataflywheel.features.definitions import VIEWS

# What every features asset shares, and how the hourly steps run.
SPEC = dict(
    group_name="features",
    owners=["team:ml-platform"],
    automation_condition=when_inputs_arrive(snapshots=[dbt_model("dim_items")]),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=3)),
)
HOURLY_STEP = dict(partitions_def=arrival_hours(), pool="duckdb", backfill_policy=dg.BackfillPolicy.single_run())


@dg.asset(
    deps=[raw_events, dbt_model("dim_items")],
    description="Per-key counts of one arrival hour (users, items, engagers, user-item pairs): "
    "the building blocks every window sums.",
    kinds={"duckdb"},
    **SPEC,
    **HOURLY_STEP,
)
def feature_tiles(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.engine() as engine:
        for hour in hours_in(context.partition_time_window):  # in order, each in its own transaction
            rows = build_tiles(engine, hour)
            context.add_asset_metadata({f"{t}_rows": n for t, n in rows.items()}, partition_key=partition_of(hour))
    return dg.MaterializeResult()


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            view.table,
            deps=[feature_tiles],
            description=f"Feature rows keyed by {', '.join(view.keys)}: one per key active in the hour, "
            "with window values as of feature_ts and available_at for point-in-time joins.",
            kinds={"duckdb"},
            **SPEC,
        )
        for view in VIEWS
    ],
    **HOURLY_STEP,
)
def feature_rows(context: dg.AssetExecutionContext, warehouse: Warehouse):
    with warehouse.engine() as engine:
        for hour in hours_in(context.partition_time_window):  # in order: an hour's windows read the tiles up to it
            for table, n in build_feature_rows(engine, hour).items():
                context.add_asset_metadata({"dagster/row_count": n}, asset_key=table, partition_key=partition_of(hour))
    for view in VIEWS:
        yield dg.MaterializeResult(asset_key=view.table)


@dg.asset(
    deps=[view.table for view in VIEWS],
    kinds={"parquet"},
    pool="duckdb",
    **(SPEC | {"automation_condition": after_any_update()}),
    description="The latest feature row per key as Parquet files the ranking service loads without the "
    "warehouse; each file is replaced atomically.",
)
def online_features(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.engine() as engine:
        as_of = online.newest_available_at(engine) or datetime(1970, 1, 1)
        rows = online.publish(engine, settings.current().online_features_dir, as_of)
    return dg.MaterializeResult(
        metadata={
            "as_of": str(as_of),
            "path": str(settings.current().online_features_dir),
            **{f"{t}_rows": n for t, n in rows.items()},
        }
    )
