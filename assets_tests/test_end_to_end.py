"""The demo path through a real Dagster instance: every partition materialized, checks evaluated,
a late arrival making the late-events sensor request the day it belongs to, and a drift
noticed, retrained on and alerted."""

import pickle
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import numpy as np
import pytest

from dataflywheel import settings
from dataflywheel.defs.lifecycle.sensors import RetrainCursor
from dataflywheel.defs.resources import model_registry
from dataflywheel.demo import run_demo
from dataflywheel.features.examples import load_examples
from dataflywheel.lifecycle.canary import CANARY_TAG, PROMOTED, RUNNING
from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.lifecycle.promotion import trained_through
from dataflywheel.lifecycle.registry import CHALLENGER, CHAMPION, MODEL_NAME, REPLAY, code_version
from dataflywheel.ranking import metrics
from dataflywheel.ranking.ranker import Ranker
from dataflywheel.simulator.config import DriftSchedule, SimulationConfig
from dataflywheel.warehouse.duckdb import DuckDBEngine
from helpers import land_rows, random_examples

pytestmark = pytest.mark.slow

DRIFT_DAY = 3  # Thursday: compared with Tuesday and Wednesday


@pytest.fixture(scope="module")
def demo():
    config = SimulationConfig(
        days=4,
        events_per_day=30_000,
        seed=11,
        start=date(2026, 11, 16),
        drift=DriftSchedule.of_kind("feature", DRIFT_DAY),
    )
    report = run_demo(config, show_progress=False)
    from dataflywheel.definitions import defs

    return config, report, defs, dg.DagsterInstance.get()


def test_every_run_succeeds_and_nothing_is_lost(demo):
    _, report, _, _ = demo
    assert report.failed_runs == []
    t = report.totals
    assert t["landed"] == report.simulation.delivered
    assert t["loaded"] + t["duplicates"] + t["quarantined"] == t["landed"]
    assert sum(report.simulation.malformed.values()) <= t["quarantined"]  # plus redelivered malformed rows
    assert all(n > 0 for n in report.mart_rows.values())


def test_every_asset_is_materialized_and_every_check_evaluated(demo):
    _, _, defs, instance = demo
    graph = defs.resolve_asset_graph()
    # The canary's start runs only for a challenger that passed both gates: see the canary tests.
    for key in graph.get_all_asset_keys() - {dg.AssetKey("challenger_off_policy"), dg.AssetKey("ranker_canary")}:
        assert instance.get_latest_materialization_event(key) is not None, key
    conservation = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("raw_events"), "conservation")]
    )
    assert conservation


def _latest_by_partition(instance, key: dg.AssetKey) -> dict:
    """The newest materialization record of each materialized partition of ``key``."""
    return {
        partition: instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
        ).records[0]
        for partition in instance.get_materialized_partitions(key)
    }


def test_each_learned_hour_has_its_own_metadata_and_loss_stream_verdict(demo):
    """ranker_model learns a catch-up's hours in one run: each hour is still its own partition's
    materialization, with its own metadata, and its own loss-stream check evaluation."""
    _, _, _, instance = demo
    ranker = dg.AssetKey("ranker_model")
    learned = _latest_by_partition(instance, ranker)
    metadata = {hour: record.asset_materialization.metadata for hour, record in learned.items()}
    alarms = {hour: m["loss_stream_alarms"].value for hour, m in metadata.items()}
    records = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION), limit=100_000
    )
    verdicts = {}
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.asset_check_key == dg.AssetCheckKey(ranker, "loss_stream_stable"):
            verdicts.setdefault(evaluation.partition, evaluation.passed)  # newest first
    assert len(alarms) >= 48
    assert verdicts == {hour: n == 0 for hour, n in alarms.items()}
    runs = Counter(record.run_id for record in learned.values())
    assert max(runs.values()) >= 24  # the catch-up learned many hours in one run
    examples = _latest_by_partition(instance, dg.AssetKey("training_examples"))
    rows = [record.asset_materialization.metadata["dagster/row_count"].value for record in examples.values()]
    with DuckDBEngine.open(settings.current().warehouse_path, read_only=True) as engine:
        assert sum(rows) == engine.scalar("SELECT count(*) FROM training.training_examples")  # each hour its own count
    seen = [metadata[hour]["examples_seen"].value for hour in sorted(metadata)]
    assert seen == sorted(seen) and len(set(seen)) > len(seen) // 2  # each hour its own state, growing


