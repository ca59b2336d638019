"""Ranking assets: thin wiring around ``features.examples``, ``ranking`` and ``lifecycle.model_store``."""

from datetime import datetime, timedelta

import dagster as dg

from dataflywheel import settings
from dataflywheel.defs.automation import once_per_hour_in_order, when_inputs_arrive
from dataflywheel.defs.ingestion.assets import raw_events
from dataflywheel.defs.partitions import arrival_hours, event_days, hours_in, partition_of
from dataflywheel.defs.resources import ModelRegistry, Warehouse, examples_between
from dataflywheel.defs.transform.assets import dbt_model
from dataflywheel.features.definitions import VIEWS
from dataflywheel.features.examples import build_examples, hours_with_examples, impressions_between
from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.lifecycle.registry import CHAMPION, TRAINED_THROUGH, code_version
from dataflywheel.monitoring.loss_stream import LossStreamMonitor
from dataflywheel.ranking.evaluation import Served, evaluate_day, held_out_scores
from dataflywheel.ranking.learning import learn_hour
from dataflywheel.ranking.ranker import Ranker

DIMS = [dbt_model("dim_users"), dbt_model("dim_items")]
FEATURE_VIEWS = [dg.AssetKey(view.table) for view in VIEWS]
# What every training asset shares.
SPEC = dict(
    group_name="training",
    owners=["team:ml-platform"],
    pool="duckdb",
    automation_condition=when_inputs_arrive(snapshots=DIMS),
)
PREVIOUS_HOUR = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
LOSS_STREAM_CHECK = "loss_stream_stable"


@dg.asset(
    deps=[
        dbt_model("fct_rec_impressions"),
        dbt_model("dim_users"),
        dbt_model("dim_items"),
        # Impressions of hour h may only use rows published before them: hour h - 1's.
        *[dg.AssetDep(view.table, partition_mapping=PREVIOUS_HOUR) for view in VIEWS],
    ],
    partitions_def=arrival_hours(),
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"duckdb"},
    **(
        SPEC
        | {
            "automation_condition": when_inputs_arrive(
                snapshots=DIMS, may_be_missing=FEATURE_VIEWS, built_apart=FEATURE_VIEWS
            )
        }
    ),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=4)),
    description="Home-feed impressions of the hour with labels (clicked, engaged), propensity, position, "
    "model version, segments, and features joined point-in-time on available_at with a TTL.",
)
def training_examples(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    hours = hours_in(context.partition_time_window)
    _require_features_of_hours_before(context, hours)
    with warehouse.engine() as engine:
        for hour in hours:
            context.add_asset_metadata(
                {"dagster/row_count": build_examples(engine, hour)}, partition_key=partition_of(hour)
            )
    return dg.MaterializeResult()


def _require_features_of_hours_before(context: dg.AssetExecutionContext, hours: list[datetime]) -> None:
    """Each hour's features come from the hour before, which may lack them only if it had no
    events (the data's first hour)."""
    before = {partition_of(hour - timedelta(hours=1)) for hour in hours}
    with_events = before & context.instance.get_materialized_partitions(raw_events.key)
    for key in FEATURE_VIEWS:
        missing = sorted(with_events - context.instance.get_materialized_partitions(key))
        if missing:
            raise dg.Failure(
                f"Hours {', '.join(missing)} have events but no {key.to_user_string()}: materialize them first."
            )


class ScoreWeights(dg.Config):
    """How the ranking score weighs the objectives: w_click * P(click) + w_engage * P(click and engaged)."""

    w_click: float = 1.0
    w_engage: float = 2.0


@dg.asset(
    deps=[training_examples, dg.AssetDep("ranker_model", partition_mapping=PREVIOUS_HOUR)],
    partitions_def=arrival_hours(),
    # A catch-up's hours in one run, learned in order; each hour is logged as a materialization
    # (and a loss-stream check evaluation) of its own partition, with its own metadata.
    backfill_policy=dg.BackfillPolicy.single_run(),
    output_required=False,
    kinds={"river"},
    **(SPEC | {"automation_condition": once_per_hour_in_order(dg.AssetKey("ranker_model"))}),
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=settings.current().serving_lag_hours + 2)
    ),
    description="The ranker of hour h: hour h - 1's model updated with hour h's examples in mini-batches, "
    "once their labels are mature. Before learning them it records how the model that served hour h "
    f"(the chain's model {settings.current().serving_lag_hours} hours before) scored them.",
)
def ranker_model(
    context: dg.AssetExecutionContext, config: ScoreWeights, warehouse: Warehouse, model_registry: ModelRegistry
):
    # Each hour's events are yielded as it is learned, so they are recorded at once: should a later
    # hour fail, every hour before it is materialized, as its saved model and registry version are.
    for hour in _unlearned_before(hours_in(context.partition_time_window), warehouse):
        partition = partition_of(hour)
        metadata = _learn_hour(context, hour, partition, config, warehouse, model_registry)
        yield dg.AssetMaterialization(context.asset_key, partition=partition, metadata=metadata)
        yield dg.AssetCheckEvaluation(
            asset_key=context.asset_key,
            check_name=LOSS_STREAM_CHECK,
            partition=partition,
            **_loss_stream_verdict(metadata),
        )


