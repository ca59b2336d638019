"""`make bench-spark`: the same pipeline on Spark local beside DuckDB, stage by stage, in one run.

One simulated landing zone is loaded by `raw_events` (DuckDB: landed files load there) and
exported as the raw layer's Parquet; then each engine builds the dbt project (full refresh),
the feature store hour by hour and the training examples hour by hour, each stage in a fresh
process. Spark runs in-process with a local master on this machine's cores: the point is a
measured baseline for scaling out, not a race. Peak memory is the stage's whole process tree
(Spark's JVM is a child process), sampled. Results go to bench/spark.json and bench/SPARK.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import psutil

from bench.run import (
    BENCH_DIR,
    directory_stage,
    examples_on,
    examples_stage,
    feature_stage,
    features_on,
    in_fresh_process,
    ingest_stage,
    machine,
    simulate_stage,
    work_dir,
)

STAGES = ("dbt models", "feature store (tiles + rows)", "training examples")


def _environment(home: Path, warehouse: str) -> dict[str, str]:
    from dataflywheel import settings

    environment = {**os.environ, **settings.Settings.from_env({"DATAFLYWHEEL_HOME": str(home)}).environment()}
    return environment | {"DATAFLYWHEEL_WAREHOUSE": warehouse}


def export_stage(warehouse: str, root: str) -> dict:
    from dataflywheel.ingest.raw_layer import export_raw_layer
    from dataflywheel.warehouse.duckdb import DuckDBEngine

    with DuckDBEngine.open(warehouse, read_only=True) as engine:
        return export_raw_layer(engine, Path(root))


def dbt_full_stage(target: str, environment: dict) -> None:
    """`dbt build --full-refresh` of the whole project on ``target`` (the same command on both)."""
    from dataflywheel import settings
    from dataflywheel.dbt_project import DBT_EXECUTABLE

    command = [DBT_EXECUTABLE, "build", "--quiet", "--full-refresh", "--target", target]
    subprocess.run(command, cwd=settings.DBT_PROJECT_DIR, env=environment, check=True)


def on_spark(build, environment: dict) -> int:
    """``build`` (``features_on`` or ``examples_on``) on this process's Spark session."""
    from dataflywheel.warehouse.spark import SparkEngine

    with SparkEngine.open(environment) as engine:
        return build(engine)


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def with_tree_peak(target, *args) -> tuple[float, float, object]:
    """(seconds, peak RSS MiB of the process and its children, sampled every 0.2 s, result) of
    target(*args) in a fresh process."""
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            for child in psutil.Process().children():
                peak[0] = max(peak[0], _tree_rss(child))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        seconds, _, result = in_fresh_process(target, *args)
    finally:
        done.set()
        sampler.join()
    return seconds, peak[0] / 2**20, result


def bench(events: int) -> dict:
    work = work_dir(f"spark-{events}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    home, landing, warehouse = work / "home", str(work / "landing"), str(work / "warehouse.duckdb")
    environment = _environment(home, warehouse)
    rows: list[dict] = []

    def record(engine: str, stage: str, measured: tuple, units: int, unit: str) -> None:
        seconds, peak_mib, _ = measured
        rows.append(
            {
                "engine": engine,
                "stage": stage,
                "seconds": round(seconds, 2),
                "per_second": round(units / seconds),
                "unit": unit,
                "peak_rss_mib": round(peak_mib),
            }
        )
        print(f"{engine:>6} {stage:<32} {seconds:8.1f} s {units / seconds:12,.0f} {unit}/s {peak_mib:8,.0f} MiB")

    landed = in_fresh_process(simulate_stage, events, landing)[2]
    loaded = in_fresh_process(ingest_stage, landing, warehouse)
    in_fresh_process(directory_stage, landing, warehouse)
    record("duckdb", "raw_events (both engines' input)", loaded, landed, "events")
    exported = in_fresh_process(export_stage, warehouse, str(home / "raw"))
    record("duckdb", "raw layer export (Parquet)", exported, landed, "events")
    examples = None
    for engine in ("duckdb", "spark"):
        record(engine, STAGES[0], with_tree_peak(dbt_full_stage, engine, environment), landed, "events")
        if engine == "spark":
            features, examples_run = (on_spark, features_on, environment), (on_spark, examples_on, environment)
        else:
            features, examples_run = (feature_stage, warehouse), (examples_stage, warehouse)
        record(engine, STAGES[1], with_tree_peak(*features), landed, "events")
        measured = with_tree_peak(*examples_run)
        assert examples in (None, measured[2]), "both engines must build the same examples"
        examples = measured[2]
        record(engine, STAGES[2], measured, examples, "examples")
    return {"events": landed, "examples": examples, "rows": rows}


def to_markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']} ({m['date']}).",
        "",
        "| events | engine | stage | seconds | per second | peak RSS (MiB) |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for run in results["runs"]:
        for row in run["rows"]:
            lines.append(
                f"| {run['events']:,} | {row['engine']} | {row['stage']} | {row['seconds']:.1f} | "
                f"{row['per_second']:,} {row['unit']}/s | {row['peak_rss_mib']:,} |"
            )
    lines.append("")
    for run in results["runs"]:
        by = {(r["engine"], r["stage"]): r["seconds"] for r in run["rows"]}
        ratios = ", ".join(f"{stage} {by[('spark', stage)] / by[('duckdb', stage)]:.1f}x" for stage in STAGES)
        lines.append(
            f"- {run['events']:,} events ({run['examples']:,} training examples): Spark's time over DuckDB's: {ratios}."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000_000])
    args = parser.parse_args()
    mp.set_start_method("spawn", force=True)
    results = {"machine": machine(), "runs": [bench(events) for events in args.sizes]}
    (BENCH_DIR / "spark.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH_DIR / "SPARK.md").write_text(to_markdown(results))
    print(to_markdown(results))


if __name__ == "__main__":
    main()
