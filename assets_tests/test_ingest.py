"""raw_events ingestion on real landed files: conservation, dedup, quarantine, idempotency."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import polars as pl
import pytest

import dataflywheel.ingest.raw_events as ingest_module
from dataflywheel.ingest.landing import list_event_files, parse_hour_key
from dataflywheel.ingest.raw_events import ingest_hour
from dataflywheel.simulator.run import deliver_day, land_by_arrival_hour
from dataflywheel.simulator.world import build_world
from dataflywheel.warehouse.duckdb import DuckDBEngine, connect


def _hour(key: str) -> datetime:
    return parse_hour_key(key).replace(tzinfo=None)


@pytest.fixture
def landed(small_config, workdir):
    """Two simulated days landed with default faults; returns every delivered row (the truth)."""
    world = build_world(small_config)
    delivered = []
    for day in range(small_config.days):
        rows, _ = deliver_day(world, small_config, day)
        land_by_arrival_hour(workdir["landing"], f"day{day}", rows)
        delivered.append(rows)
    return pl.concat(delivered)


def _ingest_all(workdir, order=sorted):
    con = connect(workdir["warehouse"])
    counts = {
        h: ingest_hour(DuckDBEngine(con), workdir["landing"], _hour(h))
        for h in order(list_event_files(workdir["landing"]))
    }
    return con, counts


def test_every_hour_conserves_rows_under_every_fault_kind(landed, workdir):
    con, counts = _ingest_all(workdir)
    assert all(c.conserved for c in counts.values())
    assert sum(c.landed for c in counts.values()) == landed.height
    truth = Counter(landed.get_column("_fault").drop_nulls().to_list())
    quarantined = Counter()
    for c in counts.values():
        quarantined.update(c.reasons)
    assert quarantined == truth  # each malformed row, redeliveries included, under its own reason


def test_each_valid_event_is_loaded_exactly_once(landed, workdir):
    con, counts = _ingest_all(workdir)
    valid = landed.filter(pl.col("_fault").is_null())
    loaded_ids = con.execute("SELECT event_id FROM raw.raw_events").fetchall()
    assert len(loaded_ids) == valid.get_column("event_id").n_unique()
    assert len(set(loaded_ids)) == len(loaded_ids)
    assert sum(c.duplicates for c in counts.values()) == valid.height - valid.get_column("event_id").n_unique()


def test_duplicates_across_hours_are_removed_whatever_the_load_order(landed, workdir, tmp_path):
    forward, _ = _ingest_all(workdir)
    backward, _ = _ingest_all(
        {**workdir, "warehouse": str(tmp_path / "backward.duckdb")}, order=lambda hours: sorted(hours, reverse=True)
    )
    cross_hour = forward.execute(
        "SELECT count(*) FROM raw.duplicate_events WHERE kept_in_arrival_hour <> arrival_hour"
    ).fetchone()[0]
    assert cross_hour > 0  # redeliveries do cross hours in this data
    ids = lambda con: sorted(r[0] for r in con.execute("SELECT event_id FROM raw.raw_events").fetchall())  # noqa: E731
    assert ids(forward) == ids(backward)


def _hour_tables(con, hour):
    return {
        table: con.execute(f"SELECT * FROM raw.{table} WHERE arrival_hour = ? ORDER BY ALL", [hour]).fetchall()
        for table in ingest_module.RAW_TABLES
    }


def test_rematerializing_an_hour_gives_identical_tables(landed, workdir):
    con, counts = _ingest_all(workdir)
    busiest = _hour(max(counts, key=lambda h: counts[h].landed))
    before = _hour_tables(con, busiest)
    again = ingest_hour(DuckDBEngine(con), workdir["landing"], busiest)
    assert _hour_tables(con, busiest) == before
    assert again.landed == counts[busiest.strftime("%Y-%m-%dT%H")].landed


def test_a_crash_mid_load_leaves_the_previous_state(landed, workdir, monkeypatch):
    con, counts = _ingest_all(workdir)
    busiest = _hour(max(counts, key=lambda h: counts[h].landed))
    before = _hour_tables(con, busiest)

    def crash(*args, **kwargs):
        con.execute("INSERT INTO raw.quarantined_events SELECT * FROM raw.quarantined_events LIMIT 5")
        raise RuntimeError("worker killed")

    monkeypatch.setattr(ingest_module, "_load", crash)
    with pytest.raises(RuntimeError):
        ingest_hour(DuckDBEngine(con), workdir["landing"], busiest)
    assert _hour_tables(con, busiest) == before


def test_a_landing_zone_on_an_s3_api_loads_as_a_folder_does(small_config, tmp_path, s3_landing):
    """The same day landed on a real S3 API (moto's server) and in a folder loads into identical
    raw tables, quarantine included, with conservation; the directory snapshot too."""
    from dataflywheel.ingest.directory import load_directory_snapshot
    from dataflywheel.simulator.run import land_directory

    world = build_world(small_config)
    rows, _ = deliver_day(world, small_config, 0)
    tables = {}
    for name, root in {"s3": s3_landing, "folder": str(tmp_path / "landing")}.items():
        land_by_arrival_hour(root, "day0", rows)
        land_directory(world, small_config, 0, root)
        con = connect(str(tmp_path / f"{name}.duckdb"))
        hours = list_event_files(root)
        assert all(f.startswith("s3://" if name == "s3" else "/") for files in hours.values() for f in files)
        counts = [ingest_hour(DuckDBEngine(con), root, _hour(h)) for h in hours]
        assert all(c.conserved for c in counts) and sum(c.landed for c in counts) == rows.height
        assert load_directory_snapshot(DuckDBEngine(con), root, small_config.start)["directory_users"] > 0
        tables[name] = [
            con.execute(f"SELECT * EXCLUDE (source_file) FROM {table} ORDER BY ALL").fetchall()
            for table in ("raw.raw_events", "raw.quarantined_events")
        ]
    assert tables["s3"] == tables["folder"] and len(tables["s3"][1]) > 0


def test_the_volume_check_warns_when_an_hour_falls_below_half_of_last_week(tmp_path, monkeypatch):
    import dagster as dg

    from dataflywheel.defs.ingestion.assets import raw_events
    from dataflywheel.defs.resources import Warehouse
    from helpers import land_rows

    root = str(tmp_path / "landing")
    monkeypatch.setenv("DATAFLYWHEEL_LANDING_URL", root)
    last_week, now = datetime(2026, 11, 9, 10), datetime(2026, 11, 16, 10)
    for hour, n in ((last_week, 40), (now, 19)):
        events = [{"event_id": f"{hour:%d}-{i}", "event_ts": f"{hour:%Y-%m-%dT%H}:00:00.000Z"} for i in range(n)]
        land_rows(root, hour, "a", events)
    resources = {"warehouse": Warehouse(path=str(tmp_path / "warehouse.duckdb"))}
    with dg.instance_for_test() as instance:
        results = {}
        for hour in (last_week, now):
            run = dg.materialize(
                [raw_events], partition_key=f"{hour:%Y-%m-%d-%H:00}", resources=resources, instance=instance
            )
            results[hour] = {c.check_name: c for c in run.get_asset_check_evaluations()}
    assert results[last_week]["volume_vs_last_week"].passed  # no baseline yet
    drop = results[now]["volume_vs_last_week"]
    assert not drop.passed and drop.severity == dg.AssetCheckSeverity.WARN  # 19 < half of 40
    assert results[now]["conservation"].passed


@pytest.mark.parametrize("loaded, expected", [(20, True), (19, False), (80, True), (81, False), (40, True)])
def test_volume_tolerance_is_half_to_twice_last_week(loaded, expected):
    from dataflywheel.ingest.volume import within_tolerance

    assert within_tolerance(loaded, baseline=40, tolerance=0.5) is expected


def test_of_writers_racing_for_one_name_one_wins_and_its_file_is_whole(tmp_path):
    """Landing never replaces a file: of two collectors writing the same batch name, one wins and
    its file is whole; no temporary file is left behind."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dataflywheel.ingest.landing import write_atomic

    url = f"{tmp_path}/landing/events/arrival_hour=2026-11-16T10/batch.parquet"
    tables = [pa.table({"writer": [w] * 50_000, "row": list(range(50_000))}) for w in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        won = list(pool.map(lambda table: write_atomic(table, url), tables))
    assert sum(won) == 1
    assert pq.read_table(url).equals(tables[won.index(True)])
    assert [p.name for p in (tmp_path / "landing/events/arrival_hour=2026-11-16T10").iterdir()] == ["batch.parquet"]


def test_on_an_s3_api_a_landed_file_is_never_replaced(s3_landing):
    """The object store's conditional write: a second write of a name (a retried compaction, a second
    collector) is refused and the first file stays. (Racing writers are S3's own guarantee; moto's
    server checks and writes without a lock, so a race here would test moto.)"""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dataflywheel.ingest.landing import write_atomic

    url = f"{s3_landing}/events/arrival_hour=2026-11-16T10/batch.parquet"
    first, second = pa.table({"writer": [1] * 1000}), pa.table({"writer": [2] * 2000})
    assert write_atomic(first, url) is True
    assert write_atomic(second, url) is False
    with fsspec.open(url, "rb") as f:
        assert pq.read_table(f).equals(first)
    fs, path = fsspec.core.url_to_fs(url.rsplit("/", 1)[0])
    assert [p.rsplit("/", 1)[1] for p in fs.ls(path, refresh=True)] == ["batch.parquet"]
