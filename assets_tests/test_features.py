"""The feature store on hand-made events: point-in-time joins, no leakage, TTL, online = offline."""

import math
from dataclasses import replace
from datetime import datetime, timedelta

import polars as pl
import pytest

from dataflywheel.features import online
from dataflywheel.features.build import build_feature_rows, build_tiles
from dataflywheel.features.definitions import REQUEST_FEATURES, USER_FEATURES, VIEWS, count
from dataflywheel.features.examples import build_examples
from dataflywheel.features.point_in_time import point_in_time_sql
from dataflywheel.ingest.tables import ensure_raw_tables
from dataflywheel.ranking.inputs import model_inputs
from dataflywheel.warehouse.duckdb import DuckDBEngine, connect

H = datetime(2026, 11, 17, 10)  # the impression's hour


def add_event(engine, event_id, event_type, event_ts, arrival_hour, user="u1", item="i1"):
    engine.execute(
        """INSERT INTO raw.raw_events BY NAME SELECT ? AS event_id, ? AS event_type, ? AS event_ts,
           ? AS received_ts, 't1' AS tenant_id, ? AS user_id, ? AS item_id, 'jira_issue' AS item_type,
           1 AS schema_version, '{}' AS properties, ? AS arrival_hour, 'test' AS source_file""",
        [event_id, event_type, event_ts, max(event_ts, arrival_hour), user, item, arrival_hour],
    )


@pytest.fixture
def engine(tmp_path):
    con = connect(tmp_path / "warehouse.duckdb")
    ensure_raw_tables(DuckDBEngine(con))
    con.execute("""CREATE TABLE main.dim_items AS SELECT * FROM (VALUES
        ('i1', 't1', 'jira_issue', 'c1', 'tm1', TIMESTAMP '2026-11-01 00:00:00'),
        ('i2', 't1', 'jira_issue', 'c1', 'tm2', TIMESTAMP '2026-11-16 00:00:00'),
        ('i3', 't1', 'confluence_page', 'c2', 'tm2', TIMESTAMP '2026-11-16 00:00:00'))
        AS v(item_id, tenant_id, item_type, container_id, author_team_id, created_at)""")
    con.execute("""CREATE TABLE main.dim_users AS SELECT * FROM (VALUES
        ('u1', 't1', 'tm1', 'developer', TIMESTAMP '2026-01-01 00:00:00'),
        ('u2', 't1', 'tm1', 'product_manager', TIMESTAMP '2026-11-17 12:00:00'))
        AS v(user_id, tenant_id, team_id, role, joined_at)""")
    con.execute("""CREATE TABLE main.fct_rec_impressions (impression_id VARCHAR, rec_request_id VARCHAR,
        position INTEGER, tenant_id VARCHAR, user_id VARCHAR, item_id VARCHAR, item_type VARCHAR,
        impression_ts TIMESTAMP, propensity DOUBLE, model_version VARCHAR, clicked BOOLEAN, engaged BOOLEAN)""")
    yield DuckDBEngine(con)
    con.close()


def impression(engine, impression_id, ts, user="u1", item="i1"):
    engine.execute(
        "INSERT INTO main.fct_rec_impressions VALUES (?, 'r1', 0, 't1', ?, ?, 'jira_issue', ?, 0.1, 'm0', true, false)",
        [impression_id, user, item, ts],
    )


def build_hours(engine, first: datetime, last: datetime, views=VIEWS):
    hour = first
    while hour <= last:
        build_tiles(engine, hour)
        build_feature_rows(engine, hour, views)
        hour += timedelta(hours=1)


def example(engine, impression_id):
    build_examples(engine, H)
    return engine.frame("SELECT * FROM training.training_examples WHERE impression_id = ?", [impression_id]).row(
        0, named=True
    )


def test_an_impression_sees_only_events_published_before_it(engine):
    add_event(engine, "a", "issue_viewed", H - timedelta(hours=2, minutes=30), H - timedelta(hours=3))
    add_event(engine, "b", "issue_commented", H - timedelta(minutes=20), H - timedelta(hours=1))
    # After the impression, or before it but not yet published / arrived: all must stay out.
    add_event(engine, "c", "issue_viewed", H + timedelta(minutes=5), H)
    add_event(engine, "d", "issue_viewed", H + timedelta(minutes=40), H)
    add_event(engine, "late", "issue_commented", H - timedelta(minutes=50), H + timedelta(hours=1))
    build_hours(engine, H - timedelta(hours=3), H + timedelta(hours=1))
    impression(engine, "imp", H + timedelta(minutes=30))

    row = example(engine, "imp")
    assert row["user_events_28d"] == 2  # a and b
    assert row["user_events_1h"] == 1  # b: the last published hour
    assert row["user_engagements_7d"] == 1
    assert row["pair_interactions_28d"] == 2
    assert row["item_engaged_users_7d"] == 1
    assert row["user_features_ts"] == H  # hour H - 1's row, published at H + 10 min
    assert row["hours_since_pair_interaction"] == pytest.approx(50 / 60)


