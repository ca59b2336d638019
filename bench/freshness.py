"""`make freshness`: does learning every hour pay? A week with a preference shift mid-week.

The same simulated week goes through the real pipeline (landing, raw_events, dbt, feature
store, training examples); then three rankers of the same kind see its hours in order:

- hourly: scored on each hour, then learns it (what the platform runs);
- daily: learns a whole day at midnight, so it is up to a day behind;
- frozen: learns day 1 only.

Each is scored on every hour before learning it (AUC of P(click)). Results go to
bench/freshness.json, bench/FRESHNESS.md and docs/img/freshness.png.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from bench.run import week_through_pipeline
from dataflywheel.features.examples import load_examples
from dataflywheel.ranking import metrics
from dataflywheel.ranking.learning import learn_hour
from dataflywheel.ranking.ranker import Ranker
from dataflywheel.simulator.config import DriftSchedule, SimulationConfig
from dataflywheel.warehouse.duckdb import DuckDBEngine

BENCH_DIR = Path(__file__).resolve().parent
PLOT = BENCH_DIR.parent / "docs" / "img" / "freshness.png"
MONDAY = date(2026, 11, 16)
DAYS, SHIFT_DAY, EVENTS_PER_DAY = 7, 3, 600_000  # the shift starts on Thursday


def build_week(work: Path) -> pl.DataFrame:
    """Simulate, land, ingest, model, and build features and examples for every hour (the
    benchmark's own stages); the examples."""
    config = SimulationConfig(
        days=DAYS, events_per_day=EVENTS_PER_DAY, seed=3, start=MONDAY, drift=DriftSchedule(start_day=SHIFT_DAY)
    )
    warehouse = week_through_pipeline(config, work)
    with DuckDBEngine.open(warehouse, read_only=True) as engine:
        return load_examples(engine, datetime(1970, 1, 1), datetime(2100, 1, 1))


def run_policies(examples: pl.DataFrame) -> pl.DataFrame:
    """AUC per hour for the hourly, daily and frozen rankers."""
    examples = examples.with_columns(hour=pl.col("impression_ts").dt.truncate("1h"))
    start = datetime.combine(MONDAY, datetime.min.time())
    hourly, daily, frozen = Ranker(), Ranker(), Ranker()
    day_buffer: list[pl.DataFrame] = []
    rows = []
    for (hour,), part in examples.group_by("hour", maintain_order=True):
        day = (hour - start).days
        if hour.hour == 0 and day_buffer:  # midnight: the daily model learns yesterday
            yesterday = pl.concat(day_buffer)
            daily.learn_many(yesterday)
            if day == 1:
                frozen.learn_many(yesterday)
            day_buffer = []
        clicked = part.get_column("clicked").to_numpy()
        row = {"hour": hour, "day": day, "examples": part.height}
        row["hourly"] = learn_hour(hourly, part).metrics["auc_click"]  # scored, then learned: the asset's step
        for name, model in (("daily", daily), ("frozen", frozen)):
            row[name] = metrics.auc(clicked, model.predict(part)["p_click"])
        rows.append(row)
        day_buffer.append(part)
    return pl.DataFrame(rows)


def plot(per_hour: pl.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    smoothed = per_hour.filter(pl.col("examples") >= 500)
    for name in ("hourly", "daily", "frozen"):
        ax.plot(smoothed.get_column("hour").to_list(), smoothed.get_column(name).to_list(), label=name, lw=1.2)
    shift = datetime.combine(MONDAY + timedelta(days=SHIFT_DAY), datetime.min.time())
    ax.axvline(shift, color="grey", ls="--", lw=1)
    ax.text(shift, ax.get_ylim()[1], " preference shift", va="top", color="grey")
    ax.set_ylabel("AUC of P(click), next hour")
    ax.set_title("Held-out AUC per hour: hourly vs daily vs frozen updates")
    ax.legend(loc="lower right")
    fig.autofmt_xdate()
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)


def to_markdown(per_hour: pl.DataFrame, seconds: float) -> str:
    by_day = (
        per_hour.filter(pl.col("examples") >= 500)
        .group_by("day")
        .agg(pl.col("examples").sum(), *[pl.col(n).mean() for n in ("hourly", "daily", "frozen")])
        .sort("day")
    )
    lines = [
        f"{DAYS} simulated days x {EVENTS_PER_DAY:,} events/day (seed 3), preference shift from day {SHIFT_DAY}; "
        f"mean of hourly AUCs per day (hours with >= 500 impressions). Built in {seconds:.0f} s.",
        "",
        "| day | impressions | hourly | daily | frozen |",
        "|---:|---:|---:|---:|---:|",
    ]
    for day, n, h, d, f in by_day.iter_rows():
        mark = " (shift)" if day == SHIFT_DAY else ""
        lines.append(f"| {day}{mark} | {n:,} | {h:.3f} | {d:.3f} | {f:.3f} |")
    after = by_day.filter(pl.col("day") >= SHIFT_DAY)
    gain = (after.get_column("hourly") - after.get_column("frozen")).mean()
    lines += ["", f"After the shift, hourly updates beat the frozen model by {gain:+.3f} AUC on average."]
    return "\n".join(lines) + "\n"


def main() -> None:
    work = BENCH_DIR / "tmp" / "freshness"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    examples = build_week(work)
    per_hour = run_policies(examples)
    seconds = time.perf_counter() - started
    (BENCH_DIR / "freshness.json").write_text(json.dumps(per_hour.to_dicts(), default=str, indent=1))
    plot(per_hour)
    (BENCH_DIR / "FRESHNESS.md").write_text(to_markdown(per_hour, seconds))
    print((BENCH_DIR / "FRESHNESS.md").read_text())
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
