"""The canary as Dagster wiring: the off-policy gate, the start, the verdict, the sensor that acts.

A challenger (from a retrain, or registered by hand) goes through, in order:

1. ``challenger_off_policy``: caught up to the chain's head, replayed on the last day's logged
   lists beside the champion (``serving.replay``); a blocking check stops a
   challenger that is clearly worse before any user sees it.
2. ``ranker_canary``: tags it ``canary=running`` with its share of users; the service deploys
   it beside the champion for those users.
3. ``canary_verdict``: after every hour of mature labels, both arms' served lists judged by the
   always-valid test and the guardrails (``lifecycle.canary``).
4. ``canary_sensor``: on a verdict to promote or roll back, launches ``conclude_canary`` (in the
   warehouse's pool, like every lifecycle job) and raises an alert saying why.
"""

from datetime import datetime, timedelta

import dagster as dg
import polars as pl

from dataflywheel import settings
from dataflywheel.defs.automation import after_any_update
from dataflywheel.defs.lifecycle.assets import ON_DEMAND, ranker_challenger
from dataflywheel.defs.partitions import event_days
from dataflywheel.defs.ranking.assets import SPEC, training_examples
from dataflywheel.defs.resources import ModelRegistry, Warehouse, examples_between, model_registry
from dataflywheel.features.online import USER_DIRECTORY, OnlineSnapshot
from dataflywheel.lifecycle import canary, promotion
from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.lifecycle.registry import CHALLENGER, CHAMPION, MODEL_NAME
from dataflywheel.monitoring.alerts import Alert, configured_sinks
from dataflywheel.serving.recommend import CandidateIndex, Policy
from dataflywheel.serving.replay import gate
from dataflywheel.warehouse.engine import Engine

OFF_POLICY_GATE = "off_policy_not_worse"
OPE_WINDOW = timedelta(hours=24)  # the logged lists the gate replays: the day before the chain's head
OPE_MAX_REQUESTS = 3_000


class CanaryConfig(dg.Config):
    share: float = canary.CanaryRules().share  # of users the challenger serves


def _examples(warehouse: Warehouse):
    return lambda start, end: examples_between(warehouse, start, end)


@dg.asset(
    deps=[ranker_challenger],
    partitions_def=event_days(),
    kinds={"mlflow"},
    **ON_DEMAND,
    check_specs=[
        dg.AssetCheckSpec(
            OFF_POLICY_GATE,
            asset="challenger_off_policy",
            blocking=True,
            description="Replayed on the last day's logged lists, the 95% intervals of the challenger's and the "
            "champion's self-normalized IPS estimates of clicks per slot overlap, or the challenger's is higher: "
            "not clearly worse.",
        )
    ],
    description="The challenger caught up to the chain's head, and both models' click rate per slot estimated "
    "off-policy from the lists the service logged (IPS and SNIPS with 95% intervals).",
)
def challenger_off_policy(
    context: dg.AssetExecutionContext, warehouse: Warehouse, model_registry: ModelRegistry
) -> dg.MaterializeResult:
    config, registry = settings.current(), model_registry.get()
    store = ModelStore(config.ranker_chain_dir)
    found = registry.alias(CHALLENGER)
    if found is None:
        raise dg.Failure("No challenger is registered.")
    challenger = promotion.catch_up(registry, store, found.version, _examples(warehouse), {}, alias=CHALLENGER)
    head = store.latest_hour() or datetime.now()
    with warehouse.engine() as engine:
        logged = engine.frame(
            """SELECT rec_request_id, tenant_id, user_id, item_id, position, propensity, clicked
               FROM main.fct_rec_impressions
               WHERE impression_ts >= ? AND impression_ts < ? AND propensity > 0
               ORDER BY impression_ts, rec_request_id, position""",
            [head - OPE_WINDOW, head + timedelta(hours=1)],
        )
    requests = logged.get_column("rec_request_id").unique(maintain_order=True)
    if requests.len() > OPE_MAX_REQUESTS:
        kept = requests.sample(OPE_MAX_REQUESTS, seed=0)
        logged = logged.filter(pl.col("rec_request_id").is_in(kept.implode()))
    if logged.height == 0:
        raise dg.Failure(f"No logged lists in the {OPE_WINDOW} before {head}: nothing to judge the challenger on.")
    snapshot = OnlineSnapshot.load(config.online_features_dir)
    as_of = snapshot.tables[USER_DIRECTORY].get_column("as_of").max()
    index = CandidateIndex(snapshot, as_of, Policy())
    champion = registry.alias(CHAMPION)
    result = gate(
        logged, snapshot, index, registry.load(champion.version), registry.load(challenger.version), as_of, Policy()
    )
    numbers = {
        f"{who}/{estimator}/{part}": dg.FloatMetadataValue(getattr(estimate, part))
        for who, by_estimator in (("champion", result.champion), ("challenger", result.challenger))
        for estimator, estimate in by_estimator.items()
        for part in ("estimate", "ci_low", "ci_high")
    }
    registry.client.set_model_version_tag(
        MODEL_NAME, challenger.version, OFF_POLICY_GATE, "passed" if result.passed else "failed"
    )
    metadata = {
        "challenger_version": int(challenger.version),
        "champion_version": int(champion.version),
        "logged_slots": logged.height,
        "logged_click_rate": dg.FloatMetadataValue(result.logged_click_rate),
        **numbers,
    }
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[dg.AssetCheckResult(check_name=OFF_POLICY_GATE, passed=result.passed, metadata=metadata)],
    )


