"""The demo path through a real Dagster instance: every partition materialized, checks evaluated,
and a late arrival making the late-events sensor request the day it belongs to."""

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import numpy as np
import pytest

from dataflywheel import settings
from dataflywheel.defs.resources import model_registry
from dataflywheel.demo import run_demo
from dataflywheel.events.warehouse import connect
from dataflywheel.ml.examples import load_examples
from dataflywheel.ml.model_store import HOUR_FORMAT, ModelStore
from dataflywheel.ml.ranker import Ranker
from dataflywheel.ml.registry import CHALLENGER, CHAMPION, MODEL_NAME, code_version
from dataflywheel.simulator.config import SimulationConfig
from helpers import land_rows


@pytest.fixture(scope="module")
def demo():
    config = SimulationConfig(days=2, events_per_day=30_000, seed=11, start=date(2026, 11, 17))
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
    for key in graph.get_all_asset_keys():
        assert instance.get_latest_materialization_event(key) is not None, key
    conservation = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("raw_events"), "conservation")]
    )
    assert conservation


def test_a_late_arrival_makes_the_sensor_rebuild_its_day(demo):
    config, _, defs, instance = demo
    day0 = datetime.combine(config.start, datetime.min.time(), tzinfo=timezone.utc)
    arrival = day0 + timedelta(days=config.days, hours=12)  # an hour of its own, after every day was built
    late_search = {"event_id": "late-e2e-1", "event_ts": f"{day0:%Y-%m-%d}T20:00:00.000Z", "tenant_id": "t0"}
    land_rows(settings.landing_url(), arrival, "late", [late_search])
    result = defs.resolve_job_def("ingest_raw_events").execute_in_process(
        instance=instance, partition_key=f"{arrival:%Y-%m-%d-%H:00}"
    )
    assert result.success

    sensor = defs.resolve_sensor_def("late_events_sensor")
    evaluation = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert [r.partition_key for r in evaluation.run_requests] == [f"{day0:%Y-%m-%d}"]


def _saved_hours(store) -> list[datetime]:
    return sorted(datetime.strptime(p.stem, HOUR_FORMAT) for p in store.root.glob("*.pkl"))


def test_the_hourly_model_chain_equals_a_sequential_replay(demo):
    store = ModelStore(settings.models_dir() / "ranker")
    hours = _saved_hours(store)
    assert len(hours) >= 24
    replay = Ranker()
    with connect(settings.warehouse_path(), read_only=True) as con:
        for hour in hours:
            replay.learn_many(load_examples(con, hour, hour + timedelta(hours=1)))
        examples = load_examples(con, hours[0], hours[-1] + timedelta(hours=1))
    chained = store.load(hours[-1])
    assert chained.examples_seen == replay.examples_seen == examples.height
    np.testing.assert_array_equal(chained.predict(examples)["score"], replay.predict(examples)["score"])


def test_each_hour_records_its_progressive_validation_metrics(demo):
    _, _, _, instance = demo
    records = instance.fetch_materializations(dg.AssetKey("ranker_model"), limit=1000).records
    aucs = [r.asset_materialization.metadata.get("auc_click") for r in records]
    measured = [a.value for a in aucs if a is not None]
    assert len(measured) >= 24
    assert all(0.0 <= a <= 1.0 for a in measured)


def test_a_gap_in_the_chain_fails_instead_of_starting_over(demo):
    _, _, defs, instance = demo
    store = ModelStore(settings.models_dir() / "ranker")
    last = _saved_hours(store)[-1]
    skipped = last + timedelta(hours=2)  # hour last + 1 was never trained
    result = defs.resolve_job_def("hourly_learning").execute_in_process(
        instance=instance, partition_key=f"{skipped:%Y-%m-%d-%H:00}", raise_on_error=False
    )
    assert not result.success
    assert store.load(skipped) is None


def test_every_trained_hour_is_a_registry_version_with_its_lineage(demo):
    registry = model_registry().get()
    versions = registry.client.search_model_versions(f"name = '{MODEL_NAME}'")
    hours = _saved_hours(ModelStore(settings.models_dir() / "ranker"))
    assert sorted(v.tags["dagster_partition"] for v in versions) == [f"{h:%Y-%m-%d-%H:00}" for h in hours]
    assert all(v.tags["code_version"] == code_version() and v.tags["training_examples_run_id"] for v in versions)
    newest = max(versions, key=lambda v: int(v.version))
    assert registry.alias(CHALLENGER).version == newest.version
    assert registry.alias(CHAMPION) is not None


def test_each_day_is_evaluated_against_both_baselines(demo):
    config, report, _, _ = demo
    assert set(report.evaluation) == {(config.start + timedelta(days=d)).isoformat() for d in range(config.days)}
    for metrics in report.evaluation.values():
        assert {"ndcg_at_10/ranker", "ndcg_at_10/most_popular", "ndcg_at_10/random"} <= set(metrics)
        assert metrics["ndcg_margin_over_most_popular"] == pytest.approx(
            metrics["ndcg_at_10/ranker"] - metrics["ndcg_at_10/most_popular"]
        )


def test_the_dbt_docs_site_is_built_and_linked_from_its_asset(demo):
    _, _, _, instance = demo
    event = instance.get_latest_materialization_event(dg.AssetKey("dbt_docs"))
    site = event.asset_materialization.metadata["site"].value
    page = settings.home() / "dbt_docs" / "static_index.html"
    assert site == page.as_uri()
    assert "fct_rec_impressions" in page.read_text()
