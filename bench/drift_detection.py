"""`make drift-eval`: does the drift report flag the day a drift starts, how small a drift, and how
often does it cry wolf?

Each seed runs through the real pipeline (the benchmark's stages: landing, raw_events, dbt,
feature store, training examples, the hourly ranker chain under the serving lag):

- a control week without drift;
- for each drift kind, a week per magnitude (three, from the calibrated one down to one a
  careful analyst would still want flagged), the drift starting on DRIFT_DAY (Thursday);
- a steady-state week: 35 days without drift, the last 7 judged, when the references are full
  weeks of like days and the model has learned for four weeks.

The daily drift report (``drift.judge_day``, thresholds as the platform ships them) judges
Wednesday (before the drift), Thursday (the drift day) and Friday (the day after) of each week;
the first weekend has no like day to be compared with. Rates come with 95% Wilson intervals:

- detection rate, per kind and magnitude: drifted weeks whose drift day is flagged;
- false-alarm rate: flagged days among the days without any drift, each counted once: the
  control weeks' judged days and the steady-state weeks'. The drifted weeks' Wednesdays repeat
  their control week's world up to the drift and are reported apart, not counted again.

The loss-stream detector (Page-Hinkley on the held-out excess log loss, as ``ranker_model`` runs
it) is replayed on the same weeks: its first alarm after the drift and its alarms on quiet days.

The thresholds were set on seeds 11-14 (bench/CALIBRATION.md, a Friday drift at the largest
magnitude); the seeds here must not have been looked at before they were frozen.
Results: bench/<name>_detection.json and bench/<NAME>.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from scipy.stats import binomtest

from bench.run import week_through_pipeline, work_dir
from dataflywheel import settings
from dataflywheel.features.examples import load_examples
from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.monitoring import drift
from dataflywheel.monitoring.loss_stream import LossStreamMonitor
from dataflywheel.ranking.evaluation import Served
from dataflywheel.ranking.learning import learn_hour
from dataflywheel.ranking.ranker import Ranker
from dataflywheel.simulator.config import DriftSchedule, SimulationConfig
from dataflywheel.warehouse.duckdb import DuckDBEngine

BENCH_DIR = Path(__file__).resolve().parent
MONDAY = date(2026, 11, 16)
EVENTS_PER_DAY, SAMPLE_ROWS = 400_000, 20_000
WEEK_DAYS, DRIFT_DAY = 7, 3  # Thursday: Wednesday before it and Friday after it are judgeable
WEEK_JUDGED = (DRIFT_DAY - 1, DRIFT_DAY, DRIFT_DAY + 1)
STEADY_DAYS = 35  # a 28-day warm-up (the model store's retention), then a week judged
STEADY_JUDGED = tuple(range(STEADY_DAYS - 7, STEADY_DAYS))
# Largest first: the calibrated magnitude (DriftSchedule.KNOBS); the smallest is still worth a look:
# one user in 20 new on the day, a fifth of the taste shift, one browse in 20 moving product.
MAGNITUDES = {"feature": (0.3, 0.1, 0.05), "preference": (0.6, 0.4, 0.2), "product_mix": (0.2, 0.1, 0.05)}


@dataclass(frozen=True)
class Scenario:
    kind: str  # "none", "steady" or a drift kind
    magnitude: float | None = None

    @property
    def days(self) -> int:
        return STEADY_DAYS if self.kind == "steady" else WEEK_DAYS

    @property
    def judged(self) -> tuple[int, ...]:
        return STEADY_JUDGED if self.kind == "steady" else WEEK_JUDGED

    @property
    def drifted(self) -> bool:
        return self.magnitude is not None

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.magnitude}" if self.drifted else self.kind

    def schedule(self) -> DriftSchedule:
        if not self.drifted:
            return DriftSchedule(start_day=None)
        return DriftSchedule.of_kind(self.kind, DRIFT_DAY, self.magnitude)


def scenarios() -> list[Scenario]:
    drifted = [Scenario(kind, m) for kind, magnitudes in MAGNITUDES.items() for m in magnitudes]
    return [Scenario("none"), *drifted, Scenario("steady")]


def build(work: Path, scenario: Scenario, seed: int) -> tuple[str, ModelStore]:
    """The scenario's days through the pipeline, and the hourly model chain trained on them."""
    config = SimulationConfig(
        days=scenario.days, events_per_day=EVENTS_PER_DAY, seed=seed, start=MONDAY, drift=scenario.schedule()
    )
    warehouse = week_through_pipeline(config, work)
    store = ModelStore(work / "models")
    ranker = Ranker()
    served = Served(store, settings.current().serving_lag_hours)
    for (hour,), part in _examples_by_hour(warehouse):
        learn_hour(ranker, part, served.load(hour))  # as ranker_model does (the loss stream is replayed apart)
        store.save(hour, ranker)
    return warehouse, store