@dg.asset(
    deps=[challenger_off_policy],
    partitions_def=event_days(),
    kinds={"mlflow"},
    **ON_DEMAND,
    description="The challenger that passed the off-policy gate serves a share of users, sticky per user, "
    "until canary_verdict decides.",
)
def ranker_canary(context: dg.AssetExecutionContext, config: CanaryConfig, model_registry: ModelRegistry):
    registry = model_registry.get()
    challenger = registry.alias(CHALLENGER)
    running = registry.client.search_model_versions(
        f"name = 'ranker' and tags.{canary.CANARY_TAG} = '{canary.RUNNING}'"
    )
    for earlier in running:  # one canary at a time: the new challenger ends the old one's, on the record
        registry.client.set_model_version_tag(MODEL_NAME, earlier.version, canary.CANARY_TAG, canary.SUPERSEDED)
    for tag, value in {canary.CANARY_TAG: canary.RUNNING, canary.SHARE_TAG: str(config.share)}.items():
        registry.client.set_model_version_tag(MODEL_NAME, challenger.version, tag, value)
    return dg.MaterializeResult(metadata={"challenger_version": int(challenger.version), "share": config.share})


def canary_impressions_sql(engine: Engine, version: str) -> str:
    """The impressions with mature labels since the canary of ``version`` started (its first list,
    served or failed over), with the properties the service logged with each."""
    return f"""WITH arm AS (
            SELECT t.rec_request_id, t.model_version, t.clicked, t.engaged, t.item_segment,
                   t.impression_ts, r.properties
            FROM training.training_examples t
            JOIN raw.raw_events r ON r.event_id = t.impression_id
            WHERE r.event_type = 'rec_impression'
        ), started AS (
            SELECT min(impression_ts) AS at FROM arm
            WHERE model_version = '{version}'
               OR {engine.json_text_sql("properties", "fallback_from")} = '{version}'
        )
        SELECT arm.* FROM arm, started WHERE impression_ts >= started.at"""


@dg.asset(
    deps=[training_examples],
    kinds={"duckdb", "mlflow"},
    **(SPEC | {"automation_condition": after_any_update()}),
    # After every hour of examples: a verdict older than a few hours means canaries go unjudged.
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=6)),
    description="While a canary runs: both arms' served lists with mature labels, compared by an always-valid "
    "sequential test (clicks and engagements per list) and guardrails (errors, scoring tail, calibration). "
    "canary_sensor acts on the verdict.",
)
def canary_verdict(warehouse: Warehouse, model_registry: ModelRegistry) -> dg.MaterializeResult:
    registry = model_registry.get()
    challenger = registry.alias(CHALLENGER)
    if challenger is None or challenger.tags.get(canary.CANARY_TAG) != canary.RUNNING:
        return dg.MaterializeResult(metadata={"action": "none", "reasons": "no canary running"})
    version = str(challenger.version)
    with warehouse.engine() as engine:
        impressions = engine.frame(canary_impressions_sql(engine, version))
    rules = canary.CanaryRules(new_item_floor=Policy().new_item_floor)
    lists = canary.served_lists(impressions)
    champion_arm, challenger_arm = canary.arms(lists, version)
    decision = canary.decide(champion_arm, challenger_arm, rules)
    return dg.MaterializeResult(
        metadata={
            "challenger_version": int(version),
            "action": decision.action,
            "reasons": decision.summary(),
            "champion_lists": champion_arm.lists,
            "challenger_lists": challenger_arm.lists,
            "challenger_impressions": impressions.filter(pl.col("model_version") == version).height,
            "champion_clicks_per_list": dg.FloatMetadataValue(champion_arm.click_rate),
            "challenger_clicks_per_list": dg.FloatMetadataValue(challenger_arm.click_rate),
            "challenger_fallbacks": challenger_arm.fallbacks,
            **{  # what the guardrails judged, for both arms
                f"{who}_{name}": dg.FloatMetadataValue(round(value, 4))
                for who, arm in (("champion", champion_arm), ("challenger", challenger_arm))
                for name, value in (
                    ("predicted_over_observed", arm.predicted_over_observed),
                    ("new_item_share", arm.new_item_share),
                    ("scoring_p90_ms", arm.scoring_tail_ms(90)),
                    ("scoring_p99_ms", arm.scoring_tail_ms(99)),
                )
            },
            **(
                {
                    "clicks_difference": dg.FloatMetadataValue(decision.clicks.difference),
                    "clicks_p_value": dg.FloatMetadataValue(decision.clicks.p_value),
                }
                if decision.clicks
                else {}
            ),
        }
    )


