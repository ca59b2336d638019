"""The model registry, on a real MLflow SQLite store: round trip, lineage tags, promote and roll back."""

import shutil
from datetime import datetime

import numpy as np
import pytest

from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.lifecycle.registry import CHALLENGER, CHAMPION, REPLAY, Registry
from dataflywheel.ranking.ranker import Ranker
from helpers import random_examples


@pytest.fixture
def registry(tmp_path):
    (tmp_path / "artifacts").mkdir()
    return Registry(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts")


def trained(seed: int) -> Ranker:
    ranker = Ranker()
    ranker.learn_many(random_examples(3000, seed))
    return ranker


def test_a_registered_model_loads_back_with_the_same_predictions_and_its_lineage(registry):
    ranker = trained(1)
    tags = {"dagster_partition": "2026-11-17-10:00", "dagster_run_id": "r1", "code_version": "abc"}
    version = registry.register(ranker, tags, {"auc_click": 0.61})

    loaded = registry.load(version.version)
    probe = random_examples(500, 9)
    np.testing.assert_array_equal(loaded.predict(probe)["score"], ranker.predict(probe)["score"])
    stored = registry.client.get_model_version("ranker", version.version)
    assert stored.tags["dagster_partition"] == "2026-11-17-10:00"
    assert registry.client.get_run(stored.run_id).data.metrics["auc_click"] == 0.61


def test_hourly_updates_move_the_champion_and_a_retrained_model_is_the_challenger(registry):
    registry.register(trained(1), {"dagster_partition": "h1"}, {})
    second = registry.register(trained(2), {"dagster_partition": "h2"}, {})
    retrained = registry.register(trained(3), {"dagster_partition": "d1"}, {}, alias=CHALLENGER)
    assert registry.alias(CHAMPION).version == second.version
    assert registry.alias(CHALLENGER).version == retrained.version
    assert registry.client.get_model_version("ranker", retrained.version).tags["registered_as"] == CHALLENGER


def test_promote_and_roll_back_are_one_call_each_and_recorded(registry):
    first = registry.register(trained(1), {"dagster_partition": "h1"}, {})
    second = registry.register(trained(2), {"dagster_partition": "d1"}, {}, alias=CHALLENGER)
    registry.promote(second.version, reason="better NDCG")
    assert registry.alias(CHAMPION).version == second.version

    assert registry.rollback(reason="canary failed").version == first.version
    assert registry.alias(CHAMPION).version == first.version
    demoted = registry.client.get_model_version("ranker", second.version)
    assert demoted.tags["rollback_reason"] == "canary failed"
    assert "promoted_at" in registry.client.get_model_version("ranker", first.version).tags


def test_two_rollbacks_go_two_promotions_back_and_then_refuse(registry):
    first = registry.register(trained(1), {"dagster_partition": "h1"}, {})
    second = registry.register(trained(2), {"dagster_partition": "d1"}, {}, alias=CHALLENGER)
    registry.promote(second.version, reason="better NDCG")
    third = registry.register(trained(3), {"dagster_partition": "d2"}, {}, alias=CHALLENGER)
    registry.promote(third.version, reason="better again")
    assert registry.champion_history() == [str(first.version), str(second.version)]

    assert registry.rollback(reason="worse online").version == second.version
    assert registry.rollback(reason="still worse").version == first.version  # back, not forward to third
    with pytest.raises(ValueError):
        registry.rollback(reason="nothing left")
    assert registry.alias(CHAMPION).version == first.version


def test_a_version_registered_without_an_alias_moves_none(registry):
    head = registry.register(trained(1), {"dagster_partition": "h2"}, {})
    replay = registry.register(trained(2), {"dagster_partition": "h1"}, {}, alias=None)
    assert registry.alias(CHAMPION).version == head.version
    assert registry.version(replay.version).tags["registered_as"] == REPLAY


def test_rollback_without_an_earlier_champion_is_refused(registry):
    registry.register(trained(1), {"dagster_partition": "h1"}, {})  # hourly updates are not promotions
    registry.register(trained(2), {"dagster_partition": "h2"}, {})
    with pytest.raises(ValueError):
        registry.rollback(reason="nothing to go back to")


def test_the_cli_promotes_and_rolls_back_and_the_hourly_chain_follows(tmp_path, monkeypatch, capsys):
    from dataflywheel import settings
    from dataflywheel.cli import main
    from dataflywheel.defs.resources import model_registry

    # A home of its own, set up as `make setup` leaves one (the CLI loads the Dagster definitions).
    (tmp_path / "dbt" / "target").mkdir(parents=True)
    shutil.copy(settings.current().dbt_target_path / "manifest.json", tmp_path / "dbt" / "target" / "manifest.json")
    monkeypatch.setenv("DATAFLYWHEEL_HOME", str(tmp_path))
    monkeypatch.setenv("DATAFLYWHEEL_MLFLOW_URI", f"sqlite:///{tmp_path / 'cli.db'}")
    registry, store = model_registry().get(), ModelStore(settings.current().ranker_chain_dir)
    hourly = trained(1)
    store.save(datetime(2026, 11, 17, 10), hourly)  # the chain's newest hour
    first = registry.register(hourly, {"dagster_partition": "h1"}, {})
    challenger = trained(2)
    second = registry.register(challenger, {"dagster_partition": "d1"}, {}, alias=CHALLENGER)
    probe = random_examples(300, 9)

    assert main(["promote", str(second.version), "--reason", "better"]) == 0
    assert registry.alias(CHAMPION).version == second.version
    # The next hour starts from the promoted model, not from the chain's own last hour.
    np.testing.assert_array_equal(
        store.load(datetime(2026, 11, 17, 10)).predict(probe)["score"], challenger.predict(probe)["score"]
    )
    assert main(["rollback", "--reason", "worse online"]) == 0
    assert registry.alias(CHAMPION).version == first.version
    np.testing.assert_array_equal(
        store.load(datetime(2026, 11, 17, 10)).predict(probe)["score"], hourly.predict(probe)["score"]
    )
    assert f"champion is now version {first.version}" in capsys.readouterr().out


def _files(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_a_moved_home_reads_and_writes_its_own_model_files(tmp_path):
    source = tmp_path / "source"
    (source / "artifacts").mkdir(parents=True)
    first = Registry(f"sqlite:///{source / 'mlflow.db'}", source / "artifacts").register(trained(1), {}, {})
    shutil.copytree(source, tmp_path / "copy")
    moved = source.rename(tmp_path / "moved-away")  # the copy must not need its source at all
    before = _files(moved)

    copy = Registry(f"sqlite:///{tmp_path / 'copy' / 'mlflow.db'}", tmp_path / "copy" / "artifacts")
    probe = random_examples(200, 3)
    np.testing.assert_array_equal(copy.load(first.version).predict(probe)["score"], trained(1).predict(probe)["score"])
    second = copy.register(trained(2), {}, {})
    np.testing.assert_array_equal(copy.load(second.version).predict(probe)["score"], trained(2).predict(probe)["score"])
    assert _files(moved) == before and not source.exists()  # nothing written where the home came from
    assert any(p.name == "ranker.pkl" and second.run_id in str(p) for p in (tmp_path / "copy").rglob("*"))
