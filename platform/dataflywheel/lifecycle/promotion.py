"""Changing the champion: the registry alias and the hourly chain move together.

The champion line keeps learning every hour. Promoting a version (or rolling back to one)
therefore also rebases the chain on it after its latest hour, so the next hourly update
continues from the new champion instead of silently taking the alias back.
"""

from __future__ import annotations

from mlflow.entities.model_registry import ModelVersion

from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.lifecycle.registry import CHAMPION, Registry


def promote(registry: Registry, store: ModelStore, version: str | int, reason: str) -> ModelVersion:
    registry.promote(version, reason)
    _rebase(registry, store, version)
    return registry.alias(CHAMPION)


def rollback(registry: Registry, store: ModelStore, reason: str) -> ModelVersion:
    champion = registry.rollback(reason)
    _rebase(registry, store, champion.version)
    return champion


def _rebase(registry: Registry, store: ModelStore, version: str | int) -> None:
    latest = store.latest_hour()
    if latest is not None:
        store.rebase(latest, registry.load(version))
