"""Promote and roll back as Dagster jobs: in the warehouse's pool, so they never race the hourly chain.

The CLI (`dataflywheel promote | rollback`) launches these and waits for them.
"""

import dagster as dg

from dataflywheel import settings
from dataflywheel.defs.resources import ModelRegistry, Warehouse, examples_between
from dataflywheel.lifecycle import promotion
from dataflywheel.lifecycle.model_store import ModelStore


class PromoteConfig(dg.Config):
    version: str
    reason: str


class RollbackConfig(dg.Config):
    reason: str


@dg.op(pool="duckdb")
def promote_champion(context: dg.OpExecutionContext, config: PromoteConfig, model_registry: ModelRegistry) -> str:
    """Make a registered version the champion and rebase the hourly chain on it."""
    store = ModelStore(settings.current().ranker_chain_dir)
    champion = promotion.promote(model_registry.get(), store, config.version, reason=config.reason)
    context.log.info(f"champion is version {champion.version}; the chain continues from it after {store.latest_hour()}")
    return str(champion.version)


@dg.op(pool="duckdb")
def rollback_champion(
    context: dg.OpExecutionContext, config: RollbackConfig, warehouse: Warehouse, model_registry: ModelRegistry
) -> str:
    """Restore the champion the last promotion replaced, caught up to the chain's head."""
    store = ModelStore(settings.current().ranker_chain_dir)
    champion = promotion.rollback(
        model_registry.get(), store, config.reason, lambda start, end: examples_between(warehouse, start, end)
    )
    context.log.info(f"champion is version {champion.version}; the chain continues from it after {store.latest_hour()}")
    return str(champion.version)


@dg.job(tags={"dataflywheel/lifecycle": "promote"})
def promote_champion_job():
    promote_champion()


@dg.job(tags={"dataflywheel/lifecycle": "rollback"})
def rollback_champion_job():
    rollback_champion()
