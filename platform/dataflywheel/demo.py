"""The end-to-end demo: simulate a few days, then let the platform's own sensors and automation
turn the whole graph over them (``ticking.InProcessDaemon``: what the daemon does, in this process).

Runs go through the real Dagster instance under the home folder, so every
materialization, check and partition shows up in the UI afterwards (``make ui``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

import dagster as dg
from tqdm import tqdm

from dataflywheel import settings
from dataflywheel.defs.lifecycle.assets import ranker_challenger
from dataflywheel.defs.lifecycle.canary import challenger_off_policy, ranker_canary
from dataflywheel.defs.lifecycle.jobs import retrain_job
from dataflywheel.defs.lifecycle.sensors import retrain_sensor
from dataflywheel.defs.monitoring.drift_report import drift_report
from dataflywheel.defs.monitoring.jobs import debug_model_job
from dataflywheel.defs.partitions import arrival_hours, partition_key_of
from dataflywheel.defs.ranking.assets import model_evaluation
from dataflywheel.defs.resources import model_registry
from dataflywheel.defs.transform.jobs import dbt_docs_job
from dataflywheel.ingest.landing import list_event_files
from dataflywheel.lifecycle.registry import CHALLENGER, CHAMPION, MODEL_NAME
from dataflywheel.monitoring.alerts import SqliteAlertSink
from dataflywheel.monitoring.drift import FLAGS
from dataflywheel.simulator.config import SimulationConfig
from dataflywheel.simulator.run import SimulationReport, simulate
from dataflywheel.ticking import InProcessDaemon, execute
from dataflywheel.warehouse.duckdb import connect

MARTS = (
    "fct_rec_impressions",
    "fct_item_daily_engagement",
    "agg_tenant_daily_activity",
    "int_sessions",
    "dim_users",
    "dim_items",
)


@dataclass
class Stage:
    name: str
    seconds: float
    events: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@dataclass
class DemoReport:
    simulation: SimulationReport
    stages: list[Stage] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    mart_rows: dict[str, int] = field(default_factory=dict)
    runs: int = 0  # what the sensors and automation requested
    failed_runs: list[str] = field(default_factory=list)
    open_hours: list[str] = field(default_factory=list)  # landed in an hour not over yet: left to the sensor
    evaluation: dict[str, dict[str, float]] = field(default_factory=dict)  # day -> model_evaluation metadata
    registry: dict[str, str | int] = field(default_factory=dict)
    drift: dict[str, str] = field(default_factory=dict)  # day -> the drift report's verdict
    retrains: list[str] = field(default_factory=list)  # what the retrain sensor requested, and how it went
    alerts: list[str] = field(default_factory=list)


# What the daemon would tick, in this order; the automation sensor's conditions follow each pass.
SENSORS = ("landing_sensor", "directory_sensor", "late_events_sensor", "canary_sensor")
STAGE_OF_GROUP = {
    "ingestion": "raw_events",
    "transform": "dbt models",
    "features": "features + ranker",
    "training": "features + ranker",
    "monitoring": "monitoring",
}
# The daily evaluation is a training asset but a report over the day, run with the drift report.
REPORTS = {"model_evaluation"}
STAGES = ("raw_events", "dbt models", "features + ranker", "monitoring")


def run_demo(config: SimulationConfig, show_progress: bool = True) -> DemoReport:
    settings.export_environment()
    settings.prepare_home()
    from dataflywheel.definitions import defs  # after the environment: definitions read it at import

    instance = dg.DagsterInstance.get()
    landing = settings.current().landing_url

    days_bar = tqdm(total=config.days, desc="simulate + land", unit="day", disable=not show_progress)
    simulation = simulate(config, landing, on_day=lambda _: days_bar.update())
    days_bar.close()
    report = DemoReport(simulation=simulation)
    report.stages.append(Stage("simulate + land", simulation.seconds, simulation.delivered))

    days = [(config.start + timedelta(days=d)).isoformat() for d in range(config.days)]
    # The hour still under way is no partition yet (late deliveries of the last day land in it):
    # the landing sensor leaves its files for later, as it would in production.
    closed = set(arrival_hours().get_partition_keys())
    report.open_hours = [h for h in map(partition_key_of, list_event_files(landing)) if h not in closed]
    with open(settings.current().home / "demo.log", "w") as log:
        daemon = InProcessDaemon(defs, instance, log, SENSORS)
        with tqdm(desc="runs the sensors and automation requested", unit="run", disable=not show_progress) as bar:
            daemon.on_run = lambda _: bar.update()
            runs = daemon.until_quiet()
        started = time.perf_counter()
        # Scheduled daily (07:00 and 06:00), not by their inputs: run once here so the demo shows them.
        for job in (debug_model_job, dbt_docs_job):
            if not _run(defs, job, instance, None, log):
                report.failed_runs.append(job.name)
        _react_to_drift(defs, instance, report, log)
        reacted = time.perf_counter() - started
    graph = defs.resolve_asset_graph()
    report.runs = len(runs)
    report.failed_runs += [f"{r.name}[{r.partition}]" if r.partition else r.name for r in runs if not r.success]
    seconds: dict[str, float] = {}
    for run in runs:
        stage = max((_stage(graph, key) for key in run.assets), key=STAGES.index)  # a run counts where it ends
        seconds[stage] = seconds.get(stage, 0.0) + run.seconds

    _summarize(report)
    _summarize_models(report, instance, days)
    report.stages.append(Stage("raw_events", seconds.get("raw_events", 0.0), report.totals["landed"]))
    report.stages.append(Stage("dbt models", seconds.get("dbt models", 0.0), report.totals["loaded"]))
    report.stages.append(Stage("features + ranker", seconds.get("features + ranker", 0.0), report.totals["loaded"]))
    report.stages.append(Stage("monitoring", seconds.get("monitoring", 0.0) + reacted, 0))
    to_ranker = sum(seconds.get(stage, 0.0) for stage in STAGES[:-1])
    report.stages.append(Stage("landing -> ranker", to_ranker, report.totals["landed"]))
    report.stages.append(Stage("every run, in Dagster", sum(seconds.values()), report.totals["landed"]))
    return report


def _stage(graph, key: dg.AssetKey) -> str:
    return "monitoring" if key.to_user_string() in REPORTS else STAGE_OF_GROUP[graph.get(key).group_name]


def _run(defs: dg.Definitions, job, instance: dg.DagsterInstance, partition_key, log, tags=None) -> bool:
    """One run of a job through the instance, outside the sensors and automation; whether it succeeded."""
    request = dg.RunRequest(partition_key=partition_key, tags=tags or {})
    return execute(defs.resolve_job_def(job.name), request, instance, log).success


def _react_to_drift(defs: dg.Definitions, instance: dg.DagsterInstance, report: DemoReport, log) -> None:
    """A tick of the retrain sensor (what the daemon would run) and its runs, then a tick of the
    alerts sensor: the alerts table then tells the week's story. The sensor itself skips days
    that already have a retrain run, so a second demo on the same home does not retrain again."""
    retrain = defs.resolve_sensor_def(retrain_sensor.name).evaluate_tick(
        dg.build_sensor_context(instance=instance, definitions=defs)
    )
    for request in retrain.run_requests:
        _run(defs, retrain_job, instance, request.partition_key, log, {"dagster/run_key": request.run_key})
        report.retrains.append(f"{request.run_key}: {_retrain_outcome(instance, request.partition_key)}")
    defs.resolve_sensor_def("alerts_sensor").evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    report.alerts = [
        f"{a.severity:<7} {a.kind:<21} {a.subject}: {a.detail}"
        for a in SqliteAlertSink(settings.current().alerts_path).read()
    ]


def _retrain_outcome(instance: dg.DagsterInstance, day: str) -> str:
    if not _latest_metadata(instance, ranker_challenger, day):
        return "FAILED before a challenger was registered"
    if _latest_metadata(instance, ranker_canary, day):
        return "challenger passed its quality and off-policy gates: its canary serves a share of users (`make serve`)"
    if _latest_metadata(instance, challenger_off_policy, day):
        return "challenger passed its quality gate; the off-policy gate kept it from users"
    return "challenger registered; its quality gate kept it from users"


def _summarize(report: DemoReport) -> None:
    with connect(settings.current().warehouse_path, read_only=True) as con:

        def count(table: str) -> int:
            return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

        report.totals = {
            "loaded": count("raw.raw_events"),
            "duplicates": count("raw.duplicate_events"),
            "quarantined": count("raw.quarantined_events"),
        }
        report.totals["landed"] = sum(report.totals.values())
        report.quarantined_by_reason = dict(
            con.execute("SELECT reason, count(*) FROM raw.quarantined_events GROUP BY 1 ORDER BY 2 DESC").fetchall()
        )
        report.mart_rows = {mart: count(f"main.{mart}") for mart in MARTS}


def _summarize_models(report: DemoReport, instance: dg.DagsterInstance, days: list[str]) -> None:
    for day in days:
        evaluation = _latest_metadata(instance, model_evaluation, day)
        if evaluation:
            report.evaluation[day] = {k: v for k, v in evaluation.items() if k.startswith("ndcg")}
        drift = _latest_metadata(instance, drift_report, day)
        if drift:
            reasons = [flag for flag in FLAGS if drift.get(flag) == 1.0]
            report.drift[day] = ", ".join(reasons) if reasons else drift.get("verdict", "no drift")
    registry = model_registry().get()
    versions = registry.client.search_model_versions(f"name = '{MODEL_NAME}'")
    report.registry = {"versions": len(versions)}
    for alias in (CHAMPION, CHALLENGER):
        version = registry.alias(alias)
        report.registry[alias] = version.version if version else "none"


def _latest_metadata(instance: dg.DagsterInstance, asset: dg.AssetsDefinition, partition: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset.key, asset_partitions=[partition]), limit=1
    ).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else {}


def format_report(report: DemoReport) -> str:
    t, sim = report.totals, report.simulation
    lines = [
        "",
        "dataflywheel demo",
        "=================",
        f"simulated {sim.events:,} events; delivered {sim.delivered:,} rows in {sim.files} landing files",
        f"landed {t['landed']:,} = loaded {t['loaded']:,} + duplicates {t['duplicates']:,}"
        f" + quarantined {t['quarantined']:,}",
        *(
            [f"arrival hours not over yet, left to the landing sensor (`make ui`): {', '.join(report.open_hours)}"]
            if report.open_hours
            else []
        ),
        "quarantined by reason:",
        *[f"  {reason:<28} {n:>8,}" for reason, n in report.quarantined_by_reason.items()],
        "rows per model:",
        *[f"  {mart:<28} {n:>10,}" for mart, n in report.mart_rows.items()],
        f"{report.runs} runs, requested by the platform's sensors and automation and executed in-process",
        "stages (wall time, events/s):",
        *[
            f"  {s.name:<20} {s.seconds:>7.1f} s  {s.events_per_second:>12,.0f} ev/s"
            if s.events
            else f"  {s.name:<20} {s.seconds:>7.1f} s"
            for s in report.stages
        ],
    ]
    lines.append("ranker, held-out NDCG@10 by day (ranker / most popular in tenant / random):")
    for day, m in report.evaluation.items():
        ndcg = [m.get(f"ndcg_at_10/{policy}", 0.0) for policy in ("ranker", "most_popular", "random")]
        margin = m.get("ndcg_margin_over_most_popular", 0.0)
        lines.append(f"  {day}  {' / '.join(f'{v:.3f}' for v in ndcg)}  (margin over most popular {margin:+.3f})")
    lines.append("drift report by day (what the verdict flagged):")
    lines += [f"  {day}  {verdict}" for day, verdict in report.drift.items()]
    lines.append(f"retrain sensor: {', '.join(report.retrains) or 'nothing requested'}")
    lines.append(
        f"model registry ({settings.current().mlflow_uri}): {report.registry.get('versions')} versions, "
        f"champion = version {report.registry.get('champion')}, "
        f"challenger = version {report.registry.get('challenger')}"
    )
    lines.append(f"alerts ({settings.current().alerts_path}, table alerts):")
    lines += [f"  {alert}" for alert in report.alerts] or ["  none"]
    if report.failed_runs:
        lines.append(
            f"FAILED RUNS (details in {settings.current().home / 'demo.log'}): {', '.join(report.failed_runs)}"
        )
    lines += [
        "",
        "Open the Dagster UI with `make ui` (http://127.0.0.1:3000): lineage, partitions, checks,",
        "freshness and every run above are there. `make docs` builds the dbt docs site.",
    ]
    return "\n".join(lines)