def test_before_publication_the_previous_hour_is_used(engine):
    add_event(engine, "a", "issue_viewed", H - timedelta(hours=2, minutes=30), H - timedelta(hours=3))
    add_event(engine, "b", "issue_viewed", H - timedelta(minutes=20), H - timedelta(hours=1))
    build_hours(engine, H - timedelta(hours=3), H)
    impression(engine, "early", H + timedelta(minutes=5))  # hour H - 1's row is only usable from H + 10 min

    row = example(engine, "early")
    assert row["user_events_28d"] == 1
    assert row["user_features_ts"] == H - timedelta(hours=2)


def test_rows_older_than_the_ttl_are_not_joined(engine):
    add_event(engine, "a", "issue_viewed", H - timedelta(hours=5, minutes=30), H - timedelta(hours=6))
    build_hours(engine, H - timedelta(hours=6), H - timedelta(hours=6))
    impression(engine, "imp", H + timedelta(minutes=30))
    requests = "SELECT *, 'c1' AS container_id FROM main.fct_rec_impressions"

    def joined(ttl: timedelta):
        views = tuple(replace(view, ttl=ttl) for view in VIEWS)
        return engine.scalar(
            f"SELECT user_events_28d FROM ({point_in_time_sql(engine, requests, 'impression_ts', views)})"
        )

    assert joined(timedelta(hours=4)) is None
    assert joined(timedelta(hours=8)) == 1


def test_a_new_user_gets_directory_features_as_of_the_impression(engine):
    add_event(engine, "a", "issue_viewed", H - timedelta(minutes=30), H - timedelta(hours=1), user="u1")
    build_hours(engine, H - timedelta(hours=1), H - timedelta(hours=1))
    impression(engine, "u1-imp", H + timedelta(minutes=30), user="u1")
    build_examples(engine, H)
    row = example(engine, "u1-imp")
    # u2 joins the team at 12:00, after the impression: the team has one member then.
    assert row["team_size"] == 1
    assert row["container_items"] == 2 and row["same_team"] is True
    assert row["user_segment"] == "established"


def test_rebuilding_an_hour_gives_the_same_rows(engine):
    add_event(engine, "a", "issue_viewed", H - timedelta(minutes=30), H - timedelta(hours=1))
    add_event(engine, "b", "page_shared", H - timedelta(minutes=10), H - timedelta(hours=1), item="i2")
    build_hours(engine, H - timedelta(hours=1), H - timedelta(hours=1))
    tables = ["features.user_features", "features.item_features", "features.user_item_features"]
    before = [sorted(engine.con.execute(f"SELECT * FROM {t}").fetchall()) for t in tables]
    build_hours(engine, H - timedelta(hours=1), H - timedelta(hours=1))
    assert [sorted(engine.con.execute(f"SELECT * FROM {t}").fetchall()) for t in tables] == before


def test_online_snapshot_equals_the_offline_join_at_the_same_time(engine, tmp_path):
    for n in range(6):  # activity for two users and two items over six hours
        hour = H - timedelta(hours=6 - n)
        add_event(engine, f"v{n}", "issue_viewed", hour + timedelta(minutes=5), hour, user=f"u{1 + n % 2}")
        add_event(engine, f"s{n}", "page_shared", hour + timedelta(minutes=9), hour, item=f"i{1 + n % 2}")
    build_hours(engine, H - timedelta(hours=6), H - timedelta(hours=1))
    as_of = H + timedelta(minutes=15)
    online.publish(engine, tmp_path / "online", as_of)
    snapshot = online.OnlineSnapshot.load(tmp_path / "online")

    for user, item in [("u1", "i1"), ("u2", "i2"), ("u1", "i2")]:
        requests = f"SELECT '{user}' AS user_id, '{item}' AS item_id, 'c1' AS container_id, TIMESTAMP '{as_of}' AS ts"
        offline = engine.frame(point_in_time_sql(engine, requests, "ts")).row(0, named=True)
        served = snapshot.lookup("user_features", user_id=user)
        assert served["feature_ts"] == offline["user_features_ts"]
        assert served["user_events_7d"] == offline["user_events_7d"]
        served_item = snapshot.lookup("item_features", item_id=item)
        assert served_item["item_views_7d"] == offline["item_views_7d"]
        pair = snapshot.lookup("user_item_features", user_id=user, item_id=item)
        assert (pair or {}).get("pair_interactions_28d") == offline["pair_interactions_28d"]