def test_a_late_arrival_makes_the_sensor_rebuild_its_day(demo):
    config, _, defs, instance = demo
    day0 = datetime.combine(config.start, datetime.min.time(), tzinfo=timezone.utc)
    arrival = day0 + timedelta(days=config.days, hours=12)  # an hour of its own, after every day was built
    late_search = {"event_id": "late-e2e-1", "event_ts": f"{day0:%Y-%m-%d}T20:00:00.000Z", "tenant_id": "t0"}
    land_rows(settings.current().landing_url, arrival, "late", [late_search])
    result = defs.resolve_job_def("ingest_raw_events").execute_in_process(
        instance=instance, partition_key=f"{arrival:%Y-%m-%d-%H:00}"
    )
    assert result.success

    sensor = defs.resolve_sensor_def("late_events_sensor")
    evaluation = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    requested = {r.job_name: r for r in evaluation.run_requests}
    assert requested.keys() == {"rebuild_event_days", "rebuild_labels"}
    assert requested["rebuild_event_days"].partition_key == f"{day0:%Y-%m-%d}"
    # The labels of the day's 24 impression hours, in one run.
    assert requested["rebuild_labels"].partition_key_range == dg.PartitionKeyRange(
        f"{day0:%Y-%m-%d}-00:00", f"{day0:%Y-%m-%d}-23:00"
    )


def test_the_hourly_model_chain_equals_a_sequential_replay(demo):
    store = ModelStore(settings.current().ranker_chain_dir)
    hours = store.hours()
    assert len(hours) >= 24
    replay = Ranker()
    with DuckDBEngine.open(settings.current().warehouse_path, read_only=True) as engine:
        for hour in hours:
            replay.learn_many(load_examples(engine, hour, hour + timedelta(hours=1)))
        examples = load_examples(engine, hours[0], hours[-1] + timedelta(hours=1))
    chained = pickle.loads(store.path(hours[-1]).read_bytes())  # the chain's own, not a promotion's rebase
    assert chained.examples_seen == replay.examples_seen == examples.height
    np.testing.assert_array_equal(chained.predict(examples)["score"], replay.predict(examples)["score"])


def test_each_hour_records_the_auc_of_the_model_that_served_it_on_its_examples(demo):
    _, _, _, instance = demo
    store = ModelStore(settings.current().ranker_chain_dir)
    hour = store.hours()[30]
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("ranker_model"), asset_partitions=[f"{hour:%Y-%m-%d-%H:00}"]),
        limit=1,
    ).records
    served = pickle.loads(store.path(hour - timedelta(hours=settings.current().serving_lag_hours)).read_bytes())
    with DuckDBEngine.open(settings.current().warehouse_path, read_only=True) as engine:
        examples = load_examples(engine, hour, hour + timedelta(hours=1))
    held_out = metrics.auc(examples.get_column("clicked").to_numpy(), served.predict(examples)["p_click"])
    assert record.asset_materialization.metadata["auc_click"].value == pytest.approx(held_out)


def _learn_hour(defs, instance, hour: datetime):
    return defs.resolve_job_def("hourly_learning").execute_in_process(
        instance=instance, partition_key=f"{hour:%Y-%m-%d-%H:00}", raise_on_error=False
    )


