"""The dbt project on a small landed fixture: models build, tests pass, labels and late events are right."""

import json
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from dataflywheel import settings
from dataflywheel.contracts.dbt_vocabulary import ENUM_OF_COLUMN
from dataflywheel.dbt_project import DBT_EXECUTABLE
from dataflywheel.defs.transform.assets import UNPARTITIONED
from dataflywheel.ingest.directory import load_directory_snapshot
from dataflywheel.ingest.landing import list_event_files, parse_hour_key
from dataflywheel.ingest.raw_events import ingest_hour
from dataflywheel.simulator.run import deliver_day, land_by_arrival_hour, land_directory
from dataflywheel.simulator.world import build_world
from dataflywheel.warehouse.duckdb import DuckDBEngine, connect
from helpers import land_rows


def dbt(warehouse: str, target: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATAFLYWHEEL_WAREHOUSE": warehouse}
    return subprocess.run(
        [DBT_EXECUTABLE, *args, "--target-path", str(target)],
        cwd=settings.DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )


def window(day: datetime) -> str:
    return json.dumps({"min_ts": f"{day:%Y-%m-%d} 00:00:00", "max_ts": f"{day + timedelta(days=1):%Y-%m-%d} 00:00:00"})


# The models partitioned by event time: the days', and the labels' (a day of hours in one window).
BY_EVENT_TIME = ("tag:event_time", "tag:event_hour")


def build_unpartitioned(warehouse: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """The directory models and the events view, as the unpartitioned dbt asset builds them."""
    selected = UNPARTITIONED.split()
    return dbt(warehouse, tmp_path / "t", "build", "--select", *selected, "--indirect-selection", "cautious")


def build_event_days(warehouse: str, tmp_path: Path, day: datetime) -> None:
    result = dbt(warehouse, tmp_path / "t", "run", "--select", *BY_EVENT_TIME, "--vars", window(day))
    assert result.returncode == 0, result.stdout[-3000:]


def ingest_everything(con, landing: str) -> None:
    for hour in list_event_files(landing):
        ingest_hour(DuckDBEngine(con), landing, parse_hour_key(hour).replace(tzinfo=None))


@pytest.fixture
def warehouse(small_config, workdir, tmp_path):
    """Landed, ingested and loaded: the state dbt starts from."""
    world = build_world(small_config)
    for day in range(small_config.days):
        rows, _ = deliver_day(world, small_config, day)
        land_by_arrival_hour(workdir["landing"], f"day{day}", rows)
        land_directory(world, small_config, day, workdir["landing"])
    con = connect(workdir["warehouse"])
    ingest_everything(con, workdir["landing"])
    load_directory_snapshot(DuckDBEngine(con), workdir["landing"], small_config.start + timedelta(days=1))
    con.close()
    return workdir


def test_models_build_and_dbt_tests_pass_day_by_day(warehouse, small_config, tmp_path):
    days = [datetime.combine(small_config.start, datetime.min.time()) + timedelta(days=d) for d in range(2)]
    result = build_unpartitioned(warehouse["warehouse"], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    for day in days:
        result = dbt(warehouse["warehouse"], tmp_path / "t", "build", "--select", *BY_EVENT_TIME, "--vars", window(day))
        assert result.returncode == 0, result.stdout[-3000:]
    con = connect(warehouse["warehouse"], read_only=True)
    # test_contract checks the vocabulary columns the YAML declares; the build shows none is missing.
    declared = {
        (model["name"], column["name"])
        for yml in (settings.DBT_PROJECT_DIR / "models").rglob("*.yml")
        for model in yaml.safe_load(yml.read_text()).get("models", [])
        for column in model.get("columns", [])
    }
    built = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
    ).fetchall()
    undeclared = {(t, c) for t, c in built if c in ENUM_OF_COLUMN and (t, c) not in declared}
    assert not undeclared, f"vocabulary columns no YAML declares (so no in_vocabulary test): {undeclared}"
    # Every loaded impression is in the mart once, and labels obey their definitions.
    impressions = con.execute(
        "SELECT count(*) FROM raw.raw_events WHERE event_type = 'rec_impression' AND event_ts >= ? AND event_ts < ?",
        [days[0], days[1] + timedelta(days=1)],
    ).fetchone()[0]
    assert con.execute("SELECT count(*) FROM fct_rec_impressions").fetchone()[0] == impressions
    # Engagement follows clicks (the simulator engages after a click), though organic edits count too.
    engaged_if_clicked, engaged_otherwise = con.execute(
        "SELECT avg(engaged::INT) FILTER (clicked), avg(engaged::INT) FILTER (NOT clicked) FROM fct_rec_impressions"
    ).fetchone()
    assert engaged_if_clicked > 5 * engaged_otherwise
    assert (
        con.execute("SELECT count(*) FROM fct_rec_impressions WHERE clicked AND click_ts < impression_ts").fetchone()[0]
        == 0
    )
    ctr = con.execute("SELECT avg(clicked::INT) FROM fct_rec_impressions").fetchone()[0]
    assert 0.005 < ctr < 0.2
    # Sessions: at least one event each, and never overlapping for the same user.
    overlaps = con.execute("""
        SELECT count(*) FROM (
            SELECT session_start, lag(session_end) OVER (PARTITION BY user_id ORDER BY session_start) AS prev_end
            FROM int_sessions) WHERE session_start <= prev_end""").fetchone()[0]
    assert overlaps == 0
    # Daily activity adds up to the events of each day.
    totals = con.execute("SELECT sum(events) FROM agg_tenant_daily_activity").fetchone()[0]
    staged = con.execute(
        "SELECT count(*) FROM stg_events WHERE event_ts >= ? AND event_ts < ?", [days[0], days[1] + timedelta(days=1)]
    ).fetchone()[0]
    assert totals == staged


def test_rebuilding_a_day_is_idempotent(warehouse, small_config, tmp_path):
    day = datetime.combine(small_config.start, datetime.min.time())
    build_unpartitioned(warehouse["warehouse"], tmp_path)
    snapshot = []
    for _ in range(2):
        build_event_days(warehouse["warehouse"], tmp_path, day)
        con = connect(warehouse["warehouse"], read_only=True)
        snapshot.append(
            {
                m: con.execute(f"SELECT * FROM {m} ORDER BY ALL").fetchall()
                for m in ("fct_rec_impressions", "int_sessions", "agg_tenant_daily_activity")
            }
        )
        con.close()
    assert snapshot[0] == snapshot[1]


def test_a_late_event_lands_in_its_event_time_day(warehouse, small_config, tmp_path):
    """An event of day 0 arriving on day 1 (after the day was built) is counted on day 0 after a rebuild."""
    day0 = datetime.combine(small_config.start, datetime.min.time())
    build_unpartitioned(warehouse["warehouse"], tmp_path)
    build_event_days(warehouse["warehouse"], tmp_path, day0)
    con = connect(warehouse["warehouse"])
    tenant, user, item = con.execute(
        "SELECT tenant_id, user_id, item_id FROM raw.raw_events WHERE event_type = 'issue_viewed' LIMIT 1"
    ).fetchone()
    before = con.execute(
        "SELECT sum(events) FROM agg_tenant_daily_activity WHERE activity_date = ? AND tenant_id = ?"
        " AND product = 'jira'",
        [day0.date(), tenant],
    ).fetchone()[0]
    arrival = day0 + timedelta(days=1, hours=9, minutes=30)
    late_view = {
        "event_id": "late-event-0001",
        "event_type": "issue_viewed",
        "event_ts": f"{day0:%Y-%m-%d}T22:15:00.000Z",
        "tenant_id": tenant,
        "user_id": user,
        "item_id": item,
        "item_type": "jira_issue",
        "surface": "direct",
        "dwell_ms": "1200",
    }
    land_rows(warehouse["landing"], arrival, "late-batch", [late_view])
    counts = ingest_hour(DuckDBEngine(con), warehouse["landing"], arrival.replace(minute=0))
    con.close()
    assert counts.event_dates.get(f"{day0:%Y-%m-%d}", 0) >= 1  # the sensor reads this to find stale days
    assert counts.beyond_watermark >= 1  # 11 h late, beyond the default 2 h allowed lateness
    build_event_days(warehouse["warehouse"], tmp_path, day0)
    con = connect(warehouse["warehouse"], read_only=True)
    after = con.execute(
        "SELECT sum(events) FROM agg_tenant_daily_activity WHERE activity_date = ? AND tenant_id = ?"
        " AND product = 'jira'",
        [day0.date(), tenant],
    ).fetchone()[0]
    staged = con.execute("SELECT event_date, event_hour FROM stg_events WHERE event_id = 'late-event-0001'").fetchone()
    assert after == before + 1
    assert staged == (day0.date(), day0 + timedelta(hours=22))