def test_online_directory_equals_the_examples_directory_attributes(engine, tmp_path):
    as_of = H + timedelta(minutes=30)
    impression(engine, "imp", as_of, user="u1", item="i2")
    row = example(engine, "imp")
    online.publish(engine, tmp_path / "online", as_of)
    snapshot = online.OnlineSnapshot.load(tmp_path / "online")

    user = snapshot.lookup("user_directory", user_id="u1")
    item = snapshot.lookup("item_directory", item_id="i2")
    assert (user["team_size"], user["role"], user["joined_at"]) == (row["team_size"], row["role"], row["joined_at"])
    assert (item["container_items"], item["author_team_id"]) == (row["container_items"], row["author_team_id"])
    # u2 joins at 12:00, after as_of: not in the directory yet, and not counted in u1's team.
    assert snapshot.lookup("user_directory", user_id="u2") is None
    assert user["team_size"] == 1


def test_the_skew_check_finds_a_feature_hour_rebuilt_after_publication(engine, tmp_path):
    from dataflywheel.monitoring.debugging import feature_skew

    for n in range(3):
        hour = H - timedelta(hours=3 - n)
        add_event(engine, f"v{n}", "issue_viewed", hour + timedelta(minutes=5), hour, user=f"u{1 + n % 2}")
    build_hours(engine, H - timedelta(hours=3), H - timedelta(hours=1))
    online.publish(engine, tmp_path / "online", H + timedelta(minutes=15))
    assert feature_skew(engine, tmp_path / "online", keys_per_table=100, seed=0).worst == 0.0

    # A late event for an hour already published: the hour is rebuilt offline, the snapshot is stale.
    add_event(engine, "late", "issue_viewed", H - timedelta(minutes=50), H - timedelta(hours=1), user="u2")
    build_hours(engine, H - timedelta(hours=1), H - timedelta(hours=1))
    skew = feature_skew(engine, tmp_path / "online", keys_per_table=100, seed=0)
    assert skew.mismatched["user_features.user_events_1d"] == skew.mismatched["user_features.feature_ts"] == 0.5
    assert skew.keys_compared["user_features"] == 2


def test_a_feature_added_to_a_view_reaches_the_tables_examples_snapshot_and_model_inputs(engine, tmp_path):
    views = (
        replace(USER_FEATURES, features=(*USER_FEATURES.features, count("user_events_3h", "user_tiles", "events", 3))),
    )
    views += VIEWS[1:]
    for n, hours_before in enumerate((5, 3, 2, 1)):  # the 3-hour window sees the last three of these
        hour = H - timedelta(hours=hours_before)
        add_event(engine, f"v{n}", "issue_viewed", hour + timedelta(minutes=5), hour)
    build_hours(engine, H - timedelta(hours=5), H - timedelta(hours=1), views)
    impression(engine, "imp", H + timedelta(minutes=30))
    build_examples(engine, H, views=views)
    online.publish(engine, tmp_path / "online", H + timedelta(minutes=15), views=views)

    assert engine.scalar("SELECT user_events_3h FROM features.user_features WHERE feature_ts = ?", [H]) == 3
    example_row = engine.frame("SELECT * FROM training.training_examples").row(0, named=True)
    assert (example_row["user_events_3h"], example_row["user_events_28d"]) == (3, 4)
    assert (
        online.OnlineSnapshot.load(tmp_path / "online", views).lookup("user_features", user_id="u1")["user_events_3h"]
        == 3
    )
    inputs = model_inputs(engine.frame("SELECT * FROM training.training_examples"), views)
    assert inputs["user_events_3h"].tolist() == pytest.approx([math.log1p(3)])
    assert "user_events_3h" not in model_inputs(engine.frame("SELECT * FROM training.training_examples")).columns


