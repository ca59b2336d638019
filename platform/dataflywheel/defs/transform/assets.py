"""dbt models as assets: labels by event hour, event-time models by day, the rest (directory models,
the events view) unpartitioned."""

import json
from functools import cache

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets, get_asset_key_for_model

from dataflywheel import settings
from dataflywheel.dbt_project import DBT_EXECUTABLE, dbt_project
from dataflywheel.defs.partitions import arrival_hours, event_days
from dataflywheel.defs.transform.translator import EVENT_DAY_TAG, EVENT_HOUR_TAG, DataflywheelTranslator

# Everything without a time partition, named rather than excluded: `dbt build --exclude` would keep
# the tests of the models it leaves out (the labels' relationships to the dims).
UNPARTITIONED = "tag:directory stg_events"


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project(), dbt_executable=DBT_EXECUTABLE)


def window_vars(window: dg.TimeWindow) -> str:
    """The partition's event-time window as dbt vars (naive UTC, end-exclusive)."""
    fmt = "%Y-%m-%d %H:%M:%S"
    return json.dumps({"min_ts": window.start.strftime(fmt), "max_ts": window.end.strftime(fmt)})


def _build(dbt: DbtCliResource, context: dg.AssetExecutionContext, args: list[str]):
    """``dbt build`` of the selection, started with the home's dbt environment (warehouse, target)."""
    with settings.dbt_environment():
        invocation = dbt.cli(["build", *args], context=context)
    yield from invocation.stream()


def _windowed_models(name: str, tag: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The models tagged ``tag``, each run rebuilding its window: one partition, or a backfill's
    whole range at once (dbt gets it as ``min_ts`` / ``max_ts``)."""

    @dbt_assets(
        manifest=dbt_project().manifest_path,
        select=f"tag:{tag}",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        dagster_dbt_translator=DataflywheelTranslator(),
        pool="duckdb",
        name=name,
    )
    def _models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        yield from _build(dbt, context, ["--vars", window_vars(context.partition_time_window)])

    return _models


@cache
def label_models() -> dg.AssetsDefinition:
    """The labels, by impression hour."""
    return _windowed_models("label_models", EVENT_HOUR_TAG, arrival_hours())


@cache
def event_time_models() -> dg.AssetsDefinition:
    """The event-time models, by event day."""
    return _windowed_models("event_time_models", EVENT_DAY_TAG, event_days())


@cache
def unpartitioned_models() -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=dbt_project().manifest_path,
        select=UNPARTITIONED,
        dagster_dbt_translator=DataflywheelTranslator(),
        pool="duckdb",
        name="unpartitioned_models",
    )
    def _unpartitioned_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        """The directory snapshot models and the events view."""
        # Cautious: tests that also touch partitioned models run with those models instead.
        yield from _build(dbt, context, ["--indirect-selection", "cautious"])

    return _unpartitioned_models


def dbt_model(name: str) -> dg.AssetKey:
    """The asset key of a dbt model of the project, by its name; fails as the definitions load if there is
    no such model (every dbt asset definition reads the same manifest)."""
    return get_asset_key_for_model([event_time_models()], name)
