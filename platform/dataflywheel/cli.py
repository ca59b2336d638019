"""Command line: ``dataflywheel setup | simulate | demo | flywheel | promote | rollback | serve | keys | ope``."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime, timedelta, timezone

from dataflywheel import settings
from dataflywheel.monitoring.like_days import nearest_judgeable_day
from dataflywheel.simulator.config import DriftSchedule, FaultRates, SimulationConfig


def _simulation_args(parser: argparse.ArgumentParser, days: int, events_per_day: int, drift_day: int | None) -> None:
    parser.add_argument("--days", type=int, default=days)
    parser.add_argument("--events-per-day", type=int, default=events_per_day)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=date.fromisoformat, help="first day (default: DAYS days ago, UTC)")
    parser.add_argument(
        "--drift-day",
        type=int,
        default=drift_day,
        help="day index from which the world changes; moved to the nearest day (later first) that "
        "the drift report can judge: it compares like days (see monitoring/like_days.py)",
    )
    parser.add_argument("--drift-kind", choices=["all", *DriftSchedule.KINDS], default="all")
    parser.add_argument("--no-faults", action="store_true", help="deliver every event once, on time, well-formed")


def _config(args: argparse.Namespace) -> SimulationConfig:
    start = args.start or datetime.now(timezone.utc).date() - timedelta(days=args.days)
    return SimulationConfig(
        days=args.days,
        events_per_day=args.events_per_day,
        seed=args.seed,
        start=start,
        drift=_drift(
            args.drift_kind, None if args.drift_day is None else nearest_judgeable_day(start, args.days, args.drift_day)
        ),
        faults=FaultRates.none() if args.no_faults else FaultRates(),
    )


def _drift(kind: str, day: int | None) -> DriftSchedule:
    if kind == "all" or day is None:
        return DriftSchedule(start_day=day, onboarding_share=0.3)
    return DriftSchedule.of_kind(kind, day)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dataflywheel")
    commands = parser.add_subparsers(dest="command", required=True)
    _simulation_args(commands.add_parser("simulate", help="land simulated events"), 3, 5_000_000, None)
    _simulation_args(
        commands.add_parser("demo", help="a week with a drift: simulate, materialize every asset, react"),
        7,
        500_000,
        4,
    )
    flywheel = commands.add_parser(
        "flywheel", help="the closed loop: simulated users against the live service for a week, canaries, regret"
    )
    flywheel.add_argument("--days", type=int, default=7, help="closed-loop days")
    flywheel.add_argument("--history-days", type=int, default=2, help="days of the logging policy before them")
    flywheel.add_argument("--events-per-day", type=int, default=40_000)
    flywheel.add_argument("--step-hours", type=int, default=8, help="simulated hours between two turns of the platform")
    flywheel.add_argument("--seed", type=int, default=1)
    flywheel.add_argument("--canary-share", type=float, default=0.5, help="of users a canary challenger serves")
    flywheel.add_argument(
        "--episodes",
        default="miscalibrated,inverted,embeddings",
        help="canary episodes, in order (miscalibrated, inverted, embeddings, recovery; empty for none)",
    )
    promote = commands.add_parser("promote", help="make a registered ranker version the champion")
    promote.add_argument("version")
    promote.add_argument("--reason", required=True)
    commands.add_parser("rollback", help="give the champion alias back to the previous champion").add_argument(
        "--reason", required=True
    )
    commands.add_parser("setup", help="prepare the home folder: Dagster's configuration and the dbt manifest")
    serve = commands.add_parser("serve", help="the HTTP service: event collector (POST /v1/events)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="processes (one per core scales the CPU-bound ranking)")
    serve.add_argument("--example", action="store_true", help="create a key and print a request to try")
    keys = commands.add_parser("keys", help="per-tenant API keys").add_subparsers(dest="action", required=True)
    keys.add_parser("create", help="a new key for a tenant (shown once)").add_argument("tenant_id")
    keys.add_parser("revoke", help="revoke a key by its id").add_argument("key_id")
    keys.add_parser("list", help="every key's id, tenant and state")
    metastore = commands.add_parser(
        "spark-metastore", help="the Hive metastore service Spark's processes share (DATAFLYWHEEL_ENGINE=spark)"
    )
    metastore.add_argument("--port", type=int, default=9083)  # Hive's
    ope = commands.add_parser("ope", help="off-policy estimates of a target policy's reward from a logged Parquet file")
    ope.add_argument(
        "log", help="columns reward, logging_propensity, target_propensity [, reward_hat_logged, reward_hat_target]"
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        # One process per core, one polars thread per process: a request's frames are small, and
        # threads of two processes contending for two cores cost more than they parallelize.
        # Set before anything imports polars (it sizes its pool then); workers inherit it.
        os.environ.setdefault("POLARS_MAX_THREADS", "1")
    if args.command == "ope":  # reads one file, writes nothing: no home needed
        return _off_policy(args)
    settings.export_environment()
    settings.prepare_home()
    if args.command == "setup":
        return _setup()
    if args.command == "serve":
        return _serve(args)
    if args.command == "keys":
        return _keys(args)
    if args.command == "spark-metastore":
        from dataflywheel.warehouse.spark_metastore import metastore_command

        command = metastore_command(settings.current(), args.port)
        os.execv(command[0], command)  # the service in this process: its signals and exit are the service's
    if args.command in ("promote", "rollback"):
        return _registry_command(args)
    if args.command == "flywheel":
        return _flywheel(args)
    config = _config(args)

    if args.command == "simulate":
        from dataflywheel.simulator.run import simulate

        report = simulate(config, settings.current().landing_url)
        if report.files == 0:
            print("this simulation was landed before: nothing written (landing files are never rewritten)")
        print(
            f"landed {report.delivered:,} rows ({report.events:,} events, {report.duplicates:,} duplicates, "
            f"{sum(report.malformed.values()):,} malformed) in {report.files} files, "
            f"{report.seconds:.1f} s, {report.events_per_second:,.0f} rows/s -> {settings.current().landing_url}"
        )
        return 0

    from dataflywheel.demo import format_report, run_demo

    report = run_demo(config)
    print(format_report(report))
    return 1 if report.failed_runs else 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from dataflywheel.serving.app import create_app

    if args.example:
        _print_example(args)
    # Requests are counted and timed in /metrics: no access log line per request.
    served = dict(host=args.host, port=args.port, access_log=False)
    if args.workers == 1:
        uvicorn.run(create_app(), **served)
    else:  # each worker builds its own app (its own log slot, snapshot and model)
        uvicorn.run(f"{create_app.__module__}:create_app", factory=True, workers=args.workers, **served)
    return 0


def _flywheel(args: argparse.Namespace) -> int:
    import json

    from dataflywheel.flywheel.report import as_json, format_report
    from dataflywheel.flywheel.run import FlywheelOptions, run_flywheel

    options = FlywheelOptions(
        days=args.days,
        history_days=args.history_days,
        events_per_day=args.events_per_day,
        step_hours=args.step_hours,
        seed=args.seed,
        episodes=tuple(name for name in args.episodes.split(",") if name),
        canary_share=args.canary_share,
    )
    report = run_flywheel(options)
    path = settings.current().home / "flywheel.json"
    path.write_text(json.dumps(as_json(report), indent=1, default=str))
    print(format_report(report))
    print(f"\nthe whole report as JSON: {path}")
    return 1 if report.failed_runs else 0


def _off_policy(args: argparse.Namespace) -> int:
    """One JSON object: per estimator, its estimate, 95% interval and row count."""
    import json

    import polars as pl

    from dataflywheel.ranking import off_policy

    log = pl.read_parquet(args.log)
    needed = ["reward", "logging_propensity", "target_propensity"]
    missing = [c for c in needed if c not in log.columns]
    if missing:
        print(f"{args.log}: missing column(s) {', '.join(missing)}", file=sys.stderr)
        return 2
    columns = [log.get_column(c).to_numpy() for c in needed]
    try:
        estimates = {"ips": off_policy.ips(*columns), "snips": off_policy.snips(*columns)}
        if {"reward_hat_logged", "reward_hat_target"} <= set(log.columns):
            models = [log.get_column(c).to_numpy() for c in ("reward_hat_logged", "reward_hat_target")]
            estimates["doubly_robust"] = off_policy.doubly_robust(*columns, *models)
    except ValueError as error:  # a log no estimate can be made from: say why
        print(f"{args.log}: {error}", file=sys.stderr)
        return 2
    print(json.dumps({name: estimate.as_dict() for name, estimate in estimates.items()}))
    return 0


def _print_example(args: argparse.Namespace) -> None:
    """A key for the snapshot's largest tenant and a request for one of its users, to paste."""
    import polars as pl

    from dataflywheel.features.online import USER_DIRECTORY
    from dataflywheel.serving.keys import ApiKeys

    path = settings.current().online_features_dir / f"{USER_DIRECTORY}.parquet"
    if not path.exists():
        print("no online snapshot yet: run `make demo` first; the collector works meanwhile")
        return
    users = pl.read_parquet(path, columns=["user_id", "tenant_id"])
    tenant = users.group_by("tenant_id").len().sort("len", descending=True).item(0, "tenant_id")
    user = users.filter(pl.col("tenant_id") == tenant).item(0, "user_id")
    key = ApiKeys(settings.current().api_keys_path).create(tenant)
    url = f"http://{args.host}:{args.port}"
    print(f"API key for tenant {tenant} (shown once): {key}")
    print(
        f"curl -s {url}/v1/recommendations -H 'Authorization: Bearer {key}' "
        f'-H \'Content-Type: application/json\' -d \'{{"user_id": "{user}", "surface": "home_feed", "k": 5}}\''
    )
    print(f"OpenAPI docs: {url}/docs   metrics: {url}/metrics")


