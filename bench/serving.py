"""`make bench-serving`: recommendations and events through the HTTP service on this home.

Needs a home with a champion and an online snapshot (`make demo`). Starts `dataflywheel serve`
on loopback, then, from an asyncio load generator (aiohttp) in this process: recommendations
at a fixed offered rate (open loop: latency from when each request was due), then from
closed-loop clients (the most the service answers); events in batches of 500 with durability
on. In the same run, in-process: a naive baseline (the same candidates scored one at a time),
what dynamic batching saves per request, and the exposure floors' effect and click cost.
Results: bench/serving.json and bench/SERVING.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import orjson
import polars as pl

from bench.run import machine
from dataflywheel import settings
from dataflywheel.contracts.schema import wire_timestamp
from dataflywheel.features.online import USER_DIRECTORY
from dataflywheel.lifecycle.registry import Registry
from dataflywheel.serving.deployed import Deployed, Deployment
from dataflywheel.serving.keys import ApiKeys
from dataflywheel.serving.local import free_port
from dataflywheel.serving.recommend import Ask, Policy

BENCH_DIR = Path(__file__).resolve().parent


async def _post(http: aiohttp.ClientSession, path: str, body: dict) -> bool:
    try:
        async with http.post(path, data=orjson.dumps(body)) as reply:
            await reply.read()
            return reply.status == 200
    except aiohttp.ClientError:
        return False


def _session(url: str, key: str) -> aiohttp.ClientSession:
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    return aiohttp.ClientSession(base_url=url, headers=headers, connector=aiohttp.TCPConnector(limit=512))


def _open_loop(url: str, key: str, bodies, rate: float, seconds: float) -> tuple[list[float], int]:
    """Latencies (s) and failures at a fixed offered rate: request i is due at ``i / rate`` and
    is sent then whether or not earlier ones were answered; its latency counts from when it
    was due, so a client or server that falls behind is charged for it (no coordinated omission)."""

    async def run() -> tuple[list[float], int]:
        latencies, failures = [], 0
        async with _session(url, key) as http:

            async def one(i: int, due: float) -> None:
                nonlocal failures
                path, body = bodies(i)
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                if await _post(http, path, body):
                    latencies.append(time.perf_counter() - due)
                else:
                    failures += 1

            start = time.perf_counter() + 0.5
            await asyncio.gather(*(one(i, start + i / rate) for i in range(int(rate * seconds))))
        return latencies, failures

    return asyncio.run(run())


def _closed_loop(url: str, key: str, bodies, clients: int, seconds: float) -> tuple[list[float], int]:
    """Latencies (s) and failures of ``clients`` that each send their next request when the
    last is answered: the most the service answers, at whatever latency that takes."""

    async def run() -> tuple[list[float], int]:
        latencies, failures = [], 0
        deadline = time.perf_counter() + seconds
        async with _session(url, key) as http:

            async def client(n: int) -> None:
                nonlocal failures
                for i in itertools.count(n, clients):
                    if time.perf_counter() >= deadline:
                        return
                    started = time.perf_counter()
                    if await _post(http, *bodies(i)):
                        latencies.append(time.perf_counter() - started)
                    else:
                        failures += 1

            await asyncio.gather(*(client(n) for n in range(clients)))
        return latencies, failures

    return asyncio.run(run())


def _summary(latencies: list[float], failures: int, seconds: float, per_request: int = 1) -> dict:
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "failed": failures,
        "per_second": round(len(latencies) / seconds, 1),
        "items_per_second": round(len(latencies) * per_request / seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


def in_process_deployment() -> Deployment:
    """What the service deploys from this home (snapshot indexed, champion loaded), built the same way."""
    config = settings.current()
    deployed = Deployed(config.online_features_dir, Registry(config.mlflow_uri, config.mlflow_artifact_root), Policy())
    deployed.refresh()
    return deployed.current


def naive_baseline(deployment: Deployment, users: list[str], tenant: str, requests: int) -> dict:
    """Per request: the same candidates, each scored alone (a row at a time), against the vectorized path."""
    snapshot, ranker, as_of = deployment.snapshot, deployment.ranker, deployment.snapshot_as_of
    timings = {"vectorized": [], "one_by_one": []}
    for user in users[:requests]:
        candidates = deployment.index.candidates(tenant, user)
        frame = pl.DataFrame({"tenant_id": tenant, "user_id": user, "item_id": candidates, "request_ts": as_of})
        started = time.perf_counter()
        rows = snapshot.request_rows(frame, "request_ts")
        ranker.predict(rows, position=0)
        timings["vectorized"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(frame.height):
            ranker.predict(snapshot.request_rows(frame[i : i + 1], "request_ts"), position=0)
        timings["one_by_one"].append(time.perf_counter() - started)
    mean = {name: float(np.mean(values)) * 1000 for name, values in timings.items()}
    return {
        "candidates_per_request": len(candidates),
        **{f"{k}_ms": round(v, 1) for k, v in mean.items()},
        "ratio": round(mean["one_by_one"] / mean["vectorized"], 1),
    }


def batching_gain(deployment: Deployment, users: list[str], tenant: str, sizes=(1, 8, 32)) -> dict:
    """In-process milliseconds per request of the whole recommendation (candidates, features,
    scores, floors, exploration) when the service takes requests one per call or in batches."""
    rng, policy, per_request = np.random.default_rng(0), Policy(), {}
    for size in sizes:
        asks = [Ask(tenant, user, "home_feed", 10, deployment.snapshot_as_of) for user in users[: 8 * max(sizes)]]
        batches = [asks[i : i + size] for i in range(0, len(asks), size)]
        started = time.perf_counter()
        for batch in batches:
            deployment.recommend(batch, rng, policy)
        per_request[size] = round((time.perf_counter() - started) / len(asks) * 1000, 2)
    return per_request


def exposure_report(deployment: Deployment, users: list[str], tenant: str, requests: int) -> dict:
    """What the exposure floors buy and cost, in-process on the same requests without exploration:
    the share of shown slots given to new items and to small containers, and the expected clicks
    (the sum of the model's P(click) over the shown items) with and without the floors."""
    policies = {
        "floors": replace(Policy(), epsilon=0.0),
        "no floors": replace(Policy(), epsilon=0.0, new_item_floor=0.0, small_container_floor=0.0),
    }
    report = {}
    for name, policy in policies.items():  # the floors change the ranking, not the candidates
        shown, clicks = [], 0.0
        for user in users[:requests]:
            ask = Ask(tenant, user, "home_feed", 10, deployment.snapshot_as_of)
            served = deployment.recommend([ask], np.random.default_rng(0), policy)[0]
            rows = served.rows
            shown.append(
                rows.select(
                    new=pl.col("item_segment") == "new",
                    small=pl.col("container_items").fill_null(0) < policy.small_container_items,
                )
            )
            clicks += sum(s.p_click for s in served.items)
        slots = pl.concat(shown)
        report[name] = {
            "new_item_share": round(float(slots["new"].mean()), 3),
            "small_container_share": round(float(slots["small"].mean()), 3),
            "expected_clicks": round(clicks, 2),
        }
    report["click_cost"] = round(1 - report["floors"]["expected_clicks"] / report["no floors"]["expected_clicks"], 4)
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="service processes: one per core")
    parser.add_argument("--rate", type=float, default=500, help="offered recommendation requests per second")
    parser.add_argument("--repeats", type=int, default=3, help="open-loop runs at that rate (p99 varies run to run)")
    args = parser.parse_args()
    config = settings.current()
    users_table = pl.read_parquet(
        config.online_features_dir / f"{USER_DIRECTORY}.parquet", columns=["user_id", "tenant_id"]
    )
    tenant = users_table.group_by("tenant_id").len().sort("len", descending=True).item(0, "tenant_id")
    users = users_table.filter(pl.col("tenant_id") == tenant).get_column("user_id").to_list()
    key = ApiKeys(config.api_keys_path).create(tenant)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(settings.PROJECT_ROOT / ".venv" / "bin" / "dataflywheel"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).json().get("model_version"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)

        def asks(i: int):
            return "/v1/recommendations", {"user_id": users[i % len(users)], "k": 10}

        at_rate = [_open_loop(url, key, asks, args.rate, args.seconds) for _ in range(args.repeats)]
        recommendations = _closed_loop(url, key, asks, args.clients, args.seconds)

        def events(i: int):
            now = datetime.now(timezone.utc)
            ts = wire_timestamp(now)
            batch = [
                {
                    "event_id": f"{int(now.timestamp() * 1000):012x}{i:010x}{j:010x}",
                    "event_type": "search_performed",
                    "event_ts": ts,
                    "tenant_id": tenant,
                    "user_id": users[j % len(users)],
                    "surface": "search",
                    "schema_version": 1,
                }
                for j in range(500)
            ]
            return "/v1/events", {"events": batch}

        collected = _closed_loop(url, key, events, args.clients, args.seconds)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    deployment = in_process_deployment()  # after the service stopped: the in-process timings run alone
    results = {
        "machine": machine(),
        "clients": args.clients,
        "workers": args.workers,
        "seconds": args.seconds,
        "rate": args.rate,
        "recommendations_at_rate": [_summary(*run, args.seconds) for run in at_rate],
        "recommendations": _summary(*recommendations, args.seconds),
        "events": _summary(*collected, args.seconds, per_request=500),
        "naive_baseline": naive_baseline(deployment, users, tenant, 30),
        "batching_ms_per_request": batching_gain(deployment, users, tenant),
        "exposure": exposure_report(deployment, users, tenant, 200),
    }
    (BENCH_DIR / "serving.json").write_text(json.dumps(results, indent=1))
    (BENCH_DIR / "SERVING.md").write_text(to_markdown(results))
    print(to_markdown(results))


