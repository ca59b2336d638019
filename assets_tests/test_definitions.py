"""The Dagster code location: loads, and every asset is owned, grouped, described and has freshness."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dataflywheel import settings
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
    # A view holds no data of its own: it is as fresh as its inputs, so it has no policy.
    view = node.automation_condition is not None and node.automation_condition.get_label() == "when_missing_or_changed"
    assert (node.freshness_policy is not None) != view


def test_warehouse_steps_share_one_pool():
    """Every step that opens the warehouse (directly, or through dbt) takes the one `duckdb` slot."""
    warehouse_steps = [
        a for a in GRAPH.assets_defs if a.is_executable and {"warehouse", "dbt"} & set(a.required_resource_keys)
    ]
    assert len(warehouse_steps) >= 10
    for assets_def in warehouse_steps:
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
    assert isinstance(GRAPH.get(dg.AssetKey("agg_tenant_daily_activity")).partitions_def, dg.DailyPartitionsDefinition)
    assert GRAPH.get(dg.AssetKey("dim_users")).partitions_def is None


def test_an_impression_hour_is_labelled_once_its_labels_are_mature():
    """Labels are hourly (the hourly learning path does not wait for the day), and hour h's wait for
    the arrival hours up to h + label_delay_hours (clicks arrive after their impressions)."""
    labels = dg.AssetKey("fct_rec_impressions")
    assert GRAPH.get(labels).partitions_def == GRAPH.get(dg.AssetKey("raw_events")).partitions_def
    mapping = GRAPH.get_partition_mapping(labels, dg.AssetKey("raw_events"))
    assert (mapping.start_offset, mapping.end_offset) == (0, settings.current().label_delay_hours)
    examples = GRAPH.get_partition_mapping(dg.AssetKey("training_examples"), labels)
    assert (examples.start_offset, examples.end_offset) == (0, 0)


def test_the_model_chain_depends_on_its_own_previous_hour():
    deps = GRAPH.get(dg.AssetKey("ranker_model")).assets_def.specs_by_key[dg.AssetKey("ranker_model")].deps
    mapping = next(d.partition_mapping for d in deps if d.asset_key == dg.AssetKey("ranker_model"))
    assert (mapping.start_offset, mapping.end_offset) == (-1, -1)


def test_training_examples_use_only_features_published_before_their_hour():
    deps = GRAPH.get(dg.AssetKey("training_examples")).assets_def.specs_by_key[dg.AssetKey("training_examples")].deps
    feature_deps = [d for d in deps if d.asset_key.to_user_string().endswith("_features")]
    assert len(feature_deps) == 4
    assert all(d.partition_mapping.start_offset == -1 for d in feature_deps)


def _import_definitions(home, **environ) -> str:
    """Import the definitions in a fresh process on ``home``; what it printed."""
    code = (
        "from dataflywheel.definitions import defs; import dagster as dg; "
        "spec = next(s for s in defs.resolve_asset_graph().get(dg.AssetKey('raw_events')).assets_def.check_specs "
        "if s.name == 'volume_vs_last_week'); print(spec.description)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAFLYWHEEL_", "DAGSTER_HOME", "DBT_"))}
    env |= {"DATAFLYWHEEL_HOME": str(home), **environ}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def _files(root) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_importing_the_definitions_writes_nothing(tmp_path):
    """Set-up (the manifest, Dagster's configuration) is `make setup`'s; loading the code only reads."""
    home = tmp_path / "home"
    (home / "dbt" / "target").mkdir(parents=True)
    shutil.copy(settings.current().dbt_target_path / "manifest.json", home / "dbt" / "target" / "manifest.json")
    before = _files(home)
    _import_definitions(home)
    assert _files(home) == before
    assert not (home / "dagster" / "dagster.yaml").exists()


def test_descriptions_quote_the_settings_users_tune(tmp_path):
    home = tmp_path / "home"
    (home / "dbt" / "target").mkdir(parents=True)
    shutil.copy(settings.current().dbt_target_path / "manifest.json", home / "dbt" / "target" / "manifest.json")
    assert "0.8x-1.25x" in _import_definitions(home, DATAFLYWHEEL_VOLUME_TOLERANCE="0.2")


def test_settings_read_every_knob_from_the_environment():
    configured = settings.Settings.from_env(
        {
            "DATAFLYWHEEL_HOME": "/tmp/elsewhere",
            "DATAFLYWHEEL_VOLUME_TOLERANCE": "0.3",
            "DATAFLYWHEEL_GATE_LOG_LOSS_TOLERANCE": "0.05",
            "DATAFLYWHEEL_DRIFT_COLUMN": "0.3",
            "DATAFLYWHEEL_RETRAIN_COOLDOWN_HOURS": "6",
        }
    )
    assert configured.warehouse_path == Path("/tmp/elsewhere/warehouse.duckdb")
    assert configured.ranker_chain_dir == Path("/tmp/elsewhere/models/ranker")
    assert (configured.volume_tolerance, configured.retrain_cooldown_hours) == (0.3, 6.0)
    assert (configured.gate.log_loss_tolerance, configured.gate.auc_tolerance) == (0.05, 0.0)
    assert configured.drift.column == 0.3
