"""Sensors evaluated against a real Dagster instance and real landing files."""

import json
import os
from datetime import datetime, timezone

import dagster as dg
import pytest

from dataflywheel.defs.ingestion.sensors import landing_sensor
from dataflywheel.ingest.landing import event_files_by_hour, fingerprint
from dataflywheel.ingest.late import stale_days
from helpers import land_rows


def land(root: str, hour: str, name: str) -> None:
    land_rows(root, datetime.strptime(hour, "%Y-%m-%dT%H"), name, [{}])


@pytest.fixture
def root(tmp_path, monkeypatch) -> str:
    """A landing zone of the test's own, the one the sensor lists."""
    landing = str(tmp_path / "landing")
    monkeypatch.setenv("DATAFLYWHEEL_LANDING_URL", landing)
    return landing


def tick(instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return landing_sensor(context)


def test_landing_sensor_requests_new_hours_then_only_late_files(root):
    land(root, "2026-11-16T09", "a")
    land(root, "2026-11-16T10", "a")
    with dg.instance_for_test() as instance:
        first = tick(instance)
        assert sorted(r.partition_key for r in first.run_requests) == ["2026-11-16-09:00", "2026-11-16-10:00"]
        assert sorted(e.partition for e in first.asset_events) == ["2026-11-16-09:00", "2026-11-16-10:00"]

        assert tick(instance, first.cursor).run_requests == []  # nothing new

        land(root, "2026-11-16T09", "late")  # a late file for an hour already loaded
        land(root, "2026-11-16T11", "a")
        third = tick(instance, first.cursor)
        assert sorted(r.partition_key for r in third.run_requests) == ["2026-11-16-09:00", "2026-11-16-11:00"]
        assert json.loads(third.cursor)["2026-11-16T09"] == fingerprint(event_files_by_hour(root)["2026-11-16T09"])
        # New files make a new run key, so Dagster does not drop the late request as a repeat.
        assert next(r.run_key for r in third.run_requests if r.partition_key.endswith("09:00")) != next(
            r.run_key for r in first.run_requests if r.partition_key.endswith("09:00")
        )


def test_a_fresh_cursor_skips_hours_already_loaded(root):
    land(root, "2026-11-16T09", "a")
    land(root, "2026-11-16T10", "a")
    land(root, "2026-11-16T10", "b")
    with dg.instance_for_test() as instance:
        files = event_files_by_hour(root)
        loaded = {  # what a backfill read: 10:00 before its second file landed
            "2026-11-16-09:00": fingerprint(files["2026-11-16T09"]),
            "2026-11-16-10:00": fingerprint({f: s for f, s in files["2026-11-16T10"].items() if "/a." in f}),
        }
        for key, print_ in loaded.items():
            instance.report_runless_asset_event(
                dg.AssetMaterialization("raw_events", partition=key, metadata={"files_fingerprint": print_})
            )
        # 09:00 is up to date; 10:00 has gained a file since it was loaded.
        assert [r.partition_key for r in tick(instance).run_requests] == ["2026-11-16-10:00"]


def test_landing_sensor_notices_a_file_removed_or_replaced(root, tmp_path):
    """An operator setting a bad file aside, or replacing it, must get the hour re-loaded by itself."""
    land(root, "2026-11-16T09", "a")
    land(root, "2026-11-16T09", "bad")
    land(root, "2026-11-16T10", "only")
    hour_dir = tmp_path / "landing" / "events" / "arrival_hour=2026-11-16T09"
    with dg.instance_for_test() as instance:
        first = tick(instance)
        (hour_dir / "bad.parquet").unlink()  # removed: the count shrinks
        removed = tick(instance, first.cursor)
        assert [r.partition_key for r in removed.run_requests] == ["2026-11-16-09:00"]
        good = hour_dir / "a.parquet"
        size, stat = good.stat().st_size, good.stat()
        good.write_bytes(b"x" * size)  # replaced in place: same name, same size, new content
        os.utime(good, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        replaced = tick(instance, removed.cursor)
        assert [r.partition_key for r in replaced.run_requests] == ["2026-11-16-09:00"]
        (tmp_path / "landing" / "events" / "arrival_hour=2026-11-16T10" / "only.parquet").unlink()
        emptied = tick(instance, replaced.cursor)  # every file of an hour removed: reloaded as empty
        assert [r.partition_key for r in emptied.run_requests] == ["2026-11-16-10:00"]
        runs = (*first.run_requests, *removed.run_requests, *replaced.run_requests, *emptied.run_requests)
        assert len({r.run_key for r in runs}) == len(runs) == 5
        assert tick(instance, emptied.cursor).run_requests == []


def test_a_cursor_of_file_counts_from_before_fingerprints_requests_only_changed_hours(root):
    """Upgrading must not re-load every hour ever landed."""
    land(root, "2026-11-16T09", "a")
    land(root, "2026-11-16T10", "a")
    land(root, "2026-11-16T10", "b")
    with dg.instance_for_test() as instance:
        old_cursor = json.dumps({"2026-11-16T09": 1, "2026-11-16T10": 1})  # 10:00 gained a file since
        assert [r.partition_key for r in tick(instance, old_cursor).run_requests] == ["2026-11-16-10:00"]


def test_landing_sensor_skips_hours_before_the_partitions_once(root):
    land(root, "2020-01-01T00", "a")  # before the partitions start: never loadable
    with dg.instance_for_test() as instance:
        first = tick(instance)
        assert first.run_requests == [] and "2020-01-01T00" in json.loads(first.cursor)  # settled, not asked again


def test_files_landed_in_the_hour_under_way_are_loaded_once_it_closes(root, monkeypatch):
    """What the collector lands during an hour is no partition yet; the sensor must not count it
    as seen, or an hour whose last file landed before it closed would never be loaded."""
    from dataflywheel.defs.ingestion import sensors
    from dataflywheel.defs.partitions import arrival_hours

    under_way = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    land(root, f"{under_way:%Y-%m-%dT%H}", "collector-1")
    with dg.instance_for_test() as instance:
        during = tick(instance)
        assert during.run_requests == [] and f"{under_way:%Y-%m-%dT%H}" not in json.loads(during.cursor)
        # The hour closes (its partition exists now), no file changed since: it is requested.
        closed = dg.HourlyPartitionsDefinition(start_date=arrival_hours().start, end_offset=1)
        monkeypatch.setattr(sensors, "arrival_hours", lambda: closed)
        after = tick(instance, during.cursor)
        assert [r.partition_key for r in after.run_requests] == [f"{under_way:%Y-%m-%d-%H}:00"]


def test_stale_days_are_those_built_before_their_events_arrived():
    arrivals = [(100.0, ["2026-11-16"]), (300.0, ["2026-11-16", "2026-11-17"]), (300.0, ["2026-11-18"])]
    built_at = {"2026-11-16": 200.0, "2026-11-17": 400.0}  # 11-18 never built: its first build is complete
    assert stale_days(arrivals, built_at) == {"2026-11-16"}