def _row(name: str, r: dict, answered: str) -> str:
    return f"| {name} | {answered} | {r['p50_ms']} | {r['p99_ms']} | {r['failed']} |"


def to_markdown(r: dict) -> str:
    m, rec, ev, naive = r["machine"], r["recommendations"], r["events"], r["naive_baseline"]
    rows = [
        *(
            _row(f"POST /v1/recommendations at {r['rate']:g}/s offered (open loop, run {n})", run, run["per_second"])
            for n, run in enumerate(r["recommendations_at_rate"], 1)
        ),
        _row(
            f"POST /v1/recommendations (k=10, {naive['candidates_per_request']} candidates)",
            rec,
            f"{rec['per_second']}",
        ),
        _row(
            "POST /v1/events (500 per batch, fsync before the reply)",
            ev,
            f"{ev['per_second']} batches = {ev['items_per_second']:,.0f} events/s",
        ),
    ]
    return "\n".join(
        [
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']} ({m['date']}).",
            f"On loopback, {r['seconds']:g} s each, {r['workers']} service processes, the load generator on the same "
            f"two cores: recommendations at a fixed offered rate, {len(r['recommendations_at_rate'])} runs (latency "
            f"from when each request was due), then from {r['clients']} closed-loop clients (each sends its next "
            "request when the last is answered: the most the service answers).",
            "",
            "| endpoint | answered/s | p50 ms | p99 ms | failed |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            f"Naive baseline, same run, in-process: scoring a request's candidates one at a time takes "
            f"{naive['one_by_one_ms']} ms against {naive['vectorized_ms']} ms for the whole batch ({naive['ratio']}x).",
            "",
            "Dynamic batching, same run, in-process: a whole recommendation costs "
            + ", ".join(
                f"{ms} ms per request in batches of {size}" for size, ms in r["batching_ms_per_request"].items()
            )
            + " (featurizing and scoring cost mostly a fixed amount per call; the service batches the requests "
            "that wait while a batch is scored).",
            "",
            "Exposure floors (200 requests, k=10, no exploration, same model):",
            "",
            "| policy | slots to new items | slots to small containers | expected clicks |",
            "|---|---:|---:|---:|",
            *[
                f"| {name} | {e['new_item_share']:.1%} | {e['small_container_share']:.1%} | {e['expected_clicks']} |"
                for name, e in ((n, r["exposure"][n]) for n in ("floors", "no floors"))
            ],
            "",
            f"Click cost of the floors: {r['exposure']['click_cost']:.2%} of expected clicks.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
