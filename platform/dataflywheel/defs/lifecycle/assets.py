"""Retraining when the world changed: a challenger and its quality gate.

Launched by the retrain sensor (defs/lifecycle/sensors.py) for the day whose drift was confirmed.
The gate is a blocking check: a challenger that fails it is registered (to be looked at) but
goes no further; one that passes goes on to the off-policy gate and the canary
(defs/lifecycle/canary.py), which promote it only on what live users do with it.
"""

from datetime import timedelta

import dagster as dg

from dataflywheel import settings
from dataflywheel.defs.partitions import event_days
from dataflywheel.defs.ranking.assets import SPEC, ranker_model, run_lineage, training_examples
from dataflywheel.defs.resources import ModelRegistry, Warehouse, examples_between
from dataflywheel.lifecycle.challenger import RetrainWindow, fit_challenger, judge
from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.lifecycle.registry import CHALLENGER, GATE_FAILED, GATE_PASSED, GATE_TAG, TRAINED_THROUGH

GATE = "challenger_not_worse"
ON_DEMAND = {
    **SPEC,
    "automation_condition": None,  # only the retrain sensor starts these
    # On demand: none in a quarter means the retrain path has gone unexercised, worth a look.
    "freshness_policy": dg.FreshnessPolicy.time_window(fail_window=timedelta(days=90)),
}


class ChallengerConfig(dg.Config):
    """The recent window a challenger learns from and the held-out hours that judge it."""

    train_hours: int = 42
    holdout_hours: int = 6
    learning_rate: float = 0.1


@dg.asset(
    deps=[training_examples, ranker_model],
    partitions_def=event_days(),
    kinds={"river", "mlflow"},
    **ON_DEMAND,
    check_specs=[
        dg.AssetCheckSpec(
            GATE,
            asset="ranker_challenger",
            blocking=True,
            description=f"On the same held-out hours {settings.current().gate.describe()}; otherwise it goes "
            "no further.",
        )
    ],
    description="A ranker fitted from scratch on the hours before the day's last ones, judged against the "
    "champion on those last hours, registered as `challenger`.",
)
def ranker_challenger(
    context: dg.AssetExecutionContext, config: ChallengerConfig, warehouse: Warehouse, model_registry: ModelRegistry
) -> dg.MaterializeResult:
    window = RetrainWindow.ending_with(
        context.partition_time_window.start.date(), config.train_hours, config.holdout_hours
    )
    lag = settings.current().serving_lag_hours
    learned_until = window.learned_until(lag)
    challenger = fit_challenger(examples_between(warehouse, window.train_start, learned_until), config.learning_rate)
    stream = examples_between(warehouse, learned_until, window.holdout_end)
    champions = ModelStore(settings.current().ranker_chain_dir)
    comparison = judge(challenger, stream, window.holdout_start, champions, lag)  # learns the holdout too
    passed = comparison.passed(settings.current().gate)
    tags = run_lineage(context) | {
        "trained_from": str(window.train_start),
        "trained_until": str(window.holdout_end),
        TRAINED_THROUGH: str(window.holdout_end - timedelta(hours=1)),  # judging it taught it the holdout
        GATE_TAG: GATE_PASSED if passed else GATE_FAILED,  # what a promotion reads: its own gate's verdict
    }
    measured = comparison.metrics()
    version = model_registry.get().register(challenger, tags, measured, alias=CHALLENGER)
    numbers = {k: dg.FloatMetadataValue(v) for k, v in measured.items()}
    return dg.MaterializeResult(
        metadata={"registry_version": int(version.version), "holdout_examples": comparison.examples, **numbers},
        check_results=[
            dg.AssetCheckResult(
                check_name=GATE,
                passed=passed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"registry_version": int(version.version), **numbers},
            )
        ],
    )
