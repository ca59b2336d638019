"""`make bench`: events/s and peak memory per stage at 1M and 10M events, against a naive pandas baseline.

Each stage runs in a fresh process, so its peak RSS is its own; simulate + land and
raw_events report the median of three runs. Results go to
bench/results.json and bench/RESULTS.md (with the machine they ran on).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import subprocess
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas  # noqa: F401
import psutil

# Imported at module level: a stage's process imports this module before its clock starts,
# so no stage's timing includes import time.
import dataflywheel.ingest.raw_events  # noqa: F401
import dataflywheel.simulator.run  # noqa: F401

BENCH_DIR = Path(__file__).resolve().parent
MONDAY = date(2026, 11, 16)
DAYS = 3  # Monday to Wednesday: working-day volume throughout
REPEATS = 3
DRIFT_SAMPLE_ROWS = 20_000  # per side, as the drift_report asset samples


def _measure(target, args, queue):
    started = time.perf_counter()
    result = target(*args)
    # Peak of this process or of any child it ran (dbt runs as a subprocess).
    peak_kib = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    queue.put((time.perf_counter() - started, peak_kib / 1024, result))


def in_fresh_process(target, *args) -> tuple[float, float, object]:
    """(seconds, peak RSS MiB, result) of target(*args) run in its own process.

    Spawned, not forked: polars documents fork after import as unsafe (its thread pool).
    """
    queue = mp.get_context("spawn").Queue()
    process = mp.get_context("spawn").Process(target=_measure, args=(target, args, queue))
    process.start()
    seconds, peak_mib, result = queue.get()
    process.join()
    return seconds, peak_mib, result


def median_of_runs(target, args: tuple, reset) -> tuple[float, float, object]:
    """The median (by time) of REPEATS fresh-process runs, each after ``reset()``: the first
    stages take seconds, and one run of them moves +-10% with the machine's state."""
    runs = []
    for _ in range(REPEATS):
        reset()
        runs.append(in_fresh_process(target, *args))
    return sorted(runs, key=lambda run: run[0])[REPEATS // 2]


def _remove(path: str) -> None:
    if Path(path).is_dir():
        shutil.rmtree(path)
    else:
        Path(path).unlink(missing_ok=True)


def simulate_stage(events: int, landing: str) -> int:
    from dataflywheel.simulator.config import SimulationConfig
    from dataflywheel.simulator.run import simulate

    config = SimulationConfig(days=DAYS, events_per_day=events // DAYS, seed=1, start=MONDAY)
    return simulate(config, landing).delivered


def ingest_stage(landing: str, warehouse: str) -> dict:
    from dataflywheel.ingest.landing import list_event_files, parse_hour_key
    from dataflywheel.ingest.raw_events import ingest_hour
    from dataflywheel.warehouse.duckdb import DuckDBEngine

    totals = {"landed": 0, "loaded": 0, "hours": 0, "largest_hour": 0}
    for hour in list_event_files(landing):
        # One connection per hour, as each raw_events run opens its own.
        with DuckDBEngine.open(warehouse) as engine:
            counts = ingest_hour(engine, landing, parse_hour_key(hour).replace(tzinfo=None))
        assert counts.conserved, hour
        totals["landed"] += counts.landed
        totals["loaded"] += counts.loaded
        totals["hours"] += 1
        totals["largest_hour"] = max(totals["largest_hour"], counts.landed)
    return totals


def directory_stage(landing: str, warehouse: str, snapshot: date = MONDAY + timedelta(days=DAYS - 1)) -> None:
    from dataflywheel.ingest.directory import load_directory_snapshot
    from dataflywheel.warehouse.duckdb import DuckDBEngine

    with DuckDBEngine.open(warehouse) as engine:
        load_directory_snapshot(engine, landing, snapshot)


def dbt_stage(warehouse: str, target: str, first_day: date = MONDAY, days: int = DAYS) -> None:
    """dbt build over the simulated days, a day either side for late and skewed events."""
    from dataflywheel import settings
    from dataflywheel.dbt_project import DBT_EXECUTABLE

    env = {**os.environ, "DATAFLYWHEEL_WAREHOUSE": warehouse, "DBT_PROFILES_DIR": str(settings.DBT_PROJECT_DIR)}
    start, end = first_day - timedelta(days=1), first_day + timedelta(days=days + 1)
    window = json.dumps({"min_ts": f"{start} 00:00:00", "max_ts": f"{end} 00:00:00"})
    subprocess.run(
        [DBT_EXECUTABLE, "build", "--quiet", "--vars", window, "--target-path", target],
        cwd=settings.DBT_PROJECT_DIR,
        env=env,
        check=True,
    )


def week_through_pipeline(config, work: Path) -> str:
    """A simulation through every stage up to the training examples; the warehouse's path."""
    from dataflywheel.simulator.run import simulate

    landing, warehouse = str(work / "landing"), str(work / "warehouse.duckdb")
    simulate(config, landing)
    ingest_stage(landing, warehouse)
    directory_stage(landing, warehouse, config.start + timedelta(days=config.days - 1))
    dbt_stage(warehouse, str(work / "dbt_target"), config.start, config.days)
    feature_stage(warehouse)
    examples_stage(warehouse)
    return warehouse


def _loaded_hours(engine) -> list:
    return (
        engine.frame("SELECT DISTINCT arrival_hour FROM raw.raw_events ORDER BY 1").get_column("arrival_hour").to_list()
    )


def features_on(engine) -> int:
    """Tiles and feature rows for every arrival hour, as the hourly features assets build them."""
    from dataflywheel.features.build import build_feature_rows, build_tiles

    hours = _loaded_hours(engine)
    for hour in hours:
        build_tiles(engine, hour)
        build_feature_rows(engine, hour)
    return len(hours)


def examples_on(engine) -> int:
    """The training examples of every hour, as the hourly examples asset builds them."""
    from dataflywheel.features.examples import build_examples

    return sum(build_examples(engine, hour) for hour in _loaded_hours(engine))


def feature_stage(warehouse: str) -> int:
    from dataflywheel.warehouse.duckdb import DuckDBEngine

    with DuckDBEngine.open(warehouse) as engine:
        return features_on(engine)


def examples_stage(warehouse: str) -> int:
    from dataflywheel.warehouse.duckdb import DuckDBEngine

    with DuckDBEngine.open(warehouse) as engine:
        return examples_on(engine)


def _hours_of_examples(engine) -> list:
    query = "SELECT DISTINCT date_trunc('hour', impression_ts) AS hour FROM training.training_examples ORDER BY 1"
    return engine.frame(query).get_column("hour").to_list()


def ranker_stage(warehouse: str, models: str) -> dict:
    """What ranker_model does per hour (``learn_hour``: score the hour with the model that served it,
    feed the loss monitor, learn the hour), timed without loading the hour's examples or saving the
    model; examples/s and the last day's mean hourly AUC (held out, under the platform's serving lag)."""
    from datetime import timedelta

    from dataflywheel import settings
    from dataflywheel.features.examples import load_examples
    from dataflywheel.lifecycle.model_store import ModelStore
    from dataflywheel.monitoring.loss_stream import LossStreamMonitor
    from dataflywheel.ranking.evaluation import Served
    from dataflywheel.ranking.learning import learn_hour
    from dataflywheel.ranking.ranker import Ranker
    from dataflywheel.warehouse.duckdb import DuckDBEngine

    ranker, monitor, seconds, examples, aucs = Ranker(), LossStreamMonitor(), 0.0, 0, []
    store = ModelStore(Path(models))
    served = Served(store, settings.current().serving_lag_hours)
    with DuckDBEngine.open(warehouse, read_only=True) as engine:
        for hour in _hours_of_examples(engine):
            part = load_examples(engine, hour, hour + timedelta(hours=1))
            started = time.perf_counter()
            aucs.append(learn_hour(ranker, part, served.load(hour), monitor).metrics["auc_click"])
            seconds += time.perf_counter() - started
            examples += part.height
            store.save(hour, ranker)
    last_day = [a for a in aucs[-24:] if a is not None]
    return {"examples": examples, "seconds": seconds, "auc_last_day": sum(last_day) / len(last_day)}


def drift_report_stage(warehouse: str, models: str, rows: int | None) -> dict:
    """The drift report of the last day (Wednesday, against Tuesday) with samples of ``rows``
    per side (``None``: every row, the naive way), as the drift_report asset makes it:
    sampling, held-out scoring, Evidently."""
    from dataflywheel import settings
    from dataflywheel.lifecycle.model_store import ModelStore
    from dataflywheel.monitoring import drift
    from dataflywheel.ranking.evaluation import Served
    from dataflywheel.warehouse.duckdb import DuckDBEngine

    day = MONDAY + timedelta(days=DAYS - 1)
    with DuckDBEngine.open(warehouse, read_only=True) as engine:
        day_examples = engine.scalar(
            f"SELECT count(*) FROM training.training_examples WHERE CAST(impression_ts AS DATE) = DATE '{day}'"
        )
        started = time.perf_counter()
        served = Served(ModelStore(Path(models)), settings.current().serving_lag_hours)
        _, verdict = drift.judge_day(engine, served, day, MONDAY, rows=rows)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": verdict.current_rows + verdict.reference_rows, "day_examples": day_examples}


def learn_one_baseline(warehouse: str, limit: int = 100_000) -> dict:
    """The same models fed one example at a time (River's predict_proba_one / learn_one), on a prefix."""
    from dataflywheel.features.examples import TABLE
    from dataflywheel.ranking.inputs import model_inputs
    from dataflywheel.ranking.ranker import Ranker
    from dataflywheel.warehouse.duckdb import DuckDBEngine

    with DuckDBEngine.open(warehouse, read_only=True) as engine:
        examples = engine.frame(f"SELECT * FROM {TABLE} ORDER BY impression_ts, impression_id LIMIT {int(limit)}")
    ranker = Ranker()
    started = time.perf_counter()
    rows = model_inputs(examples).to_dict("records")
    for x, clicked, engaged in zip(rows, examples.get_column("clicked"), examples.get_column("engaged")):
        ranker.click.predict_proba_one(x)
        ranker.click.learn_one(x, clicked)
        if clicked:
            ranker.engage.learn_one(x, engaged)
    return {"examples": examples.height, "seconds": time.perf_counter() - started}


def pandas_baseline(landing: str) -> int:
    """The naive way: read everything, drop duplicate ids, count by tenant and type."""
    import pandas as pd

    files = sorted(Path(landing, "events").glob("*/*.parquet"))
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    frame = frame.drop_duplicates("event_id")
    return int(frame.groupby(["tenant_id", "event_type"]).size().sum())


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "date": datetime.now().strftime("%Y-%m-%d"),
    }


def work_dir(name: str) -> Path:
    """A benchmark's scratch folder, under the home folder like everything the project writes."""
    from dataflywheel import settings

    return settings.current().home / "bench" / name


def bench(events: int) -> dict:
    work = work_dir(f"{events}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    landing, warehouse = str(work / "landing"), str(work / "warehouse.duckdb")

    sim_s, sim_mb, landed = median_of_runs(simulate_stage, (events, landing), reset=lambda: _remove(landing))
    ing_s, ing_mb, totals = median_of_runs(
        ingest_stage, (landing, warehouse), reset=lambda: [_remove(warehouse), _remove(warehouse + ".wal")]
    )
    in_fresh_process(directory_stage, landing, warehouse)
    dbt_s, dbt_mb, _ = in_fresh_process(dbt_stage, warehouse, str(work / "dbt_target"))
    feat_s, feat_mb, _ = in_fresh_process(feature_stage, warehouse)
    ex_s, ex_mb, n_examples = in_fresh_process(examples_stage, warehouse)
    models = str(work / "models")
    _, rank_mb, rank = in_fresh_process(ranker_stage, warehouse, models)
    _, drift_mb, drift = in_fresh_process(drift_report_stage, warehouse, models, DRIFT_SAMPLE_ROWS)
    _, whole_mb, whole = in_fresh_process(drift_report_stage, warehouse, models, None)
    _, one_mb, one = in_fresh_process(learn_one_baseline, warehouse)
    pd_s, pd_mb, _ = in_fresh_process(pandas_baseline, landing)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "events_landed": landed,
        "arrival_hours": totals["hours"],
        "largest_hour": totals["largest_hour"],
        "stages": {
            "simulate + land": {"seconds": sim_s, "events_per_s": landed / sim_s, "peak_rss_mib": sim_mb},
            "raw_events": {"seconds": ing_s, "events_per_s": landed / ing_s, "peak_rss_mib": ing_mb},
            "dbt models": {"seconds": dbt_s, "events_per_s": totals["loaded"] / dbt_s, "peak_rss_mib": dbt_mb},
            "landing -> marts": {
                "seconds": ing_s + dbt_s,
                "events_per_s": landed / (ing_s + dbt_s),
                "peak_rss_mib": max(ing_mb, dbt_mb),
            },
            "pandas baseline": {"seconds": pd_s, "events_per_s": landed / pd_s, "peak_rss_mib": pd_mb},
            "feature store (tiles + rows)": {
                "seconds": feat_s,
                "events_per_s": totals["loaded"] / feat_s,
                "peak_rss_mib": feat_mb,
            },
        },
        "learning": {
            "training examples": {"seconds": ex_s, "examples_per_s": n_examples / ex_s, "peak_rss_mib": ex_mb},
            "ranker_model (learn_many)": {
                "seconds": rank["seconds"],
                "examples_per_s": rank["examples"] / rank["seconds"],
                "peak_rss_mib": rank_mb,
            },
            "learn_one baseline": {
                "seconds": one["seconds"],
                "examples_per_s": one["examples"] / one["seconds"],
                "peak_rss_mib": one_mb,
            },
        },
        "drift report": {
            "sampled": {**drift, "peak_rss_mib": drift_mb},
            "whole day (naive)": {**whole, "peak_rss_mib": whole_mb},
        },
        "examples": n_examples,
        "auc_last_day": rank["auc_last_day"],
        "raw_events_vs_pandas_speed": pd_s / ing_s,
        "raw_events_vs_pandas_memory": pd_mb / ing_mb,
    }


def to_markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']} ({m['date']}).",
        "",
        "| events | stage | seconds | events/s | peak RSS (MiB) |",
        "|---:|---|---:|---:|---:|",
    ]
    for size, run in results["runs"].items():
        for stage, r in run["stages"].items():
            cells = [f"{int(size):,}", stage, f"{r['seconds']:.1f}"]
            cells += [f"{r['events_per_s']:,.0f}", f"{r['peak_rss_mib']:,.0f}"]
            lines.append(f"| {' | '.join(cells)} |")
    lines += ["", "| events | learning stage | seconds | examples/s | peak RSS (MiB) |", "|---:|---|---:|---:|---:|"]
    for size, run in results["runs"].items():
        for stage, r in run["learning"].items():
            cells = [f"{int(size):,}", stage, f"{r['seconds']:.1f}", f"{r['examples_per_s']:,.0f}"]
            cells.append(f"{r['peak_rss_mib']:,.0f}")
            lines.append(f"| {' | '.join(cells)} |")
    lines.append("")
    for size, run in results["runs"].items():
        learning = run["learning"]
        many, one = learning["ranker_model (learn_many)"], learning["learn_one baseline"]
        speedup = many["examples_per_s"] / one["examples_per_s"]
        lines.append(
            f"- {int(size):,} events: {run['examples']:,} training examples; ranker_model learns "
            f"{speedup:.0f}x faster than the learn_one loop (timed without loading); held-out AUC "
            f"on the last day {run['auc_last_day']:.3f}."
        )
    lines += ["", "| events | drift report | examples that day | rows compared | seconds | peak RSS (MiB) |"]
    lines.append("|---:|---|---:|---:|---:|---:|")
    for size, run in results["runs"].items():
        for kind, r in run["drift report"].items():
            cells = [f"{int(size):,}", kind, f"{r['day_examples']:,}", f"{r['rows']:,}", f"{r['seconds']:.1f}"]
            lines.append(f"| {' | '.join(cells)} | {r['peak_rss_mib']:,.0f} |")
    lines.append("")
    for size, run in results["runs"].items():
        lines.append(
            f"- {int(size):,} events ({run['arrival_hours']} arrival hours, largest {run['largest_hour']:,} rows): "
            f"raw_events is {run['raw_events_vs_pandas_speed']:.2f}x the pandas baseline's speed and uses "
            f"{1 / run['raw_events_vs_pandas_memory']:.2f}x its memory, while also validating, quarantining "
            "and persisting."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--name", default="results", help="results go to bench/<name>.json and <NAME>.md")
    args = parser.parse_args()
    results = {"machine": machine(), "runs": {}}
    for size in args.sizes:
        results["runs"][str(size)] = bench(size)
        print(json.dumps({size: results["runs"][str(size)]["stages"]}, indent=1))
    (BENCH_DIR / f"{args.name}.json").write_text(json.dumps(results, indent=1))
    (BENCH_DIR / f"{args.name.upper()}.md").write_text(to_markdown(results))
    print(to_markdown(results))


if __name__ == "__main__":
    main()
