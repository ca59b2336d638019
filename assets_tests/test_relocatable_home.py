"""A home folder copied or moved works on its own: Dagster's history and MLflow's registry come
along, and nothing is ever written where the home came from."""

import shutil
from datetime import datetime

import dagster as dg
import numpy as np
import pytest

from dataflywheel import settings
from dataflywheel.defs.resources import model_registry
from dataflywheel.ranking.ranker import Ranker
from helpers import random_examples
from homes import land_hour, materialize, point_at_new_home

pytestmark = pytest.mark.slow

FIRST, SECOND = datetime(2026, 11, 16, 10), datetime(2026, 11, 16, 11)


def _files(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _loaded(config) -> set[str]:
    with settings.dagster_instance(config) as instance:
        return instance.get_materialized_partitions(dg.AssetKey("raw_events"))


def test_a_moved_home_runs_an_hour_on_its_own(tmp_path, monkeypatch):
    source = point_at_new_home(tmp_path / "source", monkeypatch)
    land_hour(source.landing_url, FIRST, 1_000)
    land_hour(source.landing_url, SECOND, 1_000)
    assert materialize(FIRST, tmp_path / "runs.log").wait(timeout=300) == 0
    ranker = Ranker()
    ranker.learn_many(random_examples(2_000, 1))
    version = model_registry().get().register(ranker, {}, {})

    shutil.copytree(source.home, tmp_path / "copy")
    moved = source.home.rename(tmp_path / "moved-away")  # the copy must not need, or touch, its source
    before = _files(moved)
    copy = point_at_new_home(tmp_path / "copy", monkeypatch, set_up=False)  # used as copied, no setup

    assert materialize(SECOND, tmp_path / "runs.log").wait(timeout=300) == 0  # an hour run in the copy
    assert _loaded(copy) == {f"{FIRST:%Y-%m-%d-%H}:00", f"{SECOND:%Y-%m-%d-%H}:00"}  # history came along
    probe = random_examples(300, 2)
    registry = model_registry().get()
    np.testing.assert_array_equal(
        registry.load(version.version).predict(probe)["score"], ranker.predict(probe)["score"]
    )
    registry.register(ranker, {}, {})
    assert not source.home.exists()  # nothing recreated at the old path ...
    assert _files(moved) == before  # ... and nothing written into the moved source
