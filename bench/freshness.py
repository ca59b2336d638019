"""`make freshness`: does learning every hour pay? Weeks with a preference shift mid-week, several seeds.

Each simulated week goes through the real pipeline (landing, raw_events, dbt, feature store,
training examples); then three rankers of the same kind see its hours in order, each hour
scored (AUC of P(click)) before the ranker may have learned it:

- hourly: learns each hour once the platform's model of it would be published, so hour h is
  scored by what learned through h - ``Settings.serving_lag_hours`` (label delay and pipeline);
- daily: learns a whole day once its last hour's labels are mature, so it is up to a day behind;
- frozen: the hourly model as it stood at the end of the day before the shift, never updated.

Over ``SEEDS`` weeks it reports, per period (before the shift, the shift day, after it), the mean
difference hourly - frozen and hourly - daily with a 95% interval (t over seeds). Results go
to bench/freshness.json, bench/FRESHNESS.md and docs/img/freshness.png (the first seed).
"""

from __future__ import annotations

import json
import pickle
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from bench.run import week_through_pipeline, work_dir
from dataflywheel import settings
from dataflywheel.features.examples import load_examples
from dataflywheel.ranking import metrics
from dataflywheel.ranking.ranker import Ranker
from dataflywheel.simulator.config import DriftSchedule, SimulationConfig
from dataflywheel.warehouse.duckdb import DuckDBEngine

BENCH_DIR = Path(__file__).resolve().parent
POLICIES = ("hourly", "daily", "frozen")
PLOT = BENCH_DIR.parent / "docs" / "img" / "freshness.png"
MONDAY = date(2026, 11, 16)
DAYS, SHIFT_DAY, EVENTS_PER_DAY = 7, 3, 400_000  # the shift starts on Thursday
SEEDS = (3, 4, 5, 6, 7)
# The platform's own delay: when hour h is served, the newest model learned through h - lag
# (labels wait label_delay_hours arrival hours, then the runs; see Settings.serving_lag_hours).
SERVING_LAG_HOURS = settings.current().serving_lag_hours
PERIODS = {"before the shift": range(1, SHIFT_DAY), "shift day": range(SHIFT_DAY, SHIFT_DAY + 1)}
PERIODS["after the shift"] = range(SHIFT_DAY, DAYS)
T_975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447}  # Student t, 95% two-sided, by n


def build_week(work: Path, seed: int) -> pl.DataFrame:
    """Simulate, land, ingest, model, and build features and examples for every hour (the
    benchmark's own stages); the examples."""
    config = SimulationConfig(
        days=DAYS, events_per_day=EVENTS_PER_DAY, seed=seed, start=MONDAY, drift=DriftSchedule(start_day=SHIFT_DAY)
    )
    warehouse = week_through_pipeline(config, work)
    with DuckDBEngine.open(warehouse, read_only=True) as engine:
        return load_examples(engine, datetime(1970, 1, 1), datetime(2100, 1, 1))


def run_policies(examples: pl.DataFrame, serving_lag_hours: int = SERVING_LAG_HOURS) -> pl.DataFrame:
    """AUC per hour for the hourly, daily and frozen rankers, under the platform's serving lag."""
    examples = examples.with_columns(hour=pl.col("impression_ts").dt.truncate("1h"))
    start = datetime.combine(MONDAY, datetime.min.time())
    parts = {hour: part for (hour,), part in examples.group_by("hour", maintain_order=True)}
    hourly, daily, frozen = Ranker(), Ranker(), None
    rows = []
    for hour, part in parts.items():
        day = (hour - start).days
        matured = hour - timedelta(hours=serving_lag_hours)  # the newest hour a served model had learned
        if matured in parts:
            hourly.learn_many(parts[matured])
        day_done = [p for h, p in parts.items() if h.date() == matured.date()] if matured.hour == 23 else []
        if day_done:  # a whole day's labels are in: the daily model learns it
            daily.learn_many(pl.concat(day_done))
        if frozen is None and day == SHIFT_DAY:
            frozen = pickle.loads(pickle.dumps(hourly))  # the hourly model at the end of the day before
        clicked = part.get_column("clicked").to_numpy()
        row = {"hour": hour, "day": day, "examples": part.height}
        for name, model in (("hourly", hourly), ("daily", daily), ("frozen", frozen or hourly)):
            row[name] = metrics.auc(clicked, model.predict(part)["p_click"])
        rows.append(row)
    return pl.DataFrame(rows)


def by_period(per_hour: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Mean hourly AUC per policy in each period (hours with >= 500 impressions)."""
    usable = per_hour.filter(pl.col("examples") >= 500)
    return {
        period: {n: usable.filter(pl.col("day").is_in(list(days))).get_column(n).mean() for n in POLICIES}
        for period, days in PERIODS.items()
    }


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% interval (t over seeds)."""
    n, mean = len(values), sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5
    half = T_975[n] * sd / n**0.5
    return mean, mean - half, mean + half


def plot(per_hour: pl.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    smoothed = per_hour.filter(pl.col("examples") >= 500)
    for name in POLICIES:
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


def to_markdown(periods: dict[int, dict[str, dict[str, float]]], seconds: float) -> str:
    lines = [
        f"{len(periods)} simulated weeks (seeds {', '.join(map(str, periods))}) x {DAYS} days x "
        f"{EVENTS_PER_DAY:,} events/day, preference shift from day {SHIFT_DAY}; hour h scored by models that "
        f"learned through h - {SERVING_LAG_HOURS} (the platform's serving lag); frozen = the hourly model at "
        f"the end of day {SHIFT_DAY - 1}. Mean of hourly AUCs (hours with >= 500 impressions), 95% interval over "
        f"seeds (t). Day 0 is left out (every model starts from the priors). Built in {seconds:.0f} s.",
        "",
        "| period | hourly | daily | frozen | hourly - daily | hourly - frozen |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for period in PERIODS:
        per_seed = [periods[seed][period] for seed in periods]
        means = {n: interval([s[n] for s in per_seed])[0] for n in POLICIES}
        gains = [interval([s["hourly"] - s[other] for s in per_seed]) for other in ("daily", "frozen")]
        cells = " | ".join(f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]" for m, lo, hi in gains)
        lines.append(f"| {period} | {means['hourly']:.3f} | {means['daily']:.3f} | {means['frozen']:.3f} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    started = time.perf_counter()
    periods, hours = {}, {}
    for seed in SEEDS:
        work = work_dir(f"freshness-{seed}")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        per_hour = run_policies(build_week(work, seed))
        periods[seed], hours[seed] = by_period(per_hour), per_hour
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    results = {"periods": periods, "per_hour": {s: h.to_dicts() for s, h in hours.items()}}
    (BENCH_DIR / "freshness.json").write_text(json.dumps(results, default=str, indent=1))
    plot(hours[SEEDS[0]])
    (BENCH_DIR / "FRESHNESS.md").write_text(to_markdown(periods, seconds))
    print((BENCH_DIR / "FRESHNESS.md").read_text())


if __name__ == "__main__":
    main()
