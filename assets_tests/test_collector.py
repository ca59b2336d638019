"""The event collector: durable log with group commit, compaction into the landing zone, the HTTP
endpoint with per-tenant keys, and what it acknowledges flowing through raw_events exactly once."""

import os
import threading
import time
from datetime import datetime, timezone

import polars as pl
import pytest
from fastapi.testclient import TestClient

from dataflywheel import settings
from dataflywheel.contracts.schema import wire_timestamp
from dataflywheel.ingest.landing import list_event_files, parse_hour_key
from dataflywheel.ingest.raw_events import ingest_hour
from dataflywheel.serving import durable_log
from dataflywheel.serving.app import Limits, create_app
from dataflywheel.serving.compaction import compact
from dataflywheel.serving.durable_log import DurableLog, read_records
from dataflywheel.serving.keys import ApiKeys
from dataflywheel.warehouse.duckdb import DuckDBEngine, connect


def test_concurrent_appends_share_fsyncs_and_all_are_read_back(tmp_path, monkeypatch):
    calls = []
    real_fsync = os.fsync

    def slow_fsync(fd):  # a disk that takes 5 ms per flush: requests pile up behind it
        calls.append(fd)
        time.sleep(0.005)
        real_fsync(fd)

    monkeypatch.setattr(durable_log.os, "fsync", slow_fsync)
    log = DurableLog(tmp_path / "log")
    futures, lock = [], threading.Lock()

    def client(n):
        for i in range(50):
            future = log.append(f"client{n}-{i}".encode())
            with lock:
                futures.append(future)
            future.result(timeout=10)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    records = [r for segment in log.closed_segments() for r in read_records(segment)]
    assert sorted(records) == sorted(f"client{n}-{i}".encode() for n in range(8) for i in range(50))
    assert len(calls) < 400 / 2  # group commit: 400 acknowledged appends, far fewer flushes


def test_a_record_cut_by_a_crash_is_skipped_and_the_log_reopens(tmp_path):
    log = DurableLog(tmp_path / "log")
    log.append(b"one").result()
    log.append(b"two").result()
    segment = next(log.folder.glob("*.log"))
    with open(segment, "ab") as f:
        f.write(b'{"half a rec')  # the crash: written, never acknowledged
    log._lock.close()  # the process is gone: its lock with it
    reopened = DurableLog(tmp_path / "log")  # closes what the crash left open
    assert [read_records(s) for s in reopened.closed_segments()] == [[b"one", b"two"]]
    reopened.close()


def test_processes_side_by_side_get_a_slot_each_and_a_dead_ones_slot_is_taken_over(tmp_path):
    first, second = DurableLog(tmp_path / "log"), DurableLog(tmp_path / "log")
    assert first.folder != second.folder  # never two writers on one segment
    first.append(b"left behind").result()
    first._lock.close()  # the first process dies: its lock goes with it, its segment stays open
    third = DurableLog(tmp_path / "log")
    assert third.folder == first.folder
    assert [read_records(s) for s in third.closed_segments()] == [[b"left behind"]]  # ready for compaction
    second.close()
    third.close()


@pytest.fixture(params=["folder", "s3"])
def service(tmp_path, monkeypatch, request):
    """A home whose collector lands in a folder, or on a real S3 API (moto's server)."""
    monkeypatch.setenv("DATAFLYWHEEL_HOME", str(tmp_path / "home"))
    if request.param == "s3":
        monkeypatch.setenv("DATAFLYWHEEL_LANDING_URL", request.getfixturevalue("s3_landing"))
    else:
        monkeypatch.delenv("DATAFLYWHEEL_LANDING_URL", raising=False)
    config = settings.current()
    keys = ApiKeys(config.api_keys_path)
    return config, keys.create("t1"), keys.create("t2"), keys


def _event(i: int, tenant: str = "t1", **fields) -> dict:
    now = datetime.now(timezone.utc)
    ts = wire_timestamp(now)
    return {
        "event_id": f"018f-{tenant}-{i:06d}",
        "event_type": "search_performed",
        "event_ts": ts,
        "tenant_id": tenant,
        "user_id": "u1",
        "surface": "search",
        "schema_version": 1,
        **fields,
    }


def _load_everything(config) -> pl.DataFrame:
    con = connect(config.warehouse_path)
    for hour in list_event_files(config.landing_url):
        assert ingest_hour(DuckDBEngine(con), config.landing_url, parse_hour_key(hour).replace(tzinfo=None)).conserved
    return DuckDBEngine(con).frame("SELECT event_id, tenant_id FROM raw.raw_events")


def test_events_are_acknowledged_landed_and_loaded_once_even_when_replayed(service):
    config, key, _, _ = service
    batch = {"events": [_event(i) for i in range(300)]}
    with TestClient(create_app(config)) as client:
        for _ in range(2):  # a client retry of the same batch
            reply = client.post("/v1/events", json=batch, headers={"Authorization": f"Bearer {key}"})
            assert reply.status_code == 200 and reply.json() == {"accepted": 300, "quarantined": 0, "errors": []}
    loaded = _load_everything(config)  # the shutdown compacted the open segment
    assert loaded.height == 300 and loaded.get_column("event_id").n_unique() == 300


