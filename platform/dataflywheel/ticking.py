"""The platform's own sensors and automation, ticked in this process, their runs executed in it.

This is what ``dagster-daemon`` does with the same definitions: tick the sensors, evaluate
every asset's automation condition, launch what they request. Here each requested run is
executed in-process, one after another, so a batch of history (the demo's simulated days)
costs what its work costs rather than a process per run. Nothing here decides what to run:
the sensors and the conditions declared in ``defs/`` do, and Dagster groups their requests
into runs (one per partition, one per range for assets with a single-run backfill policy).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import dagster as dg
from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests_with_backfill_policies
from dagster._core.definitions.events import AssetKeyPartitionKey

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class Run:
    name: str  # the job, or the assets of an automation run
    assets: tuple[dg.AssetKey, ...]
    partition: str | None
    success: bool
    seconds: float


@dataclass
class InProcessDaemon:
    """Ticks ``sensors`` and the automation conditions of ``defs`` on ``instance`` until nothing more
    is requested; every run's output goes to ``log``."""

    defs: dg.Definitions
    instance: dg.DagsterInstance
    log: TextIO
    sensors: Sequence[str]
    runs: list[Run] = field(default_factory=list)
    on_run: Callable[[Run], None] | None = None  # progress reporting
    _cursors: dict[str, str | None] = field(default_factory=dict)
    _automation_cursor: object = None

    def until_quiet(self, max_passes: int = 1_000) -> list[Run]:
        """Tick until a whole pass (the automation, then every sensor) requests nothing.

        The automation goes first: its first evaluation only starts its cursor, and sees as updates
        only what happens after it (as when the daemon starts before events land)."""
        for _ in range(max_passes):
            launched = self.tick_automation() + sum(self.tick_sensor(name) for name in self.sensors)
            if not launched:
                return self.runs
        raise RuntimeError(f"Still requesting runs after {max_passes} passes")

    def tick_sensor(self, name: str) -> int:
        """One tick of a sensor and its runs; how many runs it requested."""
        sensor = self.defs.resolve_sensor_def(name)
        context = dg.build_sensor_context(instance=self.instance, definitions=self.defs, cursor=self._cursors.get(name))
        data = sensor.evaluate_tick(context)
        self._cursors[name] = data.cursor
        for event in data.asset_events:
            self.instance.report_runless_asset_event(event)
        for request in data.run_requests:
            job = self.defs.resolve_job_def(request.job_name or sensor.job_name)
            self._execute(job.name, job, request)
        return len(data.run_requests)

    def tick_automation(self) -> int:
        """One evaluation of every automation condition, and the runs Dagster makes of its requests."""
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self._automation_cursor
        )
        self._automation_cursor = result.cursor
        graph = self.defs.resolve_asset_graph()
        requested = [
            AssetKeyPartitionKey(key, partition)
            for key in graph.materializable_asset_keys
            for partition in result.get_requested_partitions(key)
        ]
        requests = build_run_requests_with_backfill_policies(requested, graph, self.instance)
        order = {key: n for n, key in enumerate(graph.toposorted_asset_keys)}
        job = self.defs.resolve_implicit_global_asset_job_def()
        for request in sorted(requests, key=lambda r: (min(order[k] for k in r.asset_selection), _start(r))):
            self._execute(", ".join(sorted(k.to_user_string() for k in request.asset_selection)), job, request)
        return len(requests)

    def _execute(self, name: str, job: dg.JobDefinition, request: dg.RunRequest) -> None:
        started = time.perf_counter()
        result = execute(job, request, self.instance, self.log)
        assets = tuple(request.asset_selection or sorted(job.asset_layer.selected_asset_keys))
        run = Run(name, assets, _start(request) or None, result.success, time.perf_counter() - started)
        self.runs.append(run)
        if self.on_run:
            self.on_run(run)


def execute(
    job: dg.JobDefinition, request: dg.RunRequest, instance: dg.DagsterInstance, log: TextIO
) -> dg.ExecuteInProcessResult:
    """One requested run, in this process, on ``instance``; its console output goes to ``log``."""
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        return job.execute_in_process(
            instance=instance,
            partition_key=request.partition_key,
            asset_selection=request.asset_selection,
            tags=request.tags,
            run_config={**(request.run_config or {}), **QUIET},
            raise_on_error=False,
        )


def _start(request: dg.RunRequest) -> str:
    """The request's partition, or the first of its range ("" if unpartitioned)."""
    if request.partition_key:
        return request.partition_key
    return request.partition_key_range.start if request.partition_key_range else ""