def _examples_by_hour(warehouse: str):
    with DuckDBEngine.open(warehouse, read_only=True) as engine:
        examples = load_examples(engine, datetime(1970, 1, 1), datetime(2100, 1, 1))
    return examples.group_by(examples["impression_ts"].dt.truncate("1h"), maintain_order=True)


def judge(warehouse: str, store: ModelStore, days: tuple[int, ...]) -> list[dict]:
    rows = []
    served = Served(store, settings.current().serving_lag_hours)
    with DuckDBEngine.open(warehouse, read_only=True) as engine:
        for d in days:
            _, verdict = drift.judge_day(engine, served, MONDAY + timedelta(days=d), MONDAY, SAMPLE_ROWS)
            if verdict is None:
                raise RuntimeError(f"day {d} has no reference: the scenario's judged days are wrong")
            rows.append(
                {
                    "day": d,
                    "drifted": verdict.drifted,
                    "reasons": verdict.reasons,
                    "drifted_share": round(verdict.drifted_share, 3),
                    "drifted_columns": verdict.drifted_columns,
                    "scores": {c: round(v, 4) for c, v in verdict.column_scores.items()},
                    "quality": verdict.quality,
                    "target_rates": verdict.target_rates,
                }
            )
    return rows


def loss_stream_alarms(warehouse: str, store: ModelStore) -> list[int]:
    """Hours (since the first Monday 00:00) at which the loss-stream monitor, with the knobs
    ``ranker_model`` runs, raised an alarm on the held-out predictions of the model that served."""
    monitor, alarms = LossStreamMonitor(), []
    served = Served(store, settings.current().serving_lag_hours)
    first = datetime.combine(MONDAY, datetime.min.time())
    for (hour,), part in _examples_by_hour(warehouse):
        model = served.load(hour)
        if model is None:  # no model had served yet: nothing held out to watch
            continue
        if monitor.update(part.get_column("clicked").to_numpy().astype(float), model.predict(part)["p_click"]):
            alarms.append(int((hour - first).total_seconds() // 3600))
    return alarms


def _rate(flags: list[bool]) -> dict:
    k, n = sum(flags), len(flags)
    if n == 0:
        return {"flagged": 0, "of": 0, "rate": None, "ci95": None}
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return {"flagged": k, "of": n, "rate": k / n, "ci95": [round(ci.low, 3), round(ci.high, 3)]}


def _day(result: dict, d: int) -> dict:
    return next(day for day in result["days"] if day["day"] == d)


def summarize(results: list[dict]) -> dict:
    drifted = [r for r in results if r["magnitude"] is not None]
    controls = [r for r in results if r["kind"] == "none"]
    steady = [r for r in results if r["kind"] == "steady"]
    quiet_control = [day["drifted"] for r in controls for day in r["days"]]
    quiet_steady = [day["drifted"] for r in steady for day in r["days"]]

    def by_magnitude(d: int) -> dict:
        return {
            kind: {
                str(m): _rate([_day(r, d)["drifted"] for r in drifted if (r["kind"], r["magnitude"]) == (kind, m)])
                for m in magnitudes
            }
            for kind, magnitudes in MAGNITUDES.items()
        }

    drift_hour = DRIFT_DAY * 24
    first_alarms = {
        r["name"] + f"/{r['seed']}": next((h - drift_hour for h in r["loss_alarms"] if h >= drift_hour), None)
        for r in drifted
    }

    def alarm_days(rs: list[dict], days: tuple[int, ...]) -> list[bool]:
        return [any(h // 24 == d for h in r["loss_alarms"]) for r in rs for d in days]

    return {
        "detection_by_kind_and_magnitude": by_magnitude(DRIFT_DAY),
        "flagged_the_day_after_by_kind_and_magnitude": by_magnitude(DRIFT_DAY + 1),
        "false_alarms": _rate(quiet_control + quiet_steady),
        "false_alarms_control_weeks": _rate(quiet_control),
        "false_alarms_steady_state": _rate(quiet_steady),
        "flagged_before_the_drift_not_counted": _rate([_day(r, DRIFT_DAY - 1)["drifted"] for r in drifted]),
        "loss_stream_first_alarm_hours_after_drift": first_alarms,
        "loss_stream_days_with_alarm_control_weeks": _rate(alarm_days(controls, tuple(range(WEEK_DAYS)))),
        "loss_stream_days_with_alarm_steady_state": _rate(alarm_days(steady, STEADY_JUDGED)),
    }


def _cell(rate: dict) -> str:
    if not rate["of"]:
        return "-"
    low, high = rate["ci95"]
    return f"{rate['flagged']}/{rate['of']} [{low:.0%}, {high:.0%}]"


def _flag(day: dict) -> str:
    return f"X({','.join(day['reasons'])})" if day["drifted"] else "."


def to_markdown(results: list[dict], summary: dict, seeds: list[int], minutes: float) -> str:
    knobs = {kind: DriftSchedule.KNOBS[kind][0] for kind in MAGNITUDES}
    lines = [
        f"Seeds {', '.join(map(str, seeds))}; {EVENTS_PER_DAY:,} events per working day; drift from day "
        f"{DRIFT_DAY} (Thursday); each judged day compared by `drift.judge_day` ({SAMPLE_ROWS:,}-row samples) "
        f"with the last week's like days, predictions by the model that served (the serving lag). "
        f"Wall time {minutes:.0f} min. Counts with 95% Wilson intervals.",
        "",
        "Detection (drift day flagged) by magnitude, and the day after:",
        "",
        "| kind (knob) | magnitude | drift day flagged | day after flagged |",
        "|---|---:|---|---|",
    ]
    for kind, magnitudes in MAGNITUDES.items():
        for m in magnitudes:
            on = summary["detection_by_kind_and_magnitude"][kind][str(m)]
            after = summary["flagged_the_day_after_by_kind_and_magnitude"][kind][str(m)]
            lines.append(f"| {kind} ({knobs[kind]}) | {m} | {_cell(on)} | {_cell(after)} |")
    lines += [
        "",
        f"- false alarms, days without a drift: **{_cell(summary['false_alarms'])}** "
        f"(control weeks Wed-Fri {_cell(summary['false_alarms_control_weeks'])}; steady-state week after "
        f"{STEADY_DAYS - 7} days, Mon-Sun {_cell(summary['false_alarms_steady_state'])})",
        f"- the drifted weeks' Wednesdays (the control week's world until the drift; not counted again): "
        f"{_cell(summary['flagged_before_the_drift_not_counted'])} flagged",
        f"- loss stream (Page-Hinkley, delta {LossStreamMonitor.delta}, threshold {LossStreamMonitor.threshold}): "
        f"days with an alarm, control weeks {_cell(summary['loss_stream_days_with_alarm_control_weeks'])}, "
        f"steady state {_cell(summary['loss_stream_days_with_alarm_steady_state'])}",
        "",
        "| scenario | seed | judged days | loss-stream alarms per day | first alarm after the drift (h) |",
        "|---|---:|---|---|---:|",
    ]
    for r in results:
        flags = " ".join(f"{(MONDAY + timedelta(days=d['day'])):%a}{d['day']}:{_flag(d)}" for d in r["days"])
        per_day = [sum(1 for h in r["loss_alarms"] if h // 24 == d) for d in range(r["days_simulated"])]
        first = summary["loss_stream_first_alarm_hours_after_drift"].get(f"{r['name']}/{r['seed']}", "")
        lines.append(f"| {r['name']} | {r['seed']} | {flags} | {' '.join(map(str, per_day[-7:]))} | {first} |")
    lines += ["", "`.` quiet, `X(reason)` flagged. Loss-stream alarms: the last 7 days simulated."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[41, 42])
    parser.add_argument("--reuse", action="store_true", help="judge scenarios built by an earlier run again")
    parser.add_argument("--name", default="drift", help="results go to bench/<name>_detection.json and <NAME>.md")
    args = parser.parse_args()
    results = []
    started = time.perf_counter()
    for seed in args.seeds:
        for scenario in scenarios():
            work = work_dir(f"drift/{scenario.name}-{seed}")
            t0 = time.perf_counter()
            if args.reuse and (work / "models").exists():
                warehouse, store = str(work / "warehouse.duckdb"), ModelStore(work / "models")
            else:
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
                warehouse, store = build(work, scenario, seed)
            days = judge(warehouse, store, scenario.judged)
            results.append(
                {
                    "kind": scenario.kind,
                    "magnitude": scenario.magnitude,
                    "name": scenario.name,
                    "seed": seed,
                    "days_simulated": scenario.days,
                    "days": days,
                    "loss_alarms": loss_stream_alarms(warehouse, store),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
            shutil.rmtree(work / "landing", ignore_errors=True)  # the warehouse and models are what --reuse needs
            flags = " ".join(f"d{d['day']}:{_flag(d)}" for d in days)
            print(f"{scenario.name:<18} seed {seed}: {flags}  ({results[-1]['seconds']:.0f} s)", flush=True)
    minutes = (time.perf_counter() - started) / 60
    summary = summarize(results) | {"minutes": round(minutes, 1), "seeds": args.seeds}
    (BENCH_DIR / f"{args.name}_detection.json").write_text(json.dumps({"summary": summary, "runs": results}, indent=1))
    (BENCH_DIR / f"{args.name.upper()}.md").write_text(to_markdown(results, summary, args.seeds, minutes))
    print((BENCH_DIR / f"{args.name.upper()}.md").read_text())


if __name__ == "__main__":
    main()