def test_a_gap_is_learned_in_order_when_its_examples_are_built_and_fails_when_not(demo, tmp_path):
    _, _, defs, instance = demo
    store = ModelStore(settings.current().ranker_chain_dir)
    missing = store.hours()[len(store.hours()) // 2]  # an hour with impressions loses its model
    following = missing + timedelta(hours=1)
    probe = random_examples(300, seed=5)
    learned = {h: store.load(h).predict(probe)["score"] for h in (missing, following)}
    aside = tmp_path / "aside.pkl"

    store.path(missing).rename(aside)  # its run still to come: the next hour's run learns it first
    assert _learn_hour(defs, instance, following).success
    for hour in (missing, following):  # the same states as the chain learned them in order
        np.testing.assert_array_equal(store.load(hour).predict(probe)["score"], learned[hour])

    store.path(missing).rename(aside)  # and its examples are not built: nothing to learn it from
    examples = dg.AssetKey("training_examples")
    with DuckDBEngine.open(settings.current().warehouse_path) as engine:
        window = [missing, following]
        engine.execute("DELETE FROM training.training_examples WHERE impression_ts >= ? AND impression_ts < ?", window)
    after = store.path(following).read_bytes()
    try:
        assert not _learn_hour(defs, instance, following).success
        assert store.path(following).read_bytes() == after  # nothing learned past the gap
    finally:
        aside.rename(store.path(missing))
        partition = f"{missing:%Y-%m-%d-%H:00}"
        rebuilt = defs.resolve_job_def("hourly_learning").execute_in_process(
            instance=instance, partition_key=partition, asset_selection=[examples]
        )
        assert rebuilt.success


def test_an_empty_hour_does_not_stall_the_chain(demo):
    _, _, defs, instance = demo
    store = ModelStore(settings.current().ranker_chain_dir)
    last = store.latest_hour()
    after_empty = last + timedelta(hours=2)  # hour last + 1 has no impressions and was never run
    assert _learn_hour(defs, instance, after_empty).success
    assert store.load(after_empty).examples_seen == store.load(last).examples_seen
    assert model_registry().get().alias(CHAMPION).tags["dagster_partition"] == f"{after_empty:%Y-%m-%d-%H:00}"


def test_a_rerun_of_an_old_hour_does_not_move_champion(demo):
    _, _, defs, instance = demo
    registry, store = model_registry().get(), ModelStore(settings.current().ranker_chain_dir)
    champion = registry.alias(CHAMPION).version
    old = store.hours()[3]
    before = pickle.loads(store.path(old).read_bytes())
    result = _learn_hour(defs, instance, old)
    assert result.success
    assert registry.alias(CHAMPION).version == champion
    rerun = registry.version(
        result.asset_materializations_for_node("ranker_model")[0].metadata["registry_version"].value
    )
    assert rerun.tags["registered_as"] == REPLAY
    assert pickle.loads(store.path(old).read_bytes()).examples_seen == before.examples_seen  # the same state again


def test_every_trained_hour_is_a_registry_version_with_its_lineage(demo):
    registry = model_registry().get()
    versions = registry.client.search_model_versions(f"name = '{MODEL_NAME}'")
    hourly = [v for v in versions if v.tags["registered_as"] == CHAMPION]
    hours = ModelStore(settings.current().ranker_chain_dir).hours()
    assert sorted(v.tags["dagster_partition"] for v in hourly) == [f"{h:%Y-%m-%d-%H:00}" for h in hours]
    assert all(v.tags["code_version"] == code_version() and v.tags["training_examples_run_id"] for v in hourly)


def test_each_day_is_evaluated_against_both_baselines(demo):
    config, report, _, _ = demo
    assert set(report.evaluation) == {(config.start + timedelta(days=d)).isoformat() for d in range(config.days)}
    for day_metrics in report.evaluation.values():
        assert {"ndcg_at_10/ranker", "ndcg_at_10/most_popular", "ndcg_at_10/random"} <= set(day_metrics)


def test_the_dbt_docs_site_is_built_and_linked_from_its_asset(demo):
    _, _, _, instance = demo
    event = instance.get_latest_materialization_event(dg.AssetKey("dbt_docs"))
    site = event.asset_materialization.metadata["site"].value
    page = settings.current().home / "dbt_docs" / "static_index.html"
    assert site == page.as_uri()
    assert "fct_rec_impressions" in page.read_text()


def _day(config, d: int) -> str:
    return (config.start + timedelta(days=d)).isoformat()


def test_the_drift_report_flags_the_drift_day_and_not_the_day_before(demo):
    config, report, _, instance = demo
    assert "data_drift" in report.drift[_day(config, DRIFT_DAY)]
    assert report.drift[_day(config, DRIFT_DAY - 1)] == "no drift"
    assert report.drift[_day(config, 0)].startswith("no comparable reference")  # the first day
    event = instance.get_latest_materialization_event(dg.AssetKey("drift_report"))
    report_file = settings.current().drift_reports_dir / f"{event.asset_materialization.partition}.html"
    assert event.asset_materialization.metadata["report"].value == report_file.as_uri() and report_file.exists()


def test_the_sensor_retrained_once_and_registered_a_challenger(demo):
    config, report, _, instance = demo
    [retrain] = report.retrains
    assert retrain.startswith(f"retrain-{_day(config, DRIFT_DAY)}: challenger")
    [run] = instance.get_runs(filters=dg.RunsFilter(job_name="retrain_ranker"))
    assert run.tags["dagster/partition"] == _day(config, DRIFT_DAY)
    challenger = model_registry().get().alias(CHALLENGER)
    assert challenger.tags["dagster_partition"] == _day(config, DRIFT_DAY)
    gate = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("ranker_challenger"), "challenger_not_worse")]
    )
    assert gate


def test_the_alerts_table_tells_what_happened(demo):
    config, report, _, _ = demo
    kinds = [line.split()[1] for line in report.alerts]
    assert kinds.count("drift_confirmed") == 1
    assert "retrain_requested" in kinds
    assert any(f"retrain_ranker {_day(config, DRIFT_DAY)}" in line for line in report.alerts)