def test_bad_events_get_their_reason_and_still_reach_quarantine(service):
    config, key, _, _ = service
    events = [
        _event(0),
        _event(1, event_type="issue_vieweed"),
        _event(2, user_id="u\u202e1"),
        _event(3, event_ts="noon"),
    ]
    with TestClient(create_app(config)) as client:
        reply = client.post("/v1/events", json={"events": events}, headers={"X-API-Key": key}).json()
    assert reply["accepted"] == 1
    assert [(e["index"], e["reason"]) for e in reply["errors"]] == [
        (1, "unknown_event_type"),
        (2, "control_characters"),
        (3, "invalid_timestamp"),
    ]
    _load_everything(config)
    con = connect(config.warehouse_path)
    assert sorted(con.execute("SELECT reason FROM raw.quarantined_events").fetchall()) == [
        ("control_characters",),
        ("invalid_timestamp",),
        ("unknown_event_type",),
    ]


def test_a_key_never_reaches_another_tenant(service):
    config, key1, key2, keys = service
    with TestClient(create_app(config)) as client:
        mixed = [_event(0, "t1"), _event(1, "t2")]
        reply = client.post("/v1/events", json={"events": mixed}, headers={"X-API-Key": key1}).json()
        assert [(e["index"], e["reason"]) for e in reply["errors"]] == [(1, "tenant_mismatch")]
        assert client.post("/v1/events", json={"events": []}, headers={"X-API-Key": "dfw_nope_x"}).status_code == 401
        assert client.post("/v1/events", json={"events": []}).status_code == 401
        keys.revoke(key2.split("_")[1])
        assert client.post("/v1/events", json={"events": []}, headers={"X-API-Key": key2}).status_code == 401
    loaded = _load_everything(config)
    assert loaded.get_column("tenant_id").to_list() == ["t1"]  # the other tenant's event never landed ...
    refused = pl.read_parquet(config.collector_quarantine_dir / "**" / "*.parquet")
    assert refused.select("event_id", "reason").rows() == [("018f-t2-000001", "tenant_mismatch")]  # ... but is kept


def test_oversized_and_malformed_bodies_get_clear_errors(service):
    config, key, _, _ = service
    headers = {"X-API-Key": key}
    with TestClient(create_app(config, Limits(max_events=10, max_body_bytes=20_000))) as client:
        too_many = client.post("/v1/events", json={"events": [_event(i) for i in range(11)]}, headers=headers)
        assert too_many.status_code == 413 and "at most 10" in too_many.json()["detail"]
        too_big = client.post("/v1/events", content=b'{"events": [' + b" " * 30_000 + b"]}", headers=headers)
        assert too_big.status_code == 413
        assert client.post("/v1/events", content=b"not json", headers=headers).status_code == 422
        assert client.post("/v1/events", json={"events": [1, 2]}, headers=headers).status_code == 422
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
        metrics = client.get("/metrics").text
        assert 'requests_total{endpoint="/v1/events",status="413"} 2.0' in metrics


def test_compaction_after_a_crash_lands_a_segment_once(tmp_path):
    from dataflywheel.serving.compaction import batch_record
    from dataflywheel.serving.intake import wire_rows

    log = DurableLog(tmp_path / "log")
    received = datetime(2026, 11, 16, 10, 30, tzinfo=timezone.utc)
    log.append(batch_record(received, "t1", wire_rows([_event(i) for i in range(5)]), [])).result()
    log.close()
    [segment] = log.closed_segments()
    saved = segment.read_bytes()
    landing = str(tmp_path / "landing")
    compact(segment, landing, tmp_path / "quarantine")
    segment.write_bytes(saved)  # crashed after landing, before deleting the segment
    compact(segment, landing, tmp_path / "quarantine")
    assert list_event_files(landing) == {
        "2026-11-16T10": [f"{landing}/events/arrival_hour=2026-11-16T10/collector-{segment.stem}.parquet"]
    }


def test_the_reply_waits_for_the_fsync(service, monkeypatch):
    """Acknowledged means on disk: while the flush is held, the client gets no reply."""
    config, key, _, _ = service
    flushed, release, real_fsync = threading.Event(), threading.Event(), os.fsync

    def held_fsync(fd):
        release.wait(10)
        real_fsync(fd)
        flushed.set()

    monkeypatch.setattr(durable_log.os, "fsync", held_fsync)
    replies = []
    with TestClient(create_app(config)) as client:
        post = threading.Thread(
            target=lambda: replies.append(
                client.post("/v1/events", json={"events": [_event(0)]}, headers={"X-API-Key": key})
            )
        )
        post.start()
        time.sleep(0.5)
        assert not replies and not flushed.is_set()  # written, not yet flushed: no acknowledgement
        release.set()
        post.join(10)
        assert flushed.is_set() and replies[0].status_code == 200


def test_an_overloaded_collector_answers_503_with_retry_after_and_keeps_nothing(service):
    config, key, _, _ = service
    with TestClient(create_app(config, Limits(max_pending_bytes=-1))) as client:  # always behind
        reply = client.post("/v1/events", json={"events": [_event(0)]}, headers={"X-API-Key": key})
        assert reply.status_code == 503 and reply.headers["Retry-After"] == "1"
    assert list_event_files(config.landing_url) == {}  # refused means not kept: the client retries


def test_recommendations_wait_for_a_model_on_a_fresh_home(service):
    config, key, _, _ = service
    with TestClient(create_app(config)) as client:
        reply = client.post("/v1/recommendations", json={"user_id": "u1"}, headers={"X-API-Key": key})
        assert reply.status_code == 503 and "Retry-After" in reply.headers
        assert client.get("/readyz").json() == {"status": "ready", "model_version": None}
