"""The feature store on hand-made events: point-in-time joins, no leakage, TTL, online = offline."""

from datetime import datetime, timedelta

import pytest

from dataflywheel.features import online
from dataflywheel.features.build import FeatureTiming, build_feature_rows, build_tiles, point_in_time_sql
from dataflywheel.features.examples import build_examples
from dataflywheel.ingest.tables import ensure_raw_tables
from dataflywheel.warehouse.duckdb import DuckDBEngine, connect

H = datetime(2026, 11, 17, 10)  # the impression's hour


def add_event(con, event_id, event_type, event_ts, arrival_hour, user="u1", item="i1"):
    con.execute(
        """INSERT INTO raw.raw_events BY NAME SELECT ? AS event_id, ? AS event_type, ? AS event_ts,
           ? AS received_ts, 't1' AS tenant_id, ? AS user_id, ? AS item_id, 'jira_issue' AS item_type,
           1 AS schema_version, '{}' AS properties, ? AS arrival_hour, 'test' AS source_file""",
        [event_id, event_type, event_ts, max(event_ts, arrival_hour), user, item, arrival_hour],
    )


@pytest.fixture
def con(tmp_path):
    con = connect(tmp_path / "warehouse.duckdb")
    ensure_raw_tables(con)
    con.execute("""CREATE TABLE main.dim_items AS SELECT * FROM (VALUES
        ('i1', 't1', 'jira_issue', 'c1', 'tm1', TIMESTAMP '2026-11-01 00:00:00'),
        ('i2', 't1', 'jira_issue', 'c1', 'tm2', TIMESTAMP '2026-11-16 00:00:00'))
        AS v(item_id, tenant_id, item_type, container_id, author_team_id, created_at)""")
    con.execute("""CREATE TABLE main.dim_users AS SELECT * FROM (VALUES
        ('u1', 't1', 'tm1', 'developer', TIMESTAMP '2026-01-01 00:00:00'),
        ('u2', 't1', 'tm1', 'manager', TIMESTAMP '2026-11-17 12:00:00'))
        AS v(user_id, tenant_id, team_id, role, joined_at)""")
    con.execute("""CREATE TABLE main.fct_rec_impressions (impression_id VARCHAR, rec_request_id VARCHAR,
        position INTEGER, tenant_id VARCHAR, user_id VARCHAR, item_id VARCHAR, item_type VARCHAR,
        impression_ts TIMESTAMP, propensity DOUBLE, model_version VARCHAR, clicked BOOLEAN, engaged BOOLEAN)""")
    yield con
    con.close()


def impression(con, impression_id, ts, user="u1", item="i1"):
    con.execute(
        "INSERT INTO main.fct_rec_impressions VALUES (?, 'r1', 0, 't1', ?, ?, 'jira_issue', ?, 0.1, 'm0', true, false)",
        [impression_id, user, item, ts],
    )


def build_hours(con, first: datetime, last: datetime):
    hour = first
    while hour <= last:
        build_tiles(con, hour)
        build_feature_rows(con, hour)
        hour += timedelta(hours=1)


def example(con, impression_id):
    build_examples(con, H)
    cur = con.execute("SELECT * FROM training.training_examples WHERE impression_id = ?", [impression_id])
    return dict(zip([d[0] for d in cur.description], cur.fetchone()))


def test_an_impression_sees_only_events_published_before_it(con):
    add_event(con, "a", "issue_viewed", H - timedelta(hours=2, minutes=30), H - timedelta(hours=3))
    add_event(con, "b", "issue_commented", H - timedelta(minutes=20), H - timedelta(hours=1))
    # After the impression, or before it but not yet published / arrived: all must stay out.
    add_event(con, "c", "issue_viewed", H + timedelta(minutes=5), H)
    add_event(con, "d", "issue_viewed", H + timedelta(minutes=40), H)
    add_event(con, "late", "issue_commented", H - timedelta(minutes=50), H + timedelta(hours=1))
    build_hours(con, H - timedelta(hours=3), H + timedelta(hours=1))
    impression(con, "imp", H + timedelta(minutes=30))

    row = example(con, "imp")
    assert row["user_events_28d"] == 2  # a and b
    assert row["user_events_1h"] == 1  # b: the last published hour
    assert row["user_engagements_7d"] == 1
    assert row["pair_interactions_28d"] == 2
    assert row["item_engaged_users_7d"] == 1
    assert row["user_features_ts"] == H  # hour H - 1's row, published at H + 10 min
    assert row["hours_since_pair_interaction"] == pytest.approx(50 / 60)


def test_before_publication_the_previous_hour_is_used(con):
    add_event(con, "a", "issue_viewed", H - timedelta(hours=2, minutes=30), H - timedelta(hours=3))
    add_event(con, "b", "issue_viewed", H - timedelta(minutes=20), H - timedelta(hours=1))
    build_hours(con, H - timedelta(hours=3), H)
    impression(con, "early", H + timedelta(minutes=5))  # hour H - 1's row is only usable from H + 10 min

    row = example(con, "early")
    assert row["user_events_28d"] == 1
    assert row["user_features_ts"] == H - timedelta(hours=2)