def test_the_retrain_sensor_requests_nothing_twice_and_nothing_during_its_cooldown(demo):
    config, _, defs, instance = demo
    sensor = defs.resolve_sensor_def("retrain_sensor")

    def tick(cursor):
        return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs))

    # A fresh cursor: the drift day was retrained by the demo already, so nothing is requested.
    first = tick(None)
    assert first.run_requests == []
    # New evidence for another day, right after a retrain was requested: held by the cooldown.
    day = _day(config, DRIFT_DAY - 1)
    instance.report_runless_asset_event(
        dg.AssetMaterialization("drift_report", partition=day, metadata={"drifted": 1.0, "target_drift": 1.0})
    )
    just_launched = RetrainCursor.parse(first.cursor)
    just_launched.last_launch = time.time()
    held = tick(just_launched.dump())
    assert held.run_requests == [] and "cooldown" in held.skip_message
    # The same evidence once the cooldown is over: one request, keyed by the day; then nothing.
    requested = tick(first.cursor)
    assert [(r.run_key, r.partition_key) for r in requested.run_requests] == [(f"retrain-{day}", day)]
    assert tick(requested.cursor).run_requests == []


def test_the_quality_gate_keeps_a_degraded_challenger_from_promotion(demo):
    config, _, defs, instance = demo
    registry = model_registry().get()
    champion_before = registry.alias(CHAMPION).version
    degraded = {"ops": {"ranker_challenger": {"config": {"learning_rate": 50.0}}}}  # diverges
    result = defs.resolve_job_def("retrain_ranker").execute_in_process(
        instance=instance, partition_key=_day(config, DRIFT_DAY), run_config=degraded, raise_on_error=False
    )
    [gate] = result.get_asset_check_evaluations()
    assert gate.check_name == "challenger_not_worse" and not gate.passed
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [dg.AssetKey("ranker_challenger")]
    assert registry.alias(CHAMPION).version == champion_before  # not promoted
    assert registry.alias(CHALLENGER).tags["dagster_run_id"] == result.run_id  # registered, to be looked at
    assert CANARY_TAG not in registry.alias(CHALLENGER).tags  # no canary: no user sees it


def test_served_features_match_the_offline_join(demo):
    _, _, _, instance = demo
    [check] = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("model_debugging"), "online_matches_offline")]
    ).values()
    assert check.evaluation.passed
    metadata = instance.get_latest_materialization_event(dg.AssetKey("model_debugging")).asset_materialization.metadata
    assert metadata["keys_compared"].value["user_features"] > 0
    assert "| user_segment | new |" in metadata["calibration_by_segment"].value


def test_a_promotion_makes_the_next_hour_continue_from_the_promoted_model(demo, monkeypatch):
    config, _, defs, instance = demo
    registry, store = model_registry().get(), ModelStore(settings.current().ranker_chain_dir)
    latest = store.latest_hour()
    own = pickle.loads(store.path(latest).read_bytes())
    # A lenient quality gate (the strict gate's path is tested above) lets the challenger through.
    monkeypatch.setenv("DATAFLYWHEEL_GATE_AUC_TOLERANCE", "1")
    monkeypatch.setenv("DATAFLYWHEEL_GATE_LOG_LOSS_TOLERANCE", "100")
    defs.resolve_job_def("retrain_ranker").execute_in_process(
        instance=instance, partition_key=_day(config, DRIFT_DAY), raise_on_error=False
    )
    challenger = registry.alias(CHALLENGER)
    # The canary's decision is tested in the closed loop (test_canary.py); here, what its promotion does.
    registry.client.set_model_version_tag(MODEL_NAME, challenger.version, CANARY_TAG, RUNNING)
    conclude = defs.resolve_job_def("conclude_canary_job")
    run_config = {
        "ops": {
            "conclude_canary": {"config": {"version": str(challenger.version), "action": "promote", "reason": "test"}}
        }
    }
    assert conclude.execute_in_process(instance=instance, run_config=run_config).success
    champion = registry.alias(CHAMPION)
    assert registry.version(challenger.version).tags[CANARY_TAG] == PROMOTED
    assert trained_through(champion) >= latest  # caught up to the chain's head
    # Concluding the same canary again changes nothing.
    assert conclude.execute_in_process(instance=instance, run_config=run_config).success
    assert registry.alias(CHAMPION).version == champion.version
    promoted = store.load(latest)
    assert promoted.examples_seen < own.examples_seen  # a recent window, caught up: not the whole chain

    next_hour = latest + timedelta(hours=1)
    assert (
        defs.resolve_job_def("hourly_learning")
        .execute_in_process(instance=instance, partition_key=f"{next_hour:%Y-%m-%d-%H:00}")
        .success
    )
    assert store.load(next_hour).examples_seen == promoted.examples_seen  # an empty hour: nothing new learned
    assert registry.alias(CHAMPION).tags["dagster_partition"] == f"{next_hour:%Y-%m-%d-%H:00}"


