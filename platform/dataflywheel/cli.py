"""Command line: ``dataflywheel simulate | demo | promote | rollback``."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from . import settings
from .simulator.config import DriftSchedule, FaultRates, SimulationConfig


def _simulation_args(parser: argparse.ArgumentParser, events_per_day: int) -> None:
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--events-per-day", type=int, default=events_per_day)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=date.fromisoformat, help="first day (default: DAYS days ago, UTC)")
    parser.add_argument("--drift-day", type=int, help="day index from which tastes and product mix shift")
    parser.add_argument("--no-faults", action="store_true", help="deliver every event once, on time, well-formed")


def _config(args: argparse.Namespace) -> SimulationConfig:
    extra = {"start": args.start} if args.start else {}
    if args.start is None:
        from datetime import datetime, timedelta, timezone

        extra["start"] = datetime.now(timezone.utc).date() - timedelta(days=args.days)
    return SimulationConfig(
        days=args.days,
        events_per_day=args.events_per_day,
        seed=args.seed,
        drift=DriftSchedule(start_day=args.drift_day),
        faults=FaultRates.none() if args.no_faults else FaultRates(),
        **extra,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dataflywheel")
    commands = parser.add_subparsers(dest="command", required=True)
    _simulation_args(commands.add_parser("simulate", help="land simulated events"), 5_000_000)
    _simulation_args(commands.add_parser("demo", help="simulate, then materialize every asset"), 1_000_000)
    promote = commands.add_parser("promote", help="make a registered ranker version the champion")
    promote.add_argument("version")
    promote.add_argument("--reason", required=True)
    commands.add_parser("rollback", help="give the champion alias back to the previous champion").add_argument(
        "--reason", required=True
    )
    args = parser.parse_args(argv)
    settings.configure_environment()
    if args.command in ("promote", "rollback"):
        return _registry_command(args)
    config = _config(args)

    if args.command == "simulate":
        from .simulator.run import simulate

        report = simulate(config, settings.landing_url())
        if report.files == 0:
            print("this simulation was landed before: nothing written (landing files are never rewritten)")
        print(
            f"landed {report.delivered:,} rows ({report.events:,} events, {report.duplicates:,} duplicates, "
            f"{sum(report.malformed.values()):,} malformed) in {report.files} files, "
            f"{report.seconds:.1f} s, {report.events_per_second:,.0f} rows/s -> {settings.landing_url()}"
        )
        return 0

    from .demo import format_report, run_demo

    report = run_demo(config)
    print(format_report(report))
    return 1 if report.failed_runs else 0


def _registry_command(args: argparse.Namespace) -> int:
    from .defs.resources import model_registry
    from .ml.registry import CHAMPION

    registry = model_registry().get()
    if args.command == "promote":
        registry.promote(args.version, reason=args.reason)
    else:
        registry.rollback(reason=args.reason)
    print(f"champion is now version {registry.alias(CHAMPION).version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