def _keys(args: argparse.Namespace) -> int:
    from dataflywheel.serving.keys import ApiKeys

    keys = ApiKeys(settings.current().api_keys_path)
    if args.action == "create":
        print(keys.create(args.tenant_id))
    elif args.action == "revoke":
        if not keys.revoke(args.key_id):
            print(f"no live key {args.key_id}", file=sys.stderr)
            return 1
    else:
        for key in keys.list():
            state = "revoked" if key.revoked_at else "live"
            print(f"{key.key_id}\t{key.tenant_id}\t{state}")
    return 0


def _setup() -> int:
    from dataflywheel.contracts import dbt_vocabulary
    from dataflywheel.dbt_project import parse_manifest

    dbt_vocabulary.write()  # before parsing: the models call the vocabulary macros it generates
    # Create the instance's SQLite storage once, here: the daemon, the webserver, run workers and
    # the CLI starting together on a fresh home would race to create it (two schema heads).
    # Opening the instance creates all three (runs, event log, schedules).
    with settings.dagster_instance(settings.current()):
        pass
    print(f"home {settings.current().home}; dbt manifest {parse_manifest()}")
    return 0


def _registry_command(args: argparse.Namespace) -> int:
    """Run the promote / rollback job through the platform's Dagster instance (in the warehouse's
    pool: it waits for a running hourly step) and wait for it."""
    import dagster as dg

    from dataflywheel.defs.lifecycle.champion import promote_champion_job, rollback_champion_job
    from dataflywheel.defs.resources import model_registry, warehouse
    from dataflywheel.lifecycle.model_store import ModelStore

    if args.command == "promote":
        job, op, config = promote_champion_job, "promote_champion", {"version": args.version, "reason": args.reason}
    else:
        job, op, config = rollback_champion_job, "rollback_champion", {"reason": args.reason}
    result = job.execute_in_process(
        run_config={"ops": {op: {"config": config}}},
        instance=dg.DagsterInstance.get(),
        resources={"warehouse": warehouse(), "model_registry": model_registry()},
        raise_on_error=False,
    )
    if not result.success:
        print(f"{args.command} failed: see run {result.run_id} in the Dagster UI")
        return 1
    rebased = ModelStore(settings.current().ranker_chain_dir).latest_hour()
    after = f"; the hourly chain continues from it after {rebased:%Y-%m-%d %H:00}" if rebased else ""
    print(f"champion is now version {result.output_for_node(op)}{after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