def test_a_rollback_restores_the_replaced_champion_caught_up_to_the_head(demo):
    from dataflywheel.cli import main

    registry, store = model_registry().get(), ModelStore(settings.current().ranker_chain_dir)
    *earlier, replaced = registry.champion_history()  # the promotion above replaced it
    head = store.latest_hour()
    assert main(["rollback", "--reason", "worse online"]) == 0  # a Dagster run in the duckdb pool
    champion = registry.alias(CHAMPION)
    assert (champion.tags["caught_up_from"], champion.tags["caught_up_through"]) == (replaced, str(head))
    through = datetime.strptime(registry.version(replaced).tags["dagster_partition"], "%Y-%m-%d-%H:%M")
    assert registry.version(replaced).tags["trained_through"] == str(through)
    with DuckDBEngine.open(settings.current().warehouse_path, read_only=True) as engine:
        since = load_examples(engine, through + timedelta(hours=1), head + timedelta(hours=1)).height
    assert store.load(head).examples_seen == registry.load(replaced).examples_seen + since
    assert registry.champion_history() == earlier  # one step back; the next rollback goes further


def _step_spans(instance, run_id: str) -> dict[str, tuple[float, float]]:
    """Each step of a run: (start, end) timestamps from its event log."""
    starts = {e.step_key: e.timestamp for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}
    ends = {
        e.step_key: e.timestamp
        for kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)
        for e in instance.all_logs(run_id, of_type=kind)
    }
    return {step: (start, ends[step]) for step, start in starts.items()}


def _wait_for_step(instance, job: str, step: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for run in instance.get_runs(dg.RunsFilter(job_name=job, statuses=[dg.DagsterRunStatus.STARTED])):
            if any(e.step_key == step for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)):
                return
        time.sleep(0.02)
    raise TimeoutError(f"no {job} run started step {step} within {timeout_s} s")


def test_a_promotion_launched_while_an_hour_learns_waits_for_its_steps_and_is_not_undone(demo):
    from dataflywheel.cli import main

    _, _, defs, instance = demo
    registry, store = model_registry().get(), ModelStore(settings.current().ranker_chain_dir)
    hour = store.latest_hour() + timedelta(hours=1)  # the next head (an empty hour: learns nothing new)
    operator_pick = Ranker()
    operator_pick.learn_many(random_examples(3000, seed=21))
    version = registry.register(operator_pick, {"dagster_partition": "manual"}, {}).version
    learning = []
    thread = threading.Thread(target=lambda: learning.append(_learn_hour(defs, instance, hour)))
    thread.start()
    _wait_for_step(instance, "hourly_learning", "label_models")  # the hour's dbt step holds the pool now
    assert main(["promote", str(version), "--reason", "operator's pick"]) == 0
    thread.join()
    [learned] = learning
    assert learned.success
    [promotion] = instance.get_runs(dg.RunsFilter(job_name="promote_champion_job"), limit=1)
    promote_start, promote_end = _step_spans(instance, promotion.run_id)["promote_champion"]
    for start, end in _step_spans(instance, learned.run_id).values():  # yet no step of the hour ran beside it
        assert end <= promote_start or start >= promote_end
    # Whichever went first, the chain's head continues the promoted model and the alias agrees.
    probe = random_examples(500, seed=22)
    head = store.load(hour).predict(probe)["score"]
    np.testing.assert_array_equal(head, operator_pick.predict(probe)["score"])
    np.testing.assert_array_equal(head, registry.load(registry.alias(CHAMPION).version).predict(probe)["score"])


# --- Serving on the demo's home: its online snapshot and its champion -----------------------------


def _serving_config(tmp_path):
    """The demo home's snapshot and registry, with a landing zone and a registry database of the
    test's own (what the service writes, and alias moves, stay out of the other tests' way)."""
    import dataclasses
    import shutil

    home = settings.current()
    shutil.copy(home.home / "mlflow" / "mlflow.db", tmp_path / "mlflow.db")
    return dataclasses.replace(
        home, landing_url=str(tmp_path / "landing"), mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"
    )


