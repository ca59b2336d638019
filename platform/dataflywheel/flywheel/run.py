"""The closed loop for a simulated week: the service decides what users see, users answer, the
platform learns from it, the service reloads what it learned.

1. History: a few days of the product before the service, from the simulator's own logging
   policy, landed as files; the platform's sensors and automation turn them into the first
   champion and online snapshot (as in the demo).
2. The week: the service runs on a loopback port with the simulation's clock. The simulated
   users play each step (a few simulated hours) against it over HTTP (``closed_loop``). Then
   the platform turns by itself: the collector lands what it acknowledged, and the sensors and
   automation (``ticking.InProcessDaemon``) load it, rebuild the marts and features, build the
   training examples of the hours whose labels are mature, and learn them into the hourly
   chain, whose head becomes the champion; the service's refresher picks the new champion and
   snapshot up. Nothing in between is launched by hand.
3. Canary episodes (``episodes``): challengers made on purpose go through the platform's own
   off-policy gate and canary, one after another, from the week's second day.
4. The regret of every served list against the oracle and the baselines (``regret``), and the
   off-policy estimators checked against deployed policies in the same world (``ope_check``).

Dagster's partitions follow the wall clock, so the simulated week lies in the past: its hours
are all closed, and the platform's clock is the simulation's (the service stamps with it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import dagster as dg
import polars as pl
from tqdm import tqdm

from dataflywheel import settings
from dataflywheel.defs.resources import model_registry
from dataflywheel.demo import SENSORS
from dataflywheel.features.definitions import Segments
from dataflywheel.flywheel import episodes
from dataflywheel.flywheel.episodes import Episode
from dataflywheel.lifecycle.registry import CHAMPION
from dataflywheel.serving.app import Limits, create_app
from dataflywheel.serving.durable_log import drained
from dataflywheel.serving.keys import ApiKeys
from dataflywheel.serving.local import deployed_version, serving
from dataflywheel.simulator import ope_check
from dataflywheel.simulator.closed_loop import ClosedLoop, DayPlay, ServiceClient, SimulatedClock
from dataflywheel.simulator.config import FaultRates, SimulationConfig
from dataflywheel.simulator.regret import RegretLedger
from dataflywheel.simulator.run import deliver_day, land_day, land_directory
from dataflywheel.simulator.world import build_world
from dataflywheel.ticking import InProcessDaemon

# The collector lands within a second, and the service checks for a new deployment five times
# a second: a simulated hour lasts seconds here, not an hour.
LOOP_LIMITS = Limits(segment_seconds=0.5, compaction_interval_s=0.2, deployment_refresh_s=0.2)


@dataclass(frozen=True)
class FlywheelOptions:
    days: int = 7  # of closed loop
    history_days: int = 2  # of the logging policy before it
    events_per_day: int = 40_000
    step_hours: int = 8  # simulated hours between two turns of the platform
    seed: int = 1
    episodes: tuple[str, ...] = ("miscalibrated", "inverted", "embeddings")
    canary_share: float = 0.5  # a short week needs the power; the platform's default is 0.2
    ope_seeds: int = 5

    def simulation(self) -> SimulationConfig:
        total = self.history_days + self.days
        start = datetime.now(timezone.utc).date() - timedelta(days=total)  # the last day ends by today
        return SimulationConfig(
            days=total, events_per_day=self.events_per_day, seed=self.seed, start=start, faults=FaultRates.none()
        )


@dataclass
class FlywheelReport:
    options: FlywheelOptions
    regret: pl.DataFrame = field(default_factory=pl.DataFrame)
    days: list[DayPlay] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    realized: dict[str, tuple[int, float]] = field(default_factory=dict)  # challenger version -> slots, true CTR
    ope: list[dict] = field(default_factory=list)  # per seed and policy: estimates and the deployed rate
    runs: int = 0
    failed_runs: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time by part: users, landing, platform


def run_flywheel(options: FlywheelOptions, show_progress: bool = True) -> FlywheelReport:
    settings.export_environment()
    settings.prepare_home()
    from dataflywheel.definitions import defs  # after the environment: definitions read it at import

    config, instance, home = options.simulation(), dg.DagsterInstance.get(), settings.current()
    world = build_world(config)
    report = FlywheelReport(options)
    with open(home.home / "flywheel.log", "w") as log:
        daemon = InProcessDaemon(defs, instance, log, SENSORS)
        started = time.perf_counter()
        for day in range(options.history_days):
            land_day(config, day, home.landing_url, *deliver_day(world, config, day))
        daemon.until_quiet()
        report.seconds["history"] = time.perf_counter() - started

        clock = SimulatedClock(config.start_dt + timedelta(days=options.history_days))
        keys = ApiKeys(home.api_keys_path)
        tenant_keys = {tenant: keys.create(f"t{tenant}") for tenant in range(world.n_tenants)}
        ledger = RegretLedger(world, Segments().new_item_days)
        week = range(options.history_days, options.history_days + options.days)
        steps = [range(h, min(h + options.step_hours, 24)) for h in range(0, 24, options.step_hours)]
        bar = tqdm(total=len(week) * len(steps), desc="closed loop", unit="step", disable=not show_progress)
        report.episodes = [Episode(name) for name in options.episodes]
        registry = model_registry().get()
        with serving(create_app(home, LOOP_LIMITS, clock=clock)) as url:
            client = ServiceClient(url, tenant_keys)
            loop = ClosedLoop(world, config, client, clock, ledger)
            _wait_deployed(url)
            for day in week:
                land_directory(world, config, day, home.landing_url)  # the product's daily export
                play = DayPlay(day)
                for hours in steps:
                    _timed(report, "users", lambda: loop.play_hours(play, hours))
                    _timed(report, "landing", lambda: _wait_drained(home.collector_log_dir))
                    _timed(report, "platform", daemon.until_quiet)
                    if day > week.start:
                        partition = (config.start + timedelta(days=day)).isoformat()
                        _timed(report, "canary", lambda: _next_episode(report, day, partition, defs, instance, log))

                    _timed(report, "reload", lambda: _wait_deployed(url))
                    bar.update()
                    bar.set_postfix(day=day, ratio=_latest_ratio(ledger), canary=_running(report))
                report.days.append(play)
            client.close()
        bar.close()
        daemon.until_quiet()  # what the service landed as it stopped
        for episode in report.episodes:
            if episode.outcome == "running":
                episodes.follow(episode, instance, registry)
    report.regret = ledger.table()
    report.realized = {e.version: ledger.served_by(e.version) for e in report.episodes if e.version}
    report.ope = _ope_check(world, config, options)
    report.runs = len(daemon.runs)
    report.failed_runs = [f"{r.name}[{r.partition}]" for r in daemon.runs if not r.success]
    return report


def _next_episode(report: FlywheelReport, day: int, partition: str, defs, instance, log) -> None:
    """Follow the running episode; when none runs, start the next (one canary at a time)."""
    registry = model_registry().get()
    for episode in report.episodes:
        if episode.outcome == "running":
            episodes.follow(episode, instance, registry)
            if episode.outcome == "running":
                return
    waiting = next((e for e in report.episodes if e.outcome == "not started"), None)
    if waiting is not None:
        episodes.start(waiting, day, partition, report.options.canary_share, defs, instance, registry, log)


def _running(report: FlywheelReport) -> str:
    return next((e.name for e in report.episodes if e.outcome == "running"), "-")


def _ope_check(world, config: SimulationConfig, options: FlywheelOptions) -> list[dict]:
    """The estimators against deployed policies, on the first closed-loop day of the same world."""
    rows = []
    for seed in range(1, options.ope_seeds + 1):
        for check in ope_check.check(world, config, options.history_days, 4_000, seed):
            estimates = {
                f"{name}/{part}": getattr(estimate, part)
                for name, estimate in check.estimates.items()
                for part in ("estimate", "ci_low", "ci_high")
            }
            covered = {f"{name}/covered": check.covered(name) for name in check.estimates}
            deployed = {"seed": seed, "policy": check.policy, "deployed": check.deployed.estimate}
            rows.append(deployed | estimates | covered)
    return rows


def _timed(report: FlywheelReport, part: str, work):
    started = time.perf_counter()
    try:
        return work()
    finally:
        report.seconds[part] = report.seconds.get(part, 0.0) + time.perf_counter() - started


def _latest_ratio(ledger: RegretLedger) -> str:
    recent = ledger.rows[-200:]
    served = sum(r["clicks/served"] for r in recent)
    oracle = sum(r["clicks/oracle"] for r in recent)
    return f"{served / oracle:.2f}" if oracle else "-"


def _wait_drained(log_dir, timeout_s: float = 60.0) -> None:
    """Until the collector has landed everything it acknowledged."""
    deadline = time.monotonic() + timeout_s
    while not drained(log_dir):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the collector's log under {log_dir} was not landed within {timeout_s} s")
        time.sleep(0.1)


def _wait_deployed(url: str, timeout_s: float = 120.0) -> None:
    """Until the service serves the registry's champion."""
    champion = model_registry().get().alias(CHAMPION)
    deadline = time.monotonic() + timeout_s
    while champion is None or deployed_version(url) != str(champion.version):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the service did not deploy champion {champion and champion.version}")
        time.sleep(0.1)
        champion = champion or model_registry().get().alias(CHAMPION)
