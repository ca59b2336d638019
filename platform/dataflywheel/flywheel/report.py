"""The closed loop's report: the regret table, the canary episodes and the OPE check, as text and JSON."""

from __future__ import annotations

from dataclasses import asdict

import polars as pl

from dataflywheel.flywheel.run import FlywheelReport

ESTIMATORS = ("ips", "snips", "doubly_robust")


def as_json(report: FlywheelReport) -> dict:
    return {
        "options": asdict(report.options),
        "regret": report.regret.to_dicts(),
        "days": [asdict(day) | {"versions": sorted(day.versions)} for day in report.days],
        "episodes": [asdict(e) | {"expected": e.expected} for e in report.episodes],
        "realized": {version: {"slots": n, "true_ctr": ctr} for version, (n, ctr) in report.realized.items()},
        "ope": report.ope,
        "runs": report.runs,
        "failed_runs": report.failed_runs,
        "seconds": report.seconds,
    }


def format_report(report: FlywheelReport) -> str:
    o = report.options
    lines = [
        "",
        "dataflywheel closed loop",
        "========================",
        f"{o.days} simulated days against the live service after {o.history_days} of history, "
        f"{o.events_per_day:,} events a day, the platform turning every {o.step_hours} simulated hours",
        f"{report.runs} runs requested by the platform's sensors and automation"
        + (f"; FAILED: {', '.join(report.failed_runs)}" if report.failed_runs else ", all succeeded"),
        "wall time: " + ", ".join(f"{part} {seconds:.0f} s" for part, seconds in report.seconds.items()),
        "",
        "click rate per shown slot by day, by the simulator's true probabilities (served = the platform's lists):",
        f"  {'day':>3} {'lists':>6} {'served':>7} {'oracle':>7} {'popular':>7} {'random':>7} {'ratio':>6} "
        f"{'regret':>7} | {'engaged':>7} {'oracle':>7} {'ratio':>6} | {'new users':>9} {'ratio':>6} | "
        f"{'new items served/oracle':>23}",
    ]
    for r in report.regret.iter_rows(named=True):
        newcomers = r.get("new_users/lists") or 0
        new_ratio = f"{r['new_users/click_ratio']:.2f}" if newcomers else "-"
        lines.append(
            f"  {r['day']:>3} {r['lists']:>6} {r['clicks/served']:>7.4f} {r['clicks/oracle']:>7.4f} "
            f"{r['clicks/popular']:>7.4f} {r['clicks/random']:>7.4f} {r['click_ratio']:>6.2f} "
            f"{r['click_regret']:>7.4f} | {r['engaged/served']:>7.4f} {r['engaged/oracle']:>7.4f} "
            f"{r['engaged_ratio']:>6.2f} | {newcomers:>9} {new_ratio:>6} | "
            f"{r['new_item_share/served']:>10.2f} / {r['new_item_share/oracle']:.2f}"
        )
    lines += ["", "canary episodes (challengers made on purpose; the platform decides):"]
    for e in report.episodes:
        slots, ctr = report.realized.get(e.version, (0, 0.0))
        gate = (
            f"off-policy clicks/slot challenger {e.gate['challenger']:.4f} vs champion {e.gate['champion']:.4f}"
            if {"challenger", "champion"} <= set(e.gate)
            else "no off-policy estimate"
        )
        lines.append(f"  {e.name:<14} expected: {e.expected}")
        lines.append(f"  {'':<14} outcome:  {e.outcome}{f' ({e.reasons})' if e.reasons else ''}")
        lines.append(
            f"  {'':<14} version {e.version}, day {e.day}; {gate}; served {slots:,} slots "
            f"(true click rate {ctr:.4f}); judged on {e.judged_lists:,} lists / {e.judged_impressions:,} impressions"
        )
    lines += ["", *ope_summary(report.ope)]
    return "\n".join(lines)


def ope_summary(rows: list[dict]) -> list[str]:
    """Per estimator, how often its 95% interval contained the deployed click rate."""
    if not rows:
        return []
    frame = pl.DataFrame(rows)
    seeds = frame.get_column("seed").n_unique()
    lines = [f"off-policy estimates vs the click rate each policy got when deployed ({seeds} seeds):"]
    for estimator in ESTIMATORS:
        covered = frame.get_column(f"{estimator}/covered")
        lines.append(f"  {estimator:<14} 95% interval contained it in {covered.sum()}/{covered.len()} cases")
    for policy, part in frame.filter(pl.col("seed") == 1).group_by("policy", maintain_order=True):
        r = part.row(0, named=True)
        lines.append(
            f"  seed 1, {policy[0]:<18} deployed {r['deployed']:.4f}; snips {r['snips/estimate']:.4f} "
            f"[{r['snips/ci_low']:.4f}, {r['snips/ci_high']:.4f}]"
        )
    return lines