def test_recommendations_never_cross_tenants(demo, tmp_path):
    import polars as pl
    from fastapi.testclient import TestClient

    from dataflywheel.features.online import ITEM_DIRECTORY, USER_DIRECTORY, OnlineSnapshot
    from dataflywheel.ingest.landing import list_event_files, parse_hour_key
    from dataflywheel.ingest.raw_events import ingest_hour
    from dataflywheel.serving.app import create_app
    from dataflywheel.serving.keys import ApiKeys

    config = _serving_config(tmp_path)
    snapshot = OnlineSnapshot.load(config.online_features_dir)
    tenant_of_item = dict(snapshot.tables[ITEM_DIRECTORY].select("item_id", "tenant_id").iter_rows())
    users = snapshot.tables[USER_DIRECTORY].select("user_id", "tenant_id")
    tenants = users.group_by("tenant_id").len().sort("len", descending=True).get_column("tenant_id").head(4).to_list()
    keys = {t: ApiKeys(config.api_keys_path).create(t) for t in tenants}
    rng = np.random.default_rng(17)
    served, outcomes = {}, Counter()
    with TestClient(create_app(config)) as client:
        for _ in range(80):
            key_tenant = tenants[rng.integers(len(tenants))]
            user_tenant = tenants[rng.integers(len(tenants))]
            pool = users.filter(pl.col("tenant_id") == user_tenant).get_column("user_id")
            user = pool[int(rng.integers(pool.len()))] if rng.random() < 0.9 else f"brand-new-{rng.integers(1e9)}"
            reply = client.post(
                "/v1/recommendations", json={"user_id": user, "k": 10}, headers={"X-API-Key": keys[key_tenant]}
            )
            known_elsewhere = not user.startswith("brand-new") and user_tenant != key_tenant
            assert reply.status_code == (403 if known_elsewhere else 200), (user, key_tenant, user_tenant)
            outcomes[reply.status_code] += 1
            if reply.status_code == 200:
                body = reply.json()
                assert body["items"] and {tenant_of_item[i["item_id"]] for i in body["items"]} == {key_tenant}
                served[body["request_id"]] = {(i["item_id"], i["position"], i["propensity"]) for i in body["items"]}
    assert outcomes[200] > 20 and outcomes[403] > 20  # both sides of the rule were exercised

    # Every served list came back through the collector as impressions the warehouse accepts.
    with DuckDBEngine.open(tmp_path / "warehouse.duckdb") as engine:
        for hour in list_event_files(config.landing_url):
            assert ingest_hour(engine, config.landing_url, parse_hour_key(hour).replace(tzinfo=None)).quarantined == 0
        logged = engine.frame(
            "SELECT rec_request_id, item_id, position, propensity FROM raw.raw_events "
            "WHERE event_type = 'rec_impression'"
        )
    by_request = {}
    for request_id, item, position, propensity in logged.iter_rows():
        by_request.setdefault(request_id, set()).add((item, position, propensity))
    assert by_request == served


def test_the_service_follows_the_champion_without_failing_a_request(demo, tmp_path):
    from fastapi.testclient import TestClient

    from dataflywheel.features.online import USER_DIRECTORY, OnlineSnapshot
    from dataflywheel.lifecycle.registry import Registry
    from dataflywheel.serving.app import Limits, create_app
    from dataflywheel.serving.keys import ApiKeys

    config = _serving_config(tmp_path)
    user, tenant = OnlineSnapshot.load(config.online_features_dir).tables[USER_DIRECTORY].row(0)[:3:2]
    key = ApiKeys(config.api_keys_path).create(tenant)
    registry = Registry(config.mlflow_uri, config.mlflow_artifact_root)
    before = registry.alias(CHAMPION).version
    earlier = str(int(before) - 5)
    statuses, versions, stop = Counter(), set(), threading.Event()
    with TestClient(create_app(config, Limits(deployment_refresh_s=0.2))) as client:

        def load():
            while not stop.is_set():
                reply = client.post("/v1/recommendations", json={"user_id": user, "k": 5}, headers={"X-API-Key": key})
                statuses[reply.status_code] += 1
                versions.add(reply.json().get("model_version"))

        workers = [threading.Thread(target=load) for _ in range(3)]
        for w in workers:
            w.start()
        time.sleep(1.0)
        registry.promote(earlier, reason="reload test")  # the alias moves while requests run
        deadline = time.monotonic() + 30
        while earlier not in versions and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        for w in workers:
            w.join()
    assert set(statuses) == {200} and statuses[200] > 20
    assert {str(before), earlier} <= versions  # served by both, one after the other


def test_a_batch_of_requests_gets_the_lists_each_would_get_alone(demo):
    """The service scores waiting requests together; that must change nothing in any list:
    users of several tenants, a brand-new user, two surfaces and list lengths in one batch."""
    import dataclasses

    import polars as pl

    from dataflywheel.features.online import USER_DIRECTORY
    from dataflywheel.serving.deployed import Deployed
    from dataflywheel.serving.recommend import Ask, Policy

    policy = dataclasses.replace(Policy(), epsilon=0.0)  # no exploration: the lists are the policy's, not chance's
    deployed = Deployed(settings.current().online_features_dir, model_registry().get(), policy)
    deployed.refresh()
    deployment = deployed.current
    users = deployment.snapshot.tables[USER_DIRECTORY].select("user_id", "tenant_id")
    largest = users.group_by("tenant_id").len().sort("len", descending=True).get_column("tenant_id").head(3)
    of_largest = users.filter(pl.col("tenant_id").is_in(largest.implode())).sort("user_id")
    picked = of_largest.group_by("tenant_id", maintain_order=True).head(5).select("user_id", "tenant_id")
    asks = [
        Ask(tenant, user, ("home_feed", "notification")[n % 2], 5 + n % 6, deployment.snapshot_as_of)
        for n, (user, tenant) in enumerate(picked.iter_rows())
    ]
    asks.append(Ask(asks[0].tenant_id, "brand-new-user", "home_feed", 10, deployment.snapshot_as_of))
    rng = np.random.default_rng(0)
    together = deployment.recommend(asks, rng, policy)
    alone = [deployment.recommend([ask], rng, policy)[0] for ask in asks]
    assert len({ask.tenant_id for ask in asks}) > 1
    for batched, single in zip(together, alone):
        assert batched.items and batched.items == single.items
        assert batched.rows.equals(single.rows)
    assert pl.Series([len(r.items) for r in together]).n_unique() > 1  # the lengths asked for, per request