def _unlearned_before(hours: list[datetime], warehouse: Warehouse) -> list[datetime]:
    """``hours``, after the hours before them the chain has not learned yet but can (their examples
    are built): the daemon may start a later hour's run while an earlier one's is still to come,
    and the chain learns in order. Hours without examples stay gaps (see ``_learn_hour``)."""
    before = ModelStore(settings.current().ranker_chain_dir).latest_before(hours[0])
    if before is None or before == hours[0] - timedelta(hours=1):
        return hours
    with warehouse.engine() as engine:
        built = hours_with_examples(engine, before + timedelta(hours=1), hours[0])
    return sorted(built) + hours


def _learn_hour(
    context: dg.AssetExecutionContext,
    hour: datetime,
    partition: str,
    config: ScoreWeights,
    warehouse: Warehouse,
    model_registry: ModelRegistry,
) -> dict:
    """Learn ``hour`` into the chain, register the model; the hour's metadata."""
    store, monitors = ModelStore(settings.current().ranker_chain_dir), ModelStore(settings.current().loss_monitor_dir)
    before = store.latest_before(hour)
    if before is not None and before < hour - timedelta(hours=1):
        # Hours without a model: go on from the last one only if they had nothing to learn.
        with warehouse.engine() as engine:
            skipped = impressions_between(engine, before + timedelta(hours=1), hour)
        if skipped:
            raise dg.Failure(
                f"No ranker for {hour - timedelta(hours=1)} and {skipped} impressions since the last one "
                f"({before}): materialize the chain in order."
            )
    ranker = store.load(before) if before is not None else Ranker()  # None: the chain starts here, from the priors
    ranker.w_click, ranker.w_engage = config.w_click, config.w_engage
    monitor = (monitors.load(before) if before is not None else None) or LossStreamMonitor()
    examples = examples_between(warehouse, hour, hour + timedelta(hours=1))
    update = learn_hour(ranker, examples, Served(store, settings.current().serving_lag_hours).load(hour), monitor)
    head = store.latest_hour()
    moves_head = head is None or hour >= head  # a re-run or backfill of an older hour never moves champion
    path = store.save(hour, ranker)
    monitors.save(hour, monitor)
    retained_from = hour - timedelta(days=settings.current().model_retention_days)
    expired = store.expire(retained_from) + monitors.expire(retained_from)
    measured = {k: v for k, v in update.metrics.items() if isinstance(v, float)}
    alias = CHAMPION if moves_head else None
    tags = _lineage(context, partition) | {TRAINED_THROUGH: str(hour)}
    version = model_registry.get().register(ranker, tags, measured, alias=alias)
    return {
        **{name: dg.FloatMetadataValue(v) for name, v in measured.items()},
        "loss_stream_alarms": dg.FloatMetadataValue(float(update.alarms)),
        "loss_stream_alarms_in_chain": monitor.alarms,
        "examples": examples.height,
        "examples_seen": ranker.examples_seen,
        "path": str(path),
        "registry_version": int(version.version),
        "moved_champion": moves_head,
        "expired_states": expired,
    }


