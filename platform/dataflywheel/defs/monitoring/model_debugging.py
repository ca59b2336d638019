"""The model debugging report: thin wiring around ``monitoring.debugging``."""

from datetime import timedelta

import dagster as dg

from dataflywheel import settings
from dataflywheel.defs.automation import daily_at
from dataflywheel.defs.features.assets import online_features
from dataflywheel.defs.monitoring.spec import SPEC
from dataflywheel.defs.ranking.assets import ranker_model
from dataflywheel.defs.resources import Warehouse
from dataflywheel.features.examples import load_examples
from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.monitoring import debugging
from dataflywheel.ranking.evaluation import Served, held_out_scores

_CONFIG = settings.current()  # as the definitions were loaded: quoted in the check descriptions


@dg.asset(
    deps=[online_features, ranker_model],
    kinds={"duckdb"},
    **(SPEC | {"automation_condition": daily_at("0 7 * * *")}),
    check_specs=[
        dg.AssetCheckSpec(
            "online_matches_offline",
            asset="model_debugging",
            blocking=True,
            description="Every key sampled from either side has the same features online as the offline "
            "point-in-time join gives at the snapshot's time.",
        ),
        dg.AssetCheckSpec(
            "served_matches_training",
            asset="model_debugging",
            description=f"For up to {_CONFIG.skew_keys_per_table:,} sampled impressions the ranking service served in "
            "the last 24 hours, every feature it logged equals the training example's for that impression.",
        ),
        dg.AssetCheckSpec(
            "calibrated_by_segment",
            asset="model_debugging",
            description=f"In every segment with {_CONFIG.calibration_min_clicks}+ clicks, predicted P(click) is "
            f"within {_CONFIG.calibration_tolerance:.0%} of the observed rate; on served traffic the prediction is "
            "the one the service served with (segment predicted_by=service), elsewhere the chain's replay.",
        ),
    ],
    description="Works offline, poorly online? Served (online snapshot) vs offline features for the same keys "
    "and time, the features logged with served lists vs their training examples, and predicted vs observed "
    "click rate per segment over the snapshot's last 24 hours.",
)
def model_debugging(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    config = settings.current()
    online_dir = config.online_features_dir
    with warehouse.engine() as engine:
        skew = debugging.feature_skew(engine, online_dir, config.skew_keys_per_table, seed=0)
        as_of = debugging.snapshot_time(engine, online_dir)
        examples = load_examples(engine, as_of - timedelta(hours=24), as_of) if as_of else None
        served = (
            debugging.served_skew(engine, examples, config.skew_keys_per_table, seed=0)
            if examples is not None and examples.height
            else debugging.ServedSkew(0, {})
        )
    calibration = None
    if examples is not None and examples.height:
        replayed = held_out_scores(examples, Served(ModelStore(config.ranker_chain_dir), config.serving_lag_hours))
        with warehouse.engine() as engine:
            scored = debugging.with_served_predictions(engine, replayed)
        calibration = debugging.calibration_by_segment(scored)
    off = (
        debugging.miscalibrated(calibration, config.calibration_tolerance, config.calibration_min_clicks)
        if calibration is not None
        else None
    )
    mismatched = {c: share for c, share in skew.mismatched.items() if share > 0}
    served_mismatched = {c: share for c, share in served.mismatched.items() if share > 0}
    return dg.MaterializeResult(
        metadata={
            "as_of": str(as_of),
            "keys_compared": dg.MetadataValue.json(skew.keys_compared),
            "worst_mismatch_share": dg.FloatMetadataValue(skew.worst),
            "mismatched_columns": dg.MetadataValue.json(mismatched),
            **(
                {"calibration_by_segment": dg.MetadataValue.md(_markdown(calibration))}
                if calibration is not None
                else {}
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="online_matches_offline",
                passed=not mismatched,
                metadata={"mismatched_columns": dg.MetadataValue.json(mismatched)},
            ),
            dg.AssetCheckResult(
                check_name="served_matches_training",
                passed=not served_mismatched,
                metadata={
                    "impressions_compared": served.impressions_compared,
                    "mismatched_features": dg.MetadataValue.json(served_mismatched),
                },
            ),
            dg.AssetCheckResult(
                check_name="calibrated_by_segment",
                passed=off is None or off.height == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "segments_off": ", ".join(f"{s}={v}" for s, v in off.select("segment", "value").iter_rows())
                    if off is not None
                    else "no examples"
                },
            ),
        ],
    )


def _markdown(table) -> str:
    lines = ["| segment | value | examples | predicted | observed | ratio |", "|---|---|---:|---:|---:|---:|"]
    for r in table.iter_rows(named=True):
        numbers = f"{r['examples']:,} | {r['predicted']:.4f} | {r['observed']:.4f} | {r['ratio']:.2f}"
        lines.append(f"| {r['segment']} | {r['value']} | {numbers} |")
    return "\n".join(lines)
