"""kill -9 of the running service, at random moments under load: no acknowledged event is lost and
none is loaded twice, counted through to raw_events."""

import os
import random
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone

import httpx
import pytest

from dataflywheel.contracts.schema import wire_timestamp
from dataflywheel.ingest.landing import list_event_files, parse_hour_key
from dataflywheel.ingest.raw_events import ingest_hour
from dataflywheel.serving.keys import ApiKeys
from dataflywheel.serving.local import free_port
from dataflywheel.warehouse.duckdb import DuckDBEngine, connect
from homes import VENV_BIN, point_at_new_home, wait_for

pytestmark = pytest.mark.slow

KILLS = 4
CLIENTS = 4
BATCH = 200


def start(port: int, log) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(VENV_BIN / "dataflywheel"), "serve", "--port", str(port)],
        env=dict(os.environ),
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for(lambda: _ready(port), 60, "the service to be ready")
    return server


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def batch(client: int, n: int) -> list[dict]:
    now = datetime.now(timezone.utc)
    ts = wire_timestamp(now)
    return [
        {
            "event_id": f"{client:02d}-{n:06d}-{i:03d}",
            "event_type": "search_performed",
            "event_ts": ts,
            "tenant_id": "t1",
            "user_id": f"u{i}",
            "surface": "search",
            "schema_version": 1,
        }
        for i in range(BATCH)
    ]


def test_kill_9_under_load_loses_no_acknowledged_event_and_duplicates_none(tmp_path, monkeypatch):
    config = point_at_new_home(tmp_path / "home", monkeypatch)
    key = ApiKeys(config.api_keys_path).create("t1")
    port = free_port()
    acknowledged, sent, lock, stop = set(), set(), threading.Lock(), threading.Event()

    def client(number: int):
        n = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=5) as http:
            while not stop.is_set():
                events = batch(number, n)
                with lock:
                    sent.update(e["event_id"] for e in events)
                try:
                    reply = http.post("/v1/events", json={"events": events})
                except httpx.HTTPError:  # the service is down: retry the same batch (at-least-once)
                    time.sleep(0.05)
                    continue
                if reply.status_code == 200:
                    with lock:
                        acknowledged.update(e["event_id"] for e in events)
                    n += 1

    server = start(port, tmp_path / "service.log")
    clients = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for c in clients:
        c.start()
    rng = random.Random(7)
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 2.5))
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        server = start(port, tmp_path / "service.log")
    time.sleep(1)
    stop.set()
    for c in clients:
        c.join()
    server.send_signal(signal.SIGTERM)  # a clean stop compacts the open segment too
    server.wait(timeout=60)  # uvicorn re-raises the signal once shut down: the exit code is -15

    con = connect(config.warehouse_path)
    for hour in list_event_files(config.landing_url):
        assert ingest_hour(DuckDBEngine(con), config.landing_url, parse_hour_key(hour).replace(tzinfo=None)).conserved
    loaded = [row[0] for row in con.execute("SELECT event_id FROM raw.raw_events").fetchall()]
    assert len(acknowledged) > 20 * BATCH  # the load was real
    assert acknowledged <= set(loaded)  # nothing acknowledged is lost
    assert len(loaded) == len(set(loaded))  # nothing loaded twice
    assert set(loaded) <= sent  # nothing made up
