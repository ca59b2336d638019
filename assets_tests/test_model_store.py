"""The chain's states on disk: rebased states win, and old states expire (own and rebased alike)."""

from datetime import datetime, timedelta

from dataflywheel.lifecycle.model_store import ModelStore

H = datetime(2026, 11, 20, 0)


def test_a_rebased_state_is_what_the_next_hour_starts_from(tmp_path):
    store = ModelStore(tmp_path)
    store.save(H, "own")
    store.rebase(H, "promoted")
    assert store.load(H) == "promoted"
    assert store.hours() == [H]  # a rebase is no hour of the chain's own


def test_states_before_the_retention_expire_rebased_ones_included(tmp_path):
    store = ModelStore(tmp_path)
    for h in range(6):
        store.save(H + timedelta(hours=h), f"own {h}")
    store.rebase(H + timedelta(hours=1), "promoted at 1")
    store.rebase(H + timedelta(hours=4), "promoted at 4")

    assert store.expire(before=H + timedelta(hours=3)) == 4  # own 0, 1, 2 and the rebase at 1
    assert store.hours() == [H + timedelta(hours=h) for h in (3, 4, 5)]
    assert store.load(H + timedelta(hours=1)) is None
    assert store.load(H + timedelta(hours=4)) == "promoted at 4"


def test_the_newest_state_never_expires(tmp_path):
    """After a long pause the chain still goes on from its last state."""
    store = ModelStore(tmp_path)
    store.save(H, "the last one")
    assert store.expire(before=H + timedelta(days=60)) == 0
    assert store.latest_before(H + timedelta(days=60)) == H