class FailingRanker(Ranker):
    """A challenger broken as a deploy can be: it fails on every request."""

    def predict(self, examples, position=None):
        raise RuntimeError("broken challenger")


def test_the_canary_sensor_acts_on_a_decisive_verdict_even_when_a_later_one_landed_before_its_tick(demo):
    """Verdicts land every hour; the sensor ticks once a minute at best, and a slow tick may find
    several: a promotion followed by an undecided verdict is still carried out, once."""
    _, _, defs, instance = demo
    registry = model_registry().get()
    version = str(registry.register(registry.load(registry.alias(CHAMPION).version), {}, {}, alias=CHALLENGER).version)
    sensor = defs.resolve_sensor_def("canary_sensor")

    def tick(cursor: str | None):
        return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor))

    def verdict(action: str, reasons: str) -> None:
        metadata = {"challenger_version": int(version), "action": action, "reasons": reasons, "challenger_lists": 300}
        instance.report_runless_asset_event(dg.AssetMaterialization("canary_verdict", metadata=metadata))

    try:
        registry.client.set_model_version_tag(MODEL_NAME, version, CANARY_TAG, RUNNING)
        cursor = tick(None).cursor  # every verdict so far read
        verdict("promote", "clicks per list +0.300")
        verdict("continue", "no decision yet")
        acted = tick(cursor)
        assert [r.run_config["ops"]["conclude_canary"]["config"] for r in acted.run_requests] == [
            {"version": version, "action": "promote", "reason": "clicks per list +0.300"}
        ]
        assert tick(acted.cursor).run_requests == []  # read once
    finally:
        registry.client.set_model_version_tag(MODEL_NAME, version, CANARY_TAG, "ended")


def test_a_canary_serves_its_share_of_users_and_a_failing_challenger_costs_no_request(demo):
    from dataflywheel.features.online import USER_DIRECTORY
    from dataflywheel.lifecycle.canary import SHARE_TAG, in_canary
    from dataflywheel.serving.deployed import Deployed, recommend_admitted
    from dataflywheel.serving.recommend import Ask, Policy

    config, registry = settings.current(), model_registry().get()
    champion = registry.alias(CHAMPION)
    deployed = Deployed(config.online_features_dir, registry, Policy())

    def start_canary(model: Ranker) -> str:
        version = registry.register(model, {"test": "canary"}, {}, alias=CHALLENGER).version
        registry.client.set_model_version_tag(MODEL_NAME, version, CANARY_TAG, RUNNING)
        registry.client.set_model_version_tag(MODEL_NAME, version, SHARE_TAG, "0.5")
        deployed.refresh()
        return str(version)

    def serve() -> dict[str, tuple[str, str | None]]:
        admitted = [(deployed.for_user(user), Ask(tenant, user, "home_feed", 5, now)) for user, tenant in users]
        served = recommend_admitted(admitted, np.random.default_rng(0), Policy())
        return {ask.user_id: (r.model_version, r.fallback_from) for (_, ask), r in zip(admitted, served)}

    try:
        failing = start_canary(FailingRanker())
        now = deployed.current.snapshot_as_of
        users = deployed.current.snapshot.tables[USER_DIRECTORY].select("user_id", "tenant_id").head(60).rows()
        canary_users = {user for user, _ in users if in_canary(user, failing, 0.5)}
        assert 10 < len(canary_users) < 50
        served = serve()
        assert served == {
            user: (str(champion.version), failing if user in canary_users else None) for user, _ in users
        }  # every request answered; the canary's users by the champion, marked
        healthy = start_canary(registry.load(champion.version))
        canary_users = {user for user, _ in users if in_canary(user, healthy, 0.5)}
        expected = {user: (healthy if user in canary_users else str(champion.version), None) for user, _ in users}
        assert serve() == expected == serve()  # each user stays in their arm
    finally:
        registry.client.set_model_version_tag(MODEL_NAME, registry.alias(CHALLENGER).version, CANARY_TAG, "ended")