def test_a_request_row_from_the_online_snapshot_equals_the_training_example(engine, tmp_path):
    """What the service will compute at request time, from the snapshot and the same request-time
    function, is exactly what the model trained on for the same user, item and time."""
    for n in range(6):
        hour = H - timedelta(hours=6 - n)
        add_event(engine, f"v{n}", "issue_viewed", hour + timedelta(minutes=5), hour, item=f"i{1 + n % 2}")
        add_event(engine, f"c{n}", "issue_commented", hour + timedelta(minutes=7), hour, item="i1")
    build_hours(engine, H - timedelta(hours=6), H - timedelta(hours=1))
    as_of = H + timedelta(minutes=15)  # the snapshot's time is the request's
    for item in ("i1", "i2"):
        impression(engine, f"imp-{item}", as_of, item=item)
    build_examples(engine, H)
    online.publish(engine, tmp_path / "online", as_of)
    requests = pl.DataFrame({"tenant_id": ["t1", "t1"], "user_id": ["u1", "u1"], "item_id": ["i1", "i2"]})
    served = online.OnlineSnapshot.load(tmp_path / "online").request_rows(
        requests.with_columns(ts=pl.lit(as_of), position=pl.lit(0)), "ts"
    )
    trained = engine.frame("SELECT * FROM training.training_examples ORDER BY item_id").with_columns(position=pl.lit(0))

    compared = [c for view in VIEWS for c in (*view.values, view.ts_column)] + [f.name for f in REQUEST_FEATURES]
    compared += ["role", "user_segment", "item_segment", "tenant_size", "product"]
    for column in compared:
        assert served.get_column(column).to_list() == trained.get_column(column).to_list(), column
    assert model_inputs(served).equals(model_inputs(trained))
    assert trained.get_column("pair_interactions_28d").to_list() == [9, 3]  # the rows are not empty


def test_a_request_past_the_ttl_gets_no_view_rows_online_as_offline(engine, tmp_path):
    """The snapshot still holds a key's last row when a request comes later than the TTL; the
    service must then see what the training example sees: no row (a new user, a new pair)."""
    for n in range(3):
        hour = H - timedelta(hours=3 - n)
        add_event(engine, f"v{n}", "issue_viewed", hour + timedelta(minutes=5), hour)
    build_hours(engine, H - timedelta(hours=3), H - timedelta(hours=1))
    as_of = H + timedelta(minutes=15)
    online.publish(engine, tmp_path / "online", as_of)
    late = as_of + USER_FEATURES.ttl + timedelta(hours=1)
    impression(engine, "imp-late", late)
    build_examples(engine, late.replace(minute=0))
    trained = engine.frame("SELECT * FROM training.training_examples WHERE impression_id = 'imp-late'")
    requests = pl.DataFrame({"tenant_id": ["t1", "t1"], "user_id": ["u1", "u1"], "item_id": ["i1", "i1"]})
    served = online.OnlineSnapshot.load(tmp_path / "online").request_rows(
        requests.with_columns(ts=pl.Series([as_of, late])), "ts"
    )
    for view in VIEWS:
        for column in (*view.values, view.ts_column):
            assert served.get_column(column)[1] == trained.get_column(column)[0], column
        assert served.get_column(view.ts_column)[1] is None, view.table  # past the TTL: no row
    assert served.get_column(USER_FEATURES.ts_column)[0] is not None  # within it, the row is used


def test_every_role_the_simulator_produces_reaches_a_nonzero_model_input():
    from dataflywheel.simulator.world import ROLES
    from helpers import random_examples

    examples = random_examples(len(ROLES), seed=0).with_columns(role=pl.Series(ROLES.tolist()))
    inputs = model_inputs(examples)
    for row, role in enumerate(ROLES):
        assert inputs.loc[row, f"role_{role}"] == 1.0, role


def test_pairs_stay_online_as_long_as_the_join_uses_them(engine, tmp_path):
    """Online and offline keep a row for the view's TTL (28 days), pairs included."""
    old = H - timedelta(days=10)
    add_event(engine, "a", "issue_viewed", old + timedelta(minutes=5), old)
    build_hours(engine, old, old)
    online.publish(engine, tmp_path / "online", H)
    pair = online.OnlineSnapshot.load(tmp_path / "online").lookup("user_item_features", user_id="u1", item_id="i1")
    assert pair is not None and pair["pair_interactions_28d"] == 1