def test_rows_older_than_the_ttl_are_not_joined(con):
    add_event(con, "a", "issue_viewed", H - timedelta(hours=5, minutes=30), H - timedelta(hours=6))
    build_hours(con, H - timedelta(hours=6), H - timedelta(hours=6))
    impression(con, "imp", H + timedelta(minutes=30))
    requests = "SELECT *, 'c1' AS container_id FROM main.fct_rec_impressions"
    short = FeatureTiming(ttl=timedelta(hours=4))
    long = FeatureTiming(ttl=timedelta(hours=8))
    assert con.execute(
        f"SELECT user_events_28d FROM ({point_in_time_sql(requests, 'impression_ts', short)})"
    ).fetchone() == (None,)
    assert con.execute(
        f"SELECT user_events_28d FROM ({point_in_time_sql(requests, 'impression_ts', long)})"
    ).fetchone() == (1,)


def test_a_new_user_gets_directory_features_as_of_the_impression(con):
    add_event(con, "a", "issue_viewed", H - timedelta(minutes=30), H - timedelta(hours=1), user="u1")
    build_hours(con, H - timedelta(hours=1), H - timedelta(hours=1))
    impression(con, "u1-imp", H + timedelta(minutes=30), user="u1")
    build_examples(con, H)
    row = example(con, "u1-imp")
    # u2 joins the team at 12:00, after the impression: the team has one member then.
    assert row["team_size"] == 1
    assert row["container_items"] == 2 and row["same_team"] is True
    assert row["user_segment"] == "established"


def test_rebuilding_an_hour_gives_the_same_rows(con):
    add_event(con, "a", "issue_viewed", H - timedelta(minutes=30), H - timedelta(hours=1))
    add_event(con, "b", "page_shared", H - timedelta(minutes=10), H - timedelta(hours=1), item="i2")
    build_hours(con, H - timedelta(hours=1), H - timedelta(hours=1))
    tables = ["features.user_features", "features.item_features", "features.user_item_features"]
    before = [sorted(con.execute(f"SELECT * FROM {t}").fetchall()) for t in tables]
    build_hours(con, H - timedelta(hours=1), H - timedelta(hours=1))
    assert [sorted(con.execute(f"SELECT * FROM {t}").fetchall()) for t in tables] == before


def test_online_snapshot_equals_the_offline_join_at_the_same_time(con, tmp_path):
    for n in range(6):  # activity for two users and two items over six hours
        hour = H - timedelta(hours=6 - n)
        add_event(con, f"v{n}", "issue_viewed", hour + timedelta(minutes=5), hour, user=f"u{1 + n % 2}")
        add_event(con, f"s{n}", "page_shared", hour + timedelta(minutes=9), hour, item=f"i{1 + n % 2}")
    build_hours(con, H - timedelta(hours=6), H - timedelta(hours=1))
    as_of = H + timedelta(minutes=15)
    online.publish(con, tmp_path / "online", as_of)

    for user, item in [("u1", "i1"), ("u2", "i2"), ("u1", "i2")]:
        requests = f"SELECT '{user}' AS user_id, '{item}' AS item_id, 'c1' AS container_id, TIMESTAMP '{as_of}' AS ts"
        cur = con.execute(point_in_time_sql(requests, "ts"))
        offline = dict(zip([d[0] for d in cur.description], cur.fetchone()))
        served = online.lookup(tmp_path / "online", "user_features", user_id=user)
        assert served["feature_ts"] == offline["user_features_ts"]
        assert served["user_events_7d"] == offline["user_events_7d"]
        served_item = online.lookup(tmp_path / "online", "item_features", item_id=item)
        assert served_item["item_views_7d"] == offline["item_views_7d"]
        pair = online.lookup(tmp_path / "online", "user_item_features", user_id=user, item_id=item)
        assert (pair or {}).get("pair_interactions_28d") == offline["pair_interactions_28d"]


def test_online_directory_equals_the_examples_directory_attributes(con, tmp_path):
    as_of = H + timedelta(minutes=30)
    impression(con, "imp", as_of, user="u1", item="i2")
    row = example(con, "imp")
    online.publish(con, tmp_path / "online", as_of)

    user = online.lookup(tmp_path / "online", "user_directory", user_id="u1")
    item = online.lookup(tmp_path / "online", "item_directory", item_id="i2")
    assert (user["team_size"], user["role"], user["joined_at"]) == (row["team_size"], row["role"], row["joined_at"])
    assert (item["container_items"], item["author_team_id"]) == (row["container_items"], row["author_team_id"])
    # u2 joins at 12:00, after as_of: not in the directory yet, and not counted in u1's team.
    assert online.lookup(tmp_path / "online", "user_directory", user_id="u2") is None
    assert user["team_size"] == 1


def test_the_skew_check_finds_a_feature_hour_rebuilt_after_publication(con, tmp_path):
    from dataflywheel.monitoring.debugging import feature_skew

    for n in range(3):
        hour = H - timedelta(hours=3 - n)
        add_event(con, f"v{n}", "issue_viewed", hour + timedelta(minutes=5), hour, user=f"u{1 + n % 2}")
    build_hours(con, H - timedelta(hours=3), H - timedelta(hours=1))
    online.publish(con, tmp_path / "online", H + timedelta(minutes=15))
    assert feature_skew(con, tmp_path / "online", keys_per_table=100, seed=0).worst == 0.0

    # A late event for an hour already published: the hour is rebuilt offline, the snapshot is stale.
    add_event(con, "late", "issue_viewed", H - timedelta(minutes=50), H - timedelta(hours=1), user="u2")
    build_hours(con, H - timedelta(hours=1), H - timedelta(hours=1))
    skew = feature_skew(con, tmp_path / "online", keys_per_table=100, seed=0)
    assert skew.mismatched["user_features.user_events_1d"] == skew.mismatched["user_features.feature_ts"] == 0.5
    assert skew.keys_compared["user_features"] == 2
