"""Has the world changed? One day against the days before it, four ways.

- data drift: the model's inputs (as the model sees them), column by column;
- prediction drift: the ranking score and P(click) of the model serving when the day starts;
- target drift: click and engagement rates;
- quality drop: held-out AUC of P(click) (each hour scored by the model of the hour before).

Both sides are bounded samples drawn in the warehouse, so a report costs the same whatever
the day's volume. The report shows every column; the verdict leaves out what changes for
known reasons, measured on simulated weeks without drift (bench/drift_detection.py):

- warm-up: a column whose window is longer than the data behind the reference (a 28-day
  count grows for 28 days after the platform starts), and the predictions while any input
  warms up;
- the weekly cycle: counts over a day or less follow traffic volume, which differs between
  working days and weekends (and is watched by the volume checks on raw_events). For the
  same reason the reference is the previous days of the same kind, where a day's kind is
  whether it and the day before it are working days (its windows reach into yesterday):
  Tuesday to Friday are alike, a Monday is compared with Mondays, a Saturday with Saturdays.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import polars as pl
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from dataflywheel import settings
from dataflywheel.features.examples import TABLE as EXAMPLES
from dataflywheel.features.examples import sample_examples
from dataflywheel.monitoring.like_days import reference_days
from dataflywheel.ranking import metrics
from dataflywheel.ranking.evaluation import Served, held_out_scores
from dataflywheel.ranking.inputs import input_specs, model_inputs
from dataflywheel.ranking.ranker import Ranker
from dataflywheel.settings import DriftThresholds
from dataflywheel.warehouse.engine import Engine

PREDICTIONS = ("score", "p_click")  # from one model, the one serving when the day starts
TARGETS = ("clicked", "engaged")
FLAGS = ("data_drift", "prediction_drift", "target_drift", "quality_drop")  # the verdict's four ways
INPUTS = {spec.name: spec for spec in input_specs()}  # what each model input is (ranking.inputs)
TRAFFIC_VOLUME = tuple(name for name, spec in INPUTS.items() if spec.traffic_volume)


class ModelMissing(LookupError):
    """The model a report needs does not exist: not evaluable, never stood in for by the priors."""


@dataclass
class DriftVerdict:
    current_rows: int
    reference_rows: int
    column_scores: dict[str, float]  # distance per column; p-value for the targets
    drifted_columns: list[str]  # over the threshold, judged or not
    judged_features: list[str]  # the feature columns the data-drift verdict counts
    data_drift: bool
    prediction_drift: bool
    target_drift: bool
    quality: dict[str, float | None] = field(default_factory=dict)
    quality_drop: bool = False
    target_rates: dict[str, tuple[float, float]] = field(default_factory=dict)  # (reference, current)

    @property
    def drifted_share(self) -> float:
        """Of the judged feature columns."""
        return sum(c in self.drifted_columns for c in self.judged_features) / max(len(self.judged_features), 1)

    @property
    def not_judged(self) -> list[str]:
        return [c for c in self.column_scores if c not in self.judged_features + list(PREDICTIONS + TARGETS)]

    @property
    def reasons(self) -> list[str]:
        return [flag for flag in FLAGS if getattr(self, flag)]

    @property
    def drifted(self) -> bool:
        return bool(self.reasons)


def judged(features: list[str], history_days: int) -> tuple[list[str], bool]:
    """The feature columns the verdict counts after ``history_days`` of data (each input's window
    is behind it), and whether predictions count (only once every input is steady)."""
    steady = [c for c in features if INPUTS[c].window_days <= history_days]
    return [c for c in steady if c not in TRAFFIC_VOLUME], len(steady) == len(features)


def monitored_frame(scored: pl.DataFrame) -> pl.DataFrame:
    """What the report compares: model inputs, held-out predictions and labels, one row per example."""
    inputs = pl.from_pandas(model_inputs(scored))
    return inputs.with_columns(
        *[scored.get_column(c).alias(c) for c in PREDICTIONS],
        *[scored.get_column(c).cast(pl.Int8).alias(c) for c in TARGETS],
    )


def compare(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    history_days: int,
    thresholds: DriftThresholds | None = None,
    rates: dict[str, tuple[float, float]] | None = None,
):
    """The Evidently snapshot and the verdict for two scored samples (see ``monitored_frame``).

    ``rates``: each target's (reference, current) rate over all rows, when known; else the samples'.
    ``thresholds``: the settings' unless given.
    """
    thresholds = thresholds or settings.current().drift
    ref, cur = monitored_frame(reference), monitored_frame(current)
    features = [c for c in ref.columns if c not in PREDICTIONS + TARGETS]
    judged_features, predictions_judged = judged(features, history_days)
    indicators = [c for c in features if INPUTS[c].binary]
    numeric = [c for c in features if c not in indicators] + list(PREDICTIONS)
    columns = numeric + indicators + list(TARGETS)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=indicators + list(TARGETS))
    preset = DataDriftPreset(
        columns=columns,
        num_method="wasserstein",
        cat_method="jensenshannon",
        threshold=thresholds.column,
        per_column_method={t: "z" for t in TARGETS},
        per_column_threshold={t: thresholds.target_p_value for t in TARGETS},
        drift_share=1 / max(len(judged_features), 1),  # Evidently's own dataset verdict: any column
    )
    snapshot = Report([preset]).run(
        current_data=Dataset.from_pandas(cur.select(columns).to_pandas(), data_definition=definition),
        reference_data=Dataset.from_pandas(ref.select(columns).to_pandas(), data_definition=definition),
    )
    scores, drifted = _column_results(snapshot, thresholds)
    rates = rates or {t: (ref.get_column(t).mean(), cur.get_column(t).mean()) for t in TARGETS}
    drifted = [c for c in drifted if c not in TARGETS or _rate_changed(*rates[c], thresholds)]
    drifted_features = [c for c in drifted if c in judged_features]
    quality = _quality(reference, current)
    verdict = DriftVerdict(
        current_rows=current.height,
        reference_rows=reference.height,
        column_scores=scores,
        drifted_columns=drifted,
        judged_features=judged_features,
        data_drift=bool(drifted_features),
        prediction_drift=predictions_judged and any(c in drifted for c in PREDICTIONS),
        target_drift=any(c in drifted for c in TARGETS),
        quality=quality,
        quality_drop=_quality_dropped(quality, thresholds),
        target_rates=rates,
    )
    return snapshot, verdict


def _column_results(snapshot, thresholds: DriftThresholds) -> tuple[dict[str, float], list[str]]:
    """Per-column drift score and which columns drifted, from the snapshot's ValueDrift metrics.

    For the targets the score is the z-test's p-value (drift = small); otherwise a distance.
    """
    scores, drifted = {}, []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        column, value = config["column"], float(metric["value"])
        scores[column] = value
        is_target = column in TARGETS
        if (value < thresholds.target_p_value) if is_target else (value >= thresholds.column):
            drifted.append(column)
    return scores, drifted


def _rate_changed(before: float, now: float, thresholds: DriftThresholds) -> bool:
    """A significant change in a rate is drift only if it is also large: rates move by up to ~10%
    from one quiet day to the next (measured), and big samples make tiny changes significant."""
    return bool(before) and abs(now / before - 1) >= thresholds.target_change


def _quality(reference: pl.DataFrame, current: pl.DataFrame) -> dict[str, float | None]:
    """Held-out AUC and log loss of P(click) on both sides, each example scored by the model of the hour before it."""

    def measured(df: pl.DataFrame, side: str) -> dict[str, float | None]:
        clicked, p = df.get_column("clicked").to_numpy(), df.get_column("p_click_held_out").to_numpy()
        auc = metrics.auc(clicked, p)
        return {
            f"auc_{side}": auc,
            f"auc_se_{side}": _auc_standard_error(auc, int(clicked.sum()), int(len(clicked) - clicked.sum())),
            f"log_loss_{side}": metrics.log_loss(clicked, p),
        }

    return measured(reference, "reference") | measured(current, "current")


def _auc_standard_error(auc: float | None, positives: int, negatives: int) -> float | None:
    """Hanley and McNeil (1982)."""
    if auc is None:
        return None
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    return math.sqrt(max(variance, 0.0) / (positives * negatives))


def _quality_dropped(q: dict[str, float | None], thresholds: DriftThresholds) -> bool:
    if None in (q["auc_reference"], q["auc_current"]):
        return False
    drop = q["auc_reference"] - q["auc_current"]
    noise = 3 * math.hypot(q["auc_se_reference"], q["auc_se_current"])
    return drop >= max(thresholds.auc_drop, noise)


def scored_sample(
    engine: Engine, days: list[date], rows: int | None, seed: int, served: Served, serving: Ranker
) -> pl.DataFrame:
    """A bounded sample of the days' examples (an equal share per day; ``None``: all), with the
    ``serving`` model's predictions and held-out P(click) (each hour by the model that served it)."""
    per_day = None if rows is None else max(rows // max(len(days), 1), 1)
    parts = [sample_examples(engine, _midnight(d), _midnight(d + timedelta(days=1)), per_day, seed) for d in days]
    sample = held_out_scores(pl.concat(parts), served).rename({"p_click": "p_click_held_out"}).drop("score")
    predicted = serving.predict(sample, position=0)
    return sample.with_columns(score=predicted["score"], p_click=predicted["p_click"])


def judge_day(
    engine: Engine,
    served: Served,
    day: date,
    first_day: date,
    rows: int | None = 20_000,
    thresholds: DriftThresholds | None = None,
):
    """The report and verdict for ``day``; (None, None) while there is no comparable reference."""
    reference = reference_days(day, first_day)
    if not reference:
        return None, None
    serving = served.load(_midnight(day))
    if serving is None:
        raise ModelMissing(f"No model served the start of {day}: the day's predictions are not evaluable.")
    seed = day.toordinal()
    before, now = _target_rates(engine, reference), _target_rates(engine, [day])
    return compare(
        scored_sample(engine, reference, rows, seed, served, serving),
        scored_sample(engine, [day], rows, seed, served, serving),
        history_days=(reference[0] - first_day).days,
        thresholds=thresholds,
        rates={t: (before[t], now[t]) for t in TARGETS},
    )


def _target_rates(engine: Engine, days: list[date]) -> dict[str, float]:
    """Click and engagement rates over every example of the days (exact: one aggregate, no sample)."""
    spans = " OR ".join("(impression_ts >= ? AND impression_ts < ?)" for _ in days)
    params = [bound for d in days for bound in (_midnight(d), _midnight(d + timedelta(days=1)))]
    averages = ", ".join(f"avg(CAST({t} AS INTEGER)) AS {t}" for t in TARGETS)
    values = engine.frame(f"SELECT {averages} FROM {EXAMPLES} WHERE {spans}", params).row(0)
    return dict(zip(TARGETS, values))


def first_data_day(engine: Engine) -> date | None:
    """The platform's first day of examples: every window starts filling then."""
    first = engine.scalar(f"SELECT min(impression_ts) FROM {EXAMPLES}")
    return first.date() if first else None


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time.min)


def save(snapshot, directory: Path, day: str) -> dict[str, Path]:
    """HTML and JSON of the report, written whole then renamed into place."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"html": directory / f"{day}.html", "json": directory / f"{day}.json"}
    for kind, path in paths.items():
        tmp = path.with_suffix(f".tmp-{os.getpid()}.{kind}")
        (snapshot.save_html if kind == "html" else snapshot.save_json)(str(tmp))
        os.replace(tmp, path)
    return paths