class ConcludeConfig(dg.Config):
    version: str
    action: str  # "promote" or "rollback"
    reason: str


@dg.op(pool="duckdb")
def conclude_canary(
    context: dg.OpExecutionContext, config: ConcludeConfig, warehouse: Warehouse, model_registry: ModelRegistry
) -> str:
    """Promote the challenger (caught up to the chain's head) or end its canary; the registry
    records the outcome and why on the challenger's version."""
    registry = model_registry.get()
    if registry.version(config.version).tags.get(canary.CANARY_TAG) != canary.RUNNING:
        return "already concluded"
    if config.action == "promote":
        store = ModelStore(settings.current().ranker_chain_dir)
        champion = promotion.promote(
            registry, store, config.version, f"canary: {config.reason}", examples=_examples(warehouse)
        )
        context.log.info(f"canary challenger {config.version} promoted as version {champion.version}")
    outcome = canary.PROMOTED if config.action == "promote" else canary.ROLLED_BACK
    # Recorded once it is done: a failed promotion leaves the canary running, to be decided again.
    for tag, value in {canary.CANARY_TAG: outcome, canary.DECISION_TAG: config.reason}.items():
        registry.client.set_model_version_tag(MODEL_NAME, config.version, tag, value)
    context.log.info(f"canary challenger {config.version}: {outcome} ({config.reason})")
    return outcome


@dg.job(tags={"dataflywheel/lifecycle": "canary"})
def conclude_canary_job():
    conclude_canary()


@dg.sensor(jobs=[conclude_canary_job], minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def canary_sensor(context: dg.SensorEvaluationContext):
    """Act on every verdict since the last tick, in order: the first to promote or roll back a
    running challenger launches ``conclude_canary`` (several verdicts may land between ticks)."""
    # The cursor is the storage id of the last verdict read.
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=canary_verdict.key, after_storage_id=after), limit=500, ascending=True
    ).records
    if not records:
        return dg.SkipReason("no new verdict")
    context.update_cursor(str(records[-1].storage_id))
    registry, acted, reasons = model_registry().get(), set(), []
    for record in records:
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        action, version = metadata.get("action"), str(metadata.get("challenger_version"))
        reasons.append(str(metadata.get("reasons")))
        if action not in ("promote", "rollback") or version in acted:
            continue
        if registry.version(version).tags.get(canary.CANARY_TAG) != canary.RUNNING:
            continue  # concluded already
        acted.add(version)
        yield _conclude(version, action, str(metadata["reasons"]), metadata["challenger_lists"], record)
    if not acted:
        yield dg.SkipReason(f"canary: {reasons[-1]}")


def _conclude(version: str, action: str, reason: str, lists: int, record) -> dg.RunRequest:
    """Alert on the decision and request the run that carries it out."""
    severity = "info" if action == "promote" else "warning"
    detail = f"{action}: {reason} ({lists:,} challenger lists)"
    at = record.timestamp
    for sink in configured_sinks():
        sink.send([Alert(f"canary_{action}", f"ranker version {version}", detail, severity, at, f"canary-{version}")])
    config = {"ops": {"conclude_canary": {"config": {"version": version, "action": action, "reason": reason}}}}
    # One run per verdict: should it fail, the next verdict (an hour later) asks again.
    return dg.RunRequest(
        run_key=f"canary-{version}-{record.storage_id}",
        job_name=conclude_canary_job.name,
        run_config=config,
        tags={"reason": reason},
    )
