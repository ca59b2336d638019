"""Changing the champion: the registry alias and the hourly chain move together.

The champion line keeps learning every hour. Promoting a version (or rolling back to one)
therefore also rebases the chain on it after its latest hour, so the next hourly update
continues from the new champion instead of silently taking the alias back. A rollback
restores the champion the last promotion replaced and catches it up on the hours the chain
has learned since it was that champion. Both run as Dagster jobs in the warehouse's pool
(``defs/lifecycle/champion.py``), so they never race the hourly chain.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import polars as pl
from mlflow.entities.model_registry import ModelVersion

from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.lifecycle.registry import CHALLENGER, CHAMPION, TRAINED_THROUGH, Registry

Examples = Callable[[datetime, datetime], pl.DataFrame]  # the training examples of [start, end)


def promote(
    registry: Registry, store: ModelStore, version: str | int, reason: str, examples: Examples | None = None
) -> ModelVersion:
    """Make ``version`` the champion; with ``examples``, it first learns the hours between what it
    was trained through and the chain's head (a canary's challenger, frozen while it was judged)."""
    if examples is not None:
        version = catch_up(registry, store, version, examples, {}, alias=CHALLENGER).version
    registry.promote(version, reason)
    _rebase(registry, store, version)
    return registry.alias(CHAMPION)


def rollback(registry: Registry, store: ModelStore, reason: str, examples: Examples) -> ModelVersion:
    """Back one step in the champion history; the restored model learns ``examples`` of the hours
    between what it was trained through and the chain's head, and the chain continues from it."""
    restored = registry.rollback(reason)
    caught_up = catch_up(registry, store, restored.version, examples, {"rollback_reason": reason}, alias=CHAMPION)
    _rebase(registry, store, caught_up.version)
    return caught_up


def catch_up(
    registry: Registry,
    store: ModelStore,
    version: str | int,
    examples: Examples,
    tags: dict[str, str],
    alias: str | None = None,
) -> ModelVersion:
    """``version`` after learning the hours the chain learned since it was trained, registered as
    a new version (under ``alias``); ``version`` itself when it is not behind the chain's head."""
    found = registry.version(version)
    head, through = store.latest_hour(), trained_through(found)
    if head is None or through is None or through >= head:
        return found
    model = registry.load(version)
    model.learn_many(examples(through + timedelta(hours=1), head + timedelta(hours=1)))
    tags = tags | {"caught_up_from": str(version), "caught_up_through": str(head), TRAINED_THROUGH: str(head)}
    return registry.register(model, tags, {}, alias=alias)


def trained_through(version: ModelVersion) -> datetime | None:
    """The last hour a version learned, from its tag (None for a version registered without one)."""
    recorded = version.tags.get(TRAINED_THROUGH)
    return datetime.fromisoformat(recorded) if recorded else None


def _rebase(registry: Registry, store: ModelStore, version: str | int) -> None:
    latest = store.latest_hour()
    if latest is not None:
        store.rebase(latest, registry.load(version))