def _loss_stream_verdict(metadata: dict) -> dict:
    """The check's verdict on an hour's ranker metadata (raw values or metadata values)."""

    def value(name: str):
        raw = metadata.get(name)
        return getattr(raw, "value", raw)

    alarms = int(value("loss_stream_alarms"))
    return {
        "passed": alarms == 0,
        "severity": dg.AssetCheckSeverity.WARN,
        "metadata": {"alarms": alarms, "alarms_in_chain": value("loss_stream_alarms_in_chain")},
    }


@dg.asset_check(
    asset=ranker_model,
    name=LOSS_STREAM_CHECK,
    partitions_def=arrival_hours(),
    description="Page-Hinkley on the held-out excess log loss (blocks of examples, carried hour to hour) "
    "raised no alarm this hour: an early warning, before the day's drift report.",
)
def loss_stream_stable(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Re-evaluates one hour from its materialization. In ranker_model's own runs this step is
    skipped: the asset logs each hour's evaluation itself (a range run has no single partition).
    A check of its own rather than a check spec of ranker_model: Dagster's automation maps the
    checks of a self-dependent asset onto its previous partition and would re-request that hour."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=ranker_model.key, asset_partitions=[context.partition_key]), limit=1
    ).records
    if not records:
        raise dg.Failure(f"ranker_model[{context.partition_key}] has no materialization to check.")
    return dg.AssetCheckResult(**_loss_stream_verdict(records[0].asset_materialization.metadata))


def run_lineage(context: dg.AssetExecutionContext, partition: str | None = None) -> dict[str, str]:
    """Where a model version came from: this run (its ``partition``, default the run's) and this code."""
    return {
        "dagster_partition": partition or context.partition_key,
        "dagster_run_id": context.run.run_id,
        "code_version": code_version(),
    }


def _lineage(context: dg.AssetExecutionContext, partition: str) -> dict[str, str]:
    """An hourly version's lineage: the run, the code, and the examples it learned."""
    examples = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=training_examples.key, asset_partitions=[partition]), limit=1
    ).records
    return run_lineage(context, partition) | {"training_examples_run_id": examples[0].run_id if examples else ""}


# The hourly assets a daily report reads: their runs are never the report's own.
HOURLY_CHAIN = [training_examples.key, ranker_model.key]


@dg.asset(
    deps=[ranker_model, training_examples],
    partitions_def=event_days(),
    kinds={"river"},
    **(SPEC | {"automation_condition": when_inputs_arrive(built_apart=HOURLY_CHAIN)}),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=30)),
    description="The day's impressions scored by the model of the hour before each (held out by time): "
    "NDCG@10 against most-popular-in-tenant and random, AUC, log loss, calibration per segment and "
    "exposure by item group.",
)
def model_evaluation(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    window = context.partition_time_window
    start, end = window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)
    examples = examples_between(warehouse, start, end)
    scored = held_out_scores(
        examples, Served(ModelStore(settings.current().ranker_chain_dir), settings.current().serving_lag_hours)
    )
    not_evaluable = {"not_evaluable_examples": examples.height - scored.height}  # hours the chain had no model for
    if scored.height == 0:
        return dg.MaterializeResult(metadata={"verdict": "not evaluable: no model for any hour", **not_evaluable})
    result = evaluate_day(scored)
    numbers = {f"ndcg_at_10/{policy}": v for policy, v in result.ndcg_at_10.items()}
    numbers |= {"auc_click": result.auc_click, "log_loss_click": result.log_loss_click}
    numbers["ndcg_margin_over_most_popular"] = result.margin_over_most_popular
    numbers |= {f"calibration/{c}={v}": x for c, values in result.calibration.items() for v, x in values.items()}
    numbers |= {f"exposure/{g}={v}": x for g, values in result.exposure.items() for v, x in values.items()}
    numbers |= {f"{m}/{segment}": x for segment, values in result.cold_start.items() for m, x in values.items()}
    return dg.MaterializeResult(
        metadata={
            "examples": result.examples,
            **not_evaluable,
            **{k: dg.FloatMetadataValue(v) for k, v in numbers.items() if v is not None},
        }
    )
