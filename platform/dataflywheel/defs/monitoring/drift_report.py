"""The daily drift report: thin wiring around ``monitoring.drift``."""

import dagster as dg

from dataflywheel import settings
from dataflywheel.defs.monitoring.spec import SPEC
from dataflywheel.defs.partitions import event_days
from dataflywheel.defs.ranking.assets import ranker_model, training_examples
from dataflywheel.defs.resources import Warehouse
from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.monitoring import drift
from dataflywheel.ranking.evaluation import Served


@dg.asset(
    deps=[training_examples, ranker_model],
    partitions_def=event_days(),
    kinds={"evidently"},
    **SPEC,
    check_specs=[
        dg.AssetCheckSpec(
            "no_drift",
            asset="drift_report",
            description="The day looks like the days before it: no data, prediction or target drift and no "
            "quality drop (a failure warns; the retrain sensor acts on it).",
        )
    ],
    description="The day against the previous 7 days of the same kind (working day / weekend), sampled in "
    "the warehouse: Evidently data drift on the model's inputs, prediction drift on its scores, target drift "
    "on click and engagement rates, and the held-out AUC. HTML and JSON under the home folder.",
)
def drift_report(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    day = context.partition_time_window.start.date()
    with warehouse.engine() as engine:
        first_day = drift.first_data_day(engine)
        snapshot, verdict = (None, None)
        if first_day is not None:
            try:
                served = Served(ModelStore(settings.current().ranker_chain_dir), settings.current().serving_lag_hours)
                snapshot, verdict = drift.judge_day(engine, served, day, first_day)
            except drift.ModelMissing as missing:
                raise dg.Failure(str(missing)) from missing
    if verdict is None:
        note = "no comparable reference yet (the first day, or the first weekend day)"
        return dg.MaterializeResult(
            metadata={"verdict": note, "drifted": dg.FloatMetadataValue(0.0)},
            check_results=[dg.AssetCheckResult(check_name="no_drift", passed=True, metadata={"verdict": note})],
        )
    paths = drift.save(snapshot, settings.current().drift_reports_dir, day.isoformat())
    flags = {flag: dg.FloatMetadataValue(float(getattr(verdict, flag))) for flag in drift.FLAGS}
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.url(paths["html"].as_uri()),
            "json": dg.MetadataValue.path(str(paths["json"])),
            "drifted": dg.FloatMetadataValue(float(verdict.drifted)),
            "drifted_share": dg.FloatMetadataValue(verdict.drifted_share),
            **flags,
            "drifted_columns": ", ".join(verdict.drifted_columns) or "none",
            "not_judged": ", ".join(verdict.not_judged) or "none",
            "current_rows": verdict.current_rows,
            "reference_rows": verdict.reference_rows,
            **{f"drift_score/{c}": dg.FloatMetadataValue(v) for c, v in verdict.column_scores.items()},
            **{k: dg.FloatMetadataValue(v) for k, v in verdict.quality.items() if v is not None},
            **{
                f"{target}_rate_{side}": dg.FloatMetadataValue(rate)
                for target, pair in verdict.target_rates.items()
                for side, rate in zip(("reference", "current"), pair)
            },
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_drift",
                passed=not verdict.drifted,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"reasons": ", ".join(verdict.reasons) or "none"},
            )
        ],
    )