def test_served_features_are_the_training_examples_features_of_the_same_impressions(demo, tmp_path):
    """What the service logged for each shown item (the features it scored on) is what the
    platform, turning by itself, later puts in that impression's training example, and a click
    sent to the collector becomes its label: served lists and events land through the
    collector, and the sensors and automation take them through raw_events, the marts and the
    features to the training examples. Runs last: it adds hours to the demo's home."""
    import json

    import polars as pl
    from fastapi.testclient import TestClient

    from dataflywheel.contracts.schema import wire_timestamp
    from dataflywheel.demo import SENSORS
    from dataflywheel.features.online import ITEM_DIRECTORY, USER_DIRECTORY
    from dataflywheel.ranking.inputs import declared_input_names
    from dataflywheel.serving.app import create_app
    from dataflywheel.serving.deployed import Deployed
    from dataflywheel.serving.keys import ApiKeys
    from dataflywheel.serving.recommend import Policy
    from dataflywheel.ticking import InProcessDaemon

    _, _, defs, instance = demo
    config = settings.current()
    deployed = Deployed(config.online_features_dir, model_registry().get(), Policy())
    deployed.refresh()
    # The platform's clock: just after the snapshot's publication, then the hours labels need.
    clock = [deployed.current.snapshot_as_of.replace(tzinfo=timezone.utc) + timedelta(minutes=1)]
    users = deployed.current.snapshot.tables[USER_DIRECTORY].select("user_id", "tenant_id")
    item_types = dict(deployed.current.snapshot.tables[ITEM_DIRECTORY].select("item_id", "item_type").iter_rows())
    tenant = users.group_by("tenant_id").len().sort("len", descending=True).item(0, "tenant_id")
    headers = {"X-API-Key": ApiKeys(config.api_keys_path).create(tenant)}
    served = {}
    with TestClient(create_app(config, clock=lambda: clock[0])) as client:
        for user in users.filter(pl.col("tenant_id") == tenant).get_column("user_id").head(25):
            reply = client.post("/v1/recommendations", json={"user_id": user, "k": 8}, headers=headers)
            assert reply.status_code == 200
            served[reply.json()["request_id"]] = (user, reply.json()["items"])
        clicked_request, (user, items) = next(iter(served.items()))
        for hours in (1, 2):  # the next two arrival hours: a click on a served item, then some search
            clock[0] += timedelta(hours=1)
            event = {
                "event_id": f"test-{hours}-{clicked_request}",
                "event_ts": wire_timestamp(clock[0]),
                "tenant_id": tenant,
                "user_id": user,
                "schema_version": 1,
            }
            if hours == 1:
                item = items[0]["item_id"]
                event |= {"event_type": "rec_click", "surface": "home_feed", "item_id": item, "dwell_ms": 4000}
                event |= {"item_type": item_types[item], "rec_request_id": clicked_request, "position": 0}
                event |= {"model_version": deployed.current.model_version}
            else:
                event |= {"event_type": "search_performed", "surface": "search"}
            assert client.post("/v1/events", json={"events": [event]}, headers=headers).json()["accepted"] == 1
    # Leaving the client closes the log and lands it; from here on, only the platform's own automation.
    with open(tmp_path / "runs.log", "w") as log:
        runs = InProcessDaemon(defs, instance, log, SENSORS).until_quiet()
    assert runs and all(run.success for run in runs), [run.name for run in runs if not run.success]

    with DuckDBEngine.open(config.warehouse_path, read_only=True) as engine:
        ids = ", ".join(f"'{request_id}'" for request_id in served)
        impressions = engine.frame(
            "SELECT rec_request_id, position, properties FROM raw.raw_events "
            f"WHERE event_type = 'rec_impression' AND rec_request_id IN ({ids})"
        )
        examples = engine.frame(f"SELECT * FROM training.training_examples WHERE rec_request_id IN ({ids})")
    assert examples.height == impressions.height == sum(len(items) for _, items in served.values())
    trained = {(row["rec_request_id"], row["position"]): row for row in examples.iter_rows(named=True)}
    nonzero = 0
    for request_id, position, properties in impressions.iter_rows():
        features = json.loads(properties)["features"]
        assert set(features) == set(declared_input_names())
        example = trained[(request_id, position)]
        assert features == {name: example[name] for name in declared_input_names()}, (request_id, position)
        nonzero += sum(value not in (None, 0, False) for value in features.values())
    assert nonzero > 0  # real feature values were compared, not only empty rows
    assert {key for key, row in trained.items() if row["clicked"]} == {(clicked_request, 0)}
    # The debugging report judges calibration on this served traffic by the predictions it was served with.
    debug = defs.resolve_job_def("debug_model").execute_in_process(instance=instance, raise_on_error=False)
    assert debug.success
    table = instance.get_latest_materialization_event(dg.AssetKey("model_debugging")).asset_materialization
    assert "| predicted_by | service |" in table.metadata["calibration_by_segment"].value