def test_the_skew_check_finds_a_key_the_snapshot_lost(engine, tmp_path):
    """Keys are sampled from the offline side too: a key missing online is a mismatch."""
    from dataflywheel.monitoring.debugging import feature_skew

    for n in range(2):
        add_event(engine, f"v{n}", "issue_viewed", H - timedelta(minutes=30), H - timedelta(hours=1), user=f"u{n + 1}")
    build_hours(engine, H - timedelta(hours=1), H - timedelta(hours=1))
    online.publish(engine, tmp_path / "online", H + timedelta(minutes=15))
    path = tmp_path / "online" / "user_features.parquet"
    pl.read_parquet(path).filter(pl.col("user_id") != "u2").write_parquet(path)

    skew = feature_skew(engine, tmp_path / "online", keys_per_table=100, seed=0)
    assert skew.keys_compared["user_features"] == 2
    assert skew.mismatched["user_features.user_events_1d"] == 0.5


def test_a_user_container_row_counts_only_that_containers_items(engine):
    hour = H - timedelta(hours=1)
    for n, minute in enumerate((5, 10, 15)):
        add_event(engine, f"c1-{n}", "issue_viewed", hour + timedelta(minutes=minute), hour, item="i1")
    add_event(engine, "c2-0", "page_viewed", hour + timedelta(minutes=20), hour, item="i3")
    build_hours(engine, hour, hour)
    rows = engine.frame(
        "SELECT container_id, container_interactions_28d, container_last_interaction_ts"
        " FROM features.user_container_features ORDER BY container_id"
    ).rows()
    assert rows == [("c1", 3, hour + timedelta(minutes=15)), ("c2", 1, hour + timedelta(minutes=20))]


def test_a_row_exactly_as_old_as_the_ttl_is_used_online_and_offline(engine, tmp_path):
    old = H - timedelta(days=30)
    add_event(engine, "a", "issue_viewed", old + timedelta(minutes=5), old)
    build_hours(engine, old, old)
    as_of = old + timedelta(hours=1) + USER_FEATURES.publish_delay + USER_FEATURES.ttl  # the edge
    online.publish(engine, tmp_path / "online", as_of)
    served = online.OnlineSnapshot.load(tmp_path / "online").lookup("user_features", user_id="u1")
    requests = f"SELECT 'u1' AS user_id, 'i1' AS item_id, 'c1' AS container_id, TIMESTAMP '{as_of}' AS ts"
    offline = engine.frame(point_in_time_sql(engine, requests, "ts")).row(0, named=True)
    assert served is not None and served["user_events_28d"] == offline["user_events_28d"] == 1


def test_the_served_skew_check_compares_logged_features_with_the_training_example(engine):
    """Impressions the service logged features for are compared with their training examples;
    one whose logged value differs is a mismatch; impressions without logged features (the
    simulator's own policy) are not compared."""
    import orjson

    from dataflywheel.monitoring.debugging import served_skew
    from dataflywheel.ranking.inputs import declared_input_names

    for n in range(3):
        hour = H - timedelta(hours=3 - n)
        add_event(engine, f"v{n}", "issue_viewed", hour + timedelta(minutes=5), hour)
    build_hours(engine, H - timedelta(hours=3), H - timedelta(hours=1))
    for item in ("i1", "i2", "i3"):
        impression(engine, f"imp-{item}", H + timedelta(minutes=20), item=item)
    build_examples(engine, H)
    examples = engine.frame("SELECT * FROM training.training_examples")
    for row in examples.iter_rows(named=True):
        logged = {name: row[name] for name in declared_input_names()}
        if row["impression_id"] == "imp-i2":  # what a skewed service would have scored
            logged["item_views_7d"] = (logged["item_views_7d"] or 0) + 1
        properties = "{}" if row["impression_id"] == "imp-i3" else orjson.dumps({"features": logged}).decode()
        engine.execute(
            """INSERT INTO raw.raw_events BY NAME SELECT ? AS event_id, 'rec_impression' AS event_type,
               ? AS event_ts, ? AS received_ts, 't1' AS tenant_id, 'u1' AS user_id, ? AS item_id,
               'jira_issue' AS item_type, 1 AS schema_version, ? AS properties, ? AS arrival_hour,
               'test' AS source_file""",
            [row["impression_id"], row["impression_ts"], row["impression_ts"], row["item_id"], properties, H],
        )
    skew = served_skew(engine, examples, sample=100, seed=0)
    assert skew.impressions_compared == 2
    assert skew.mismatched["item_views_7d"] == 0.5
    assert {name for name, share in skew.mismatched.items() if share > 0} == {"item_views_7d"}
