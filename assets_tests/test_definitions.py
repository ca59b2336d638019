"""The Dagster code location: loads, and every asset is owned, grouped, described and has freshness."""

import dagster as dg
import pytest

from dataflywheel.definitions import defs

GRAPH = defs.resolve_asset_graph()
ASSET_KEYS = sorted(GRAPH.get_all_asset_keys(), key=lambda k: k.to_user_string())


def test_one_lineage_graph_from_landing_to_marts():
    upstream = GRAPH.get(dg.AssetKey("fct_rec_impressions")).parent_keys
    assert dg.AssetKey("stg_events") in upstream
    assert dg.AssetKey("raw_events") in GRAPH.get(dg.AssetKey("stg_events")).parent_keys
    assert dg.AssetKey("landing_events") in GRAPH.get(dg.AssetKey("raw_events")).parent_keys
    assert {"dim_users", "dim_items", "int_sessions", "fct_item_daily_engagement", "agg_tenant_daily_activity"} <= {
        k.to_user_string() for k in ASSET_KEYS
    }


@pytest.mark.parametrize("key", ASSET_KEYS, ids=lambda k: k.to_user_string())
def test_every_asset_has_group_owner_kinds_description_and_freshness(key):
    node = GRAPH.get(key)
    assert node.group_name in {"ingestion", "transform", "features", "training", "monitoring"}
    assert node.owners
    assert node.kinds
    assert node.description
    assert node.freshness_policy is not None


def test_duckdb_steps_share_one_pool():
    executable = [a for a in GRAPH.assets_defs if a.is_executable]
    assert len(executable) >= 4
    for assets_def in executable:
        assert assets_def.op.pool == "duckdb", assets_def.keys


def test_conservation_is_a_blocking_check_on_raw_events():
    spec = next(s for s in GRAPH.get(dg.AssetKey("raw_events")).assets_def.check_specs if s.name == "conservation")
    assert spec.blocking


def test_dbt_tests_are_asset_checks():
    checks = {key.name for key in GRAPH.asset_check_keys}
    assert "unique_fct_rec_impressions_impression_id" in checks
    assert any(name.startswith("relationships_fct_rec_impressions_user_id") for name in checks)


def test_partitions_follow_the_two_clocks():
    assert isinstance(GRAPH.get(dg.AssetKey("raw_events")).partitions_def, dg.HourlyPartitionsDefinition)
    assert isinstance(GRAPH.get(dg.AssetKey("fct_rec_impressions")).partitions_def, dg.DailyPartitionsDefinition)
    assert GRAPH.get(dg.AssetKey("dim_users")).partitions_def is None


def test_the_model_chain_depends_on_its_own_previous_hour():
    deps = GRAPH.get(dg.AssetKey("ranker_model")).assets_def.specs_by_key[dg.AssetKey("ranker_model")].deps
    mapping = next(d.partition_mapping for d in deps if d.asset_key == dg.AssetKey("ranker_model"))
    assert (mapping.start_offset, mapping.end_offset) == (-1, -1)


def test_training_examples_use_only_features_published_before_their_hour():
    deps = GRAPH.get(dg.AssetKey("training_examples")).assets_def.specs_by_key[dg.AssetKey("training_examples")].deps
    feature_deps = [d for d in deps if d.asset_key.to_user_string().endswith("_features")]
    assert len(feature_deps) == 4
    assert all(d.partition_mapping.start_offset == -1 for d in feature_deps)
