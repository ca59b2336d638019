"""`make drift-eval`: does the drift report flag the day a drift starts, and only that day?

For each drift kind (none, feature, preference, product mix) and seed, a simulated week goes
through the real pipeline (the benchmark's stages: landing, raw_events, dbt, feature store,
training examples, the hourly ranker chain); then the daily drift report judges days 2-6
against their previous days. The drift starts on day DRIFT_DAY (Friday).

- detection rate: share of drifted weeks whose drift day is flagged;
- false-alarm rate: share of days without a drift (every day of the control weeks, the days
  before the drift elsewhere) that are flagged.

Days after the drift day are reported apart: their reference mixes both worlds.
The loss-stream detector (Page-Hinkley on the held-out excess log loss) is replayed on the
same weeks for a grid of its two knobs; its alarms are reported by day.

Results: bench/drift_detection.json and bench/DRIFT.md (``--name calibration``: the seeds the
thresholds were set on, bench/CALIBRATION.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from bench.run import week_through_pipeline
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
DAYS, DRIFT_DAY, EVENTS_PER_DAY = 7, 4, 400_000
KINDS = ("none", *DriftSchedule.KINDS)
SAMPLE_ROWS = 20_000
LOSS_GRID = [(d, t) for d in (0.002, 0.005, 0.01) for t in (0.1, 0.2, 0.3, 0.5, 1.0)]
LOSS_CHOICE = (LossStreamMonitor.delta, LossStreamMonitor.threshold)  # what ranker_model runs


def build_week(work: Path, kind: str, seed: int) -> tuple[str, ModelStore]:
    """The week through the pipeline, and the hourly model chain trained on it."""
    schedule = DriftSchedule(start_day=None) if kind == "none" else DriftSchedule.of_kind(kind, DRIFT_DAY)
    config = SimulationConfig(days=DAYS, events_per_day=EVENTS_PER_DAY, seed=seed, start=MONDAY, drift=schedule)
    warehouse = week_through_pipeline(config, work)
    store = ModelStore(work / "models")
    ranker = Ranker()
    with DuckDBEngine.open(warehouse, read_only=True) as engine:
        examples = load_examples(engine, datetime(1970, 1, 1), datetime(2100, 1, 1))
    served = Served(store, settings.current().serving_lag_hours)
    for (hour,), part in examples.group_by(examples["impression_ts"].dt.truncate("1h"), maintain_order=True):
        learn_hour(ranker, part, served.load(hour))  # as ranker_model does (the loss-stream grid is replayed apart)
        store.save(hour, ranker)
    return warehouse, store


def judge_week(warehouse: str, store: ModelStore) -> list[dict]:
    rows = []
    with DuckDBEngine.open(warehouse, read_only=True) as engine:
        for d in range(2, DAYS):
            served = Served(store, settings.current().serving_lag_hours)
            _, verdict = drift.judge_day(engine, served, MONDAY + timedelta(days=d), MONDAY, SAMPLE_ROWS)
            if verdict is None:  # no comparable reference yet (the first weekend day)
                rows.append({"day": d, "drifted": None})
                continue
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


def loss_stream_alarms(warehouse: str, store: ModelStore, grid: list[tuple[float, float]]) -> dict[str, list[int]]:
    """Hours (since Monday 00:00) at which Page-Hinkley on the held-out loss stream raised an alarm,
    for each (delta, threshold)."""
    monitors = {f"{d}/{t}": LossStreamMonitor(delta=d, threshold=t) for d, t in grid}
    alarms: dict[str, list[int]] = {name: [] for name in monitors}
    with DuckDBEngine.open(warehouse, read_only=True) as engine:
        examples = load_examples(engine, datetime(1970, 1, 1), datetime(2100, 1, 1))
    first = datetime.combine(MONDAY, datetime.min.time())
    served = Served(store, settings.current().serving_lag_hours)
    for (hour,), part in examples.group_by(examples["impression_ts"].dt.truncate("1h"), maintain_order=True):
        model = served.load(hour)
        if model is None:  # no model had served yet: nothing held out to watch
            continue
        clicked, p = part.get_column("clicked").to_numpy().astype(float), model.predict(part)["p_click"]
        for name, monitor in monitors.items():
            if monitor.update(clicked, p):
                alarms[name].append(int((hour - first).total_seconds() // 3600))
    return alarms


def rates(results: list[dict]) -> dict:
    detected = [w["days"][DRIFT_DAY - 2]["drifted"] for w in results if w["kind"] != "none"]
    quiet = [
        day["drifted"]
        for w in results
        for day in w["days"]
        if (w["kind"] == "none" or day["day"] < DRIFT_DAY) and day["drifted"] is not None
    ]
    by_kind = {}
    for kind in {w["kind"] for w in results}:
        weeks = [w for w in results if w["kind"] == kind]
        by_kind[kind] = {d: sum(bool(w["days"][d - 2]["drifted"]) for w in weeks) / len(weeks) for d in range(2, DAYS)}
    return {
        "detection_rate": sum(detected) / max(len(detected), 1),
        "false_alarm_rate": sum(quiet) / max(len(quiet), 1),
        "drifted_weeks": len(detected),
        "quiet_days": len(quiet),
        "flag_rate_by_kind_and_day": by_kind,
    }


def _flag(day: dict) -> str:
    if day["drifted"] is None:
        return "-"
    return f"X({','.join(day['reasons'])})" if day["drifted"] else "."


def to_markdown(results: list[dict], summary: dict, seeds: list[int], reused: bool) -> str:
    lines = [
        f"Simulated weeks of {EVENTS_PER_DAY:,} events per working day (Monday to Sunday), drift from day "
        f"{DRIFT_DAY} (Friday), seeds {', '.join(map(str, seeds))}; each day judged by `drift.judge_day` "
        f"({SAMPLE_ROWS:,}-row samples) against the last week's like days. Wall time "
        f"{summary['seconds'] / 60:.0f} min{' (weeks built earlier, judged again)' if reused else ''}.",
        "",
        f"- detection rate (drift day flagged): **{summary['detection_rate']:.0%}** "
        f"of {summary['drifted_weeks']} drifted weeks",
        f"- false-alarm rate (days without drift flagged): **{summary['false_alarm_rate']:.0%}** "
        f"of {summary['quiet_days']} judged quiet days",
        "",
        "| kind | seed | Wed | Thu | Fri (drift) | Sat | Sun |",
        "|---|---:|---|---|---|---|---|",
    ]
    for week in results:
        cells = [_flag(day) for day in week["days"]]
        lines.append(f"| {week['kind']} | {week['seed']} | {' | '.join(cells)} |")
    lines += [
        "",
        "`.` quiet, `X(reason)` flagged, `-` not judged (no like day in the reference yet: the first Saturday",
        "and Sunday of the platform's life).",
        "",
        f"Loss stream (Page-Hinkley, delta {LOSS_CHOICE[0]}, threshold {LOSS_CHOICE[1]}): alarms by day",
        "",
        "| kind | seed | alarms per day (Mon..Sun) |",
        "|---|---:|---|",
    ]
    name = f"{LOSS_CHOICE[0]}/{LOSS_CHOICE[1]}"
    for week in results:
        per_day = [sum(1 for h in week["loss_alarms"][name] if h // 24 == d) for d in range(DAYS)]
        lines.append(f"| {week['kind']} | {week['seed']} | {' '.join(map(str, per_day))} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS))
    parser.add_argument("--reuse", action="store_true", help="judge weeks built by an earlier run again")
    parser.add_argument("--name", default="drift", help="results go to bench/<name>_detection.json and <NAME>.md")
    args = parser.parse_args()
    results = []
    started = time.perf_counter()
    for seed in args.seeds:
        for kind in args.kinds:
            work = BENCH_DIR / "tmp" / "drift" / f"{kind}-{seed}"
            t0 = time.perf_counter()
            if args.reuse and (work / "models").exists():
                warehouse, store = str(work / "warehouse.duckdb"), ModelStore(work / "models")
            else:
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
                warehouse, store = build_week(work, kind, seed)
            days = judge_week(warehouse, store)
            alarms = loss_stream_alarms(warehouse, store, LOSS_GRID)
            results.append(
                {"kind": kind, "seed": seed, "days": days, "loss_alarms": alarms, "seconds": time.perf_counter() - t0}
            )
            flags = " ".join(f"d{r['day']}:{_flag(r)}" for r in days)
            print(f"{kind:<12} seed {seed}: {flags}", flush=True)
    summary = rates(results) | {"seconds": time.perf_counter() - started}
    (BENCH_DIR / f"{args.name}_detection.json").write_text(json.dumps({"summary": summary, "weeks": results}, indent=1))
    (BENCH_DIR / f"{args.name.upper()}.md").write_text(to_markdown(results, summary, args.seeds, args.reuse))
    print((BENCH_DIR / f"{args.name.upper()}.md").read_text())


if __name__ == "__main__":
    main()
