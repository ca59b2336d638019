"""The HTTP service: the event collector and the ranking service, one FastAPI app.

``POST /v1/events`` acknowledges a batch only once it is in the durable log (``durable_log``:
written and fsync'd, group commit across concurrent requests); a compaction process lands
closed log segments in the landing zone, where ``raw_events`` picks them up like any file.
``POST /v1/recommendations`` ranks the tenant's candidates with the deployed champion
(``deployed``, ``recommend``) and logs the served list, as ``rec_impression`` events with
their propensities, scores and features, through the same durable log: what was shown becomes
the next hour's training data. Every endpoint but health needs a tenant's API key (``keys``).
Overload answers 503 with ``Retry-After`` instead of accepting what the log cannot keep up with.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import orjson
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import ORJSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from pydantic import BaseModel, Field

from dataflywheel import settings
from dataflywheel.lifecycle.registry import Registry
from dataflywheel.serving.batching import Batcher
from dataflywheel.serving.compaction import batch_record, compact
from dataflywheel.serving.deployed import Deployed, recommend_admitted
from dataflywheel.serving.durable_log import DurableLog
from dataflywheel.serving.impressions import impression_events
from dataflywheel.serving.intake import TENANT_MISMATCH, reasons, wire_rows
from dataflywheel.serving.keys import ApiKeys
from dataflywheel.serving.recommend import Ask, Policy, WrongTenant, check_tenant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 4 << 20  # 4 MiB: 500 events of a few hundred bytes, with room
    max_events: int = 1_000
    max_pending_bytes: int = 64 << 20  # waiting for the log writer; beyond it, 503 + Retry-After
    compaction_interval_s: float = 2.0
    segment_seconds: float = 30.0  # how long a log segment stays open: events land this much later at most
    deployment_refresh_s: float = 10.0  # how often the champion alias and the snapshot's files are checked
    max_batch: int = 32  # recommendation requests featurized and scored together, at most
    max_waiting_requests: int = 256  # recommendation requests waiting to be scored; beyond, 503 + Retry-After


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("requests", "HTTP requests", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram(
            "request_seconds",
            "Request latency",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.events = Counter("events", "Events received", ["outcome"], registry=self.registry)
        self.queue_bytes = Gauge(
            "durable_log_pending_bytes", "Bytes waiting for the log writer", registry=self.registry
        )
        self.waiting = Gauge(
            "recommendations_waiting", "Recommendation requests waiting to be scored", registry=self.registry
        )
        self.model = Info("model", "The deployed ranker", registry=self.registry)


class Measured:
    """Counts and times every request by endpoint (a plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` costs a task and a stream per request). Paths that are no endpoint
    count as ``other``, so a scanner cannot grow the metrics without bound."""

    def __init__(self, app, metrics: Metrics, endpoints: set[str]):
        self.app, self.metrics, self.endpoints = app, metrics, endpoints

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            endpoint = scope["path"] if scope["path"] in self.endpoints else "other"
            self.metrics.requests.labels(endpoint, str(status[0])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)


class RecommendationRequest(BaseModel):
    user_id: str = Field(max_length=128)
    surface: str = Field("home_feed", max_length=64)
    k: int = Field(10, ge=1, le=50)


def _tenant(request: Request, keys: ApiKeys) -> str:
    header = request.headers.get("authorization", "")
    key = (
        header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else request.headers.get("x-api-key", "")
    )
    tenant = keys.tenant_of(key) if key else None
    if tenant is None:
        raise HTTPException(401, "a valid API key is required (Authorization: Bearer <key>)")
    return tenant


async def _events_of(request: Request, limits: Limits) -> list[dict]:
    declared = request.headers.get("content-length")
    if declared is not None and int(declared) > limits.max_body_bytes:
        raise HTTPException(413, f"body over {limits.max_body_bytes} bytes: send smaller batches")
    body = await request.body()
    if len(body) > limits.max_body_bytes:
        raise HTTPException(413, f"body over {limits.max_body_bytes} bytes: send smaller batches")
    try:
        events = orjson.loads(body).get("events")
    except (orjson.JSONDecodeError, AttributeError):
        raise HTTPException(422, 'the body must be a JSON object {"events": [...]}') from None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise HTTPException(422, '"events" must be a list of event objects')
    if len(events) > limits.max_events:
        raise HTTPException(413, f"{len(events)} events: at most {limits.max_events} per batch")
    return events


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def create_app(
    config: settings.Settings | None = None,
    limits: Limits = Limits(),
    policy: Policy = Policy(),
    clock: Callable[[], datetime] = _utc_now,
) -> FastAPI:
    """The service on ``config``'s home. ``clock`` (UTC) stamps what arrives and what is served:
    the wall clock, or a simulation's clock when simulated time runs ahead of it."""
    config = config or settings.current()
    keys = ApiKeys(config.api_keys_path)
    metrics = Metrics()
    state: dict = {}
    registry = Registry(config.mlflow_uri, config.mlflow_artifact_root)
    deployed = Deployed(config.online_features_dir, registry, policy, limits.deployment_refresh_s)

    def compact_forever(stop: threading.Event) -> None:
        # In a process of its own, at a lower priority: parsing a segment and writing Parquet
        # would otherwise hold this process's interpreter lock for a second at a time, and
        # every request would wait; landing can wait for the requests instead. A failure (a
        # full disk, the process killed) is logged and retried with a new process: segments
        # stay in the log until they are landed.
        background = dict(mp_context=multiprocessing.get_context("spawn"), initializer=os.nice, initargs=(10,))
        while not stop.is_set():
            try:
                with ProcessPoolExecutor(1, **background) as landing:
                    landing.submit(os.getpid).result()  # the process starts (imports) now, not amid traffic
                    while not stop.wait(limits.compaction_interval_s):
                        for segment in state["log"].closed_segments():
                            landed = landing.submit(
                                compact, segment, config.landing_url, config.collector_quarantine_dir
                            )
                            landed.result()
            except Exception:
                logger.exception("landing collector log segments failed; retrying")
                stop.wait(limits.compaction_interval_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state["log"] = DurableLog(config.collector_log_dir, max_segment_seconds=limits.segment_seconds)
        stop = threading.Event()
        compactor = threading.Thread(target=compact_forever, args=(stop,), name="compaction", daemon=True)
        compactor.start()
        deployed.start()
        rng = np.random.default_rng()  # used by the batcher's thread alone
        state["batcher"] = Batcher(lambda admitted: recommend_admitted(admitted, rng, policy), limits.max_batch)
        yield
        state["batcher"].close()
        deployed.stop()
        stop.set()
        compactor.join()
        state["log"].close()  # the open segment closes; the next start compacts it
        for segment in state["log"].closed_segments():
            compact(segment, config.landing_url, config.collector_quarantine_dir)

    app = FastAPI(title="dataflywheel", default_response_class=ORJSONResponse, lifespan=lifespan)

    @app.get("/healthz", tags=["health"])
    def liveness() -> dict:
        return {"status": "alive"}

    @app.get("/readyz", tags=["health"])
    def readiness(response: Response) -> dict:
        log, batcher = state.get("log"), state.get("batcher")
        ready = log is not None and log.writing and batcher is not None and batcher.alive
        response.status_code = 200 if ready else 503
        model = deployed.current.model_version if deployed.current else None
        return {"status": "ready" if ready else "starting", "model_version": model}

    @app.get("/metrics", tags=["health"])
    def prometheus() -> Response:
        metrics.queue_bytes.set(state["log"].pending_bytes if "log" in state else 0)
        metrics.waiting.set(state["batcher"].waiting if "batcher" in state else 0)
        if deployed.current is not None:
            metrics.model.info({"version": deployed.current.model_version})
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/events",
        tags=["events"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"events": {"type": "array", "items": {"type": "object"}}},
                        }
                    }
                },
            }
        },
    )
    async def collect(request: Request):
        """Accept a batch of events: durable on disk before the reply; bad events listed with their reason."""
        tenant = _tenant(request, keys)
        events = await _events_of(request, limits)
        log: DurableLog = state["log"]
        if log.pending_bytes > limits.max_pending_bytes:
            raise HTTPException(503, "the collector is behind: retry shortly", headers={"Retry-After": "1"})
        received = clock()
        rows = wire_rows(events)
        verdicts = reasons(rows, received, tenant)
        landed = [row for row, why in zip(rows, verdicts) if why != TENANT_MISMATCH]
        refused = [[*row, why] for row, why in zip(rows, verdicts) if why == TENANT_MISMATCH]
        await asyncio.wrap_future(log.append(batch_record(received, tenant, landed, refused)))
        errors = [
            {"index": i, "event_id": event.get("event_id"), "reason": why}
            for i, (event, why) in enumerate(zip(events, verdicts))
            if why is not None
        ]
        metrics.events.labels("accepted").inc(len(events) - len(errors))
        metrics.events.labels("quarantined").inc(len(errors))
        return {"accepted": len(events) - len(errors), "quarantined": len(errors), "errors": errors}

    @app.post("/v1/recommendations", tags=["recommendations"])
    async def recommendations(body: RecommendationRequest, request: Request):
        """k ranked items for a user of the key's tenant; the served list is logged before the reply."""
        tenant = _tenant(request, keys)
        deployment = deployed.for_user(body.user_id, body.surface)
        if deployment is None:
            raise HTTPException(
                503, "no model deployed yet (no champion or no online snapshot)", headers={"Retry-After": "10"}
            )
        log: DurableLog = state["log"]
        if log.pending_bytes > limits.max_pending_bytes or state["batcher"].waiting > limits.max_waiting_requests:
            raise HTTPException(503, "the service is behind: retry shortly", headers={"Retry-After": "1"})
        now = clock()
        ask = Ask(tenant, body.user_id, body.surface, body.k, now.replace(tzinfo=None))
        try:
            check_tenant(deployment.index, ask)
        except WrongTenant:
            raise HTTPException(403, "this user belongs to another tenant") from None
        served = await asyncio.wrap_future(state["batcher"].submit((deployment, ask)))
        events = impression_events(served, tenant, body.user_id, body.surface, now)
        await asyncio.wrap_future(log.append(batch_record(now, tenant, wire_rows(events), [])))
        items = [
            {"item_id": s.item_id, "position": s.position, "propensity": s.propensity, "score": s.score}
            for s in served.items
        ]
        # A response object, not a dict: FastAPI would walk a dict through its generic encoder first.
        return ORJSONResponse({"request_id": served.request_id, "model_version": served.model_version, "items": items})

    app.add_middleware(Measured, metrics=metrics, endpoints={route.path for route in app.routes})
    return app
