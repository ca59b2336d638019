"""Canary episodes of the closed loop: challengers made on purpose, and what the platform did with each.

Each episode registers a challenger and starts it through the platform's own canary job (the
off-policy gate, then the share of users); from then on only the platform acts: the verdict
after each hour of mature labels, the sensor, the conclusion. The episode reads the outcome
back from the registry.

- ``miscalibrated``: the champion with its click intercept lowered by 4 (P(click) about 50x
  too low): at these click rates P(click) is close to exp(logit), so the scores keep their
  ratios and the lists stay the same; the off-policy gate lets it through, and live, the
  calibration guardrail must catch it.
- ``inverted``: the champion with its click weights negated (ranks the least likely first):
  clearly worse on the logs; the off-policy gate must stop it before any user sees it.
- ``embeddings``: a ranker with learned user and item factors (``ranking.factors``), fitted
  on every example so far: the model change, judged on live traffic.
- ``recovery``: someone promotes the inverted model by hand; the champion it replaced comes
  back as the challenger and must win its canary.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import dagster as dg
import polars as pl

from dataflywheel import settings
from dataflywheel.defs.lifecycle.canary import OFF_POLICY_GATE, canary_verdict, challenger_off_policy
from dataflywheel.defs.lifecycle.champion import promote_champion_job
from dataflywheel.defs.lifecycle.jobs import canary_job
from dataflywheel.defs.resources import examples_between, warehouse
from dataflywheel.lifecycle import canary
from dataflywheel.lifecycle.model_store import ModelStore
from dataflywheel.lifecycle.registry import CHALLENGER, CHAMPION, TRAINED_THROUGH, Registry
from dataflywheel.ranking.factors import OnlineFactors
from dataflywheel.ranking.ranker import Ranker
from dataflywheel.ticking import execute

EXPECTED = {
    "miscalibrated": "rolled back (calibration guardrail)",
    "inverted": "stopped by the off-policy gate",
    "embeddings": "promoted if better on live clicks",
    "recovery": "promoted",
}
HISTORY_START = datetime(2000, 1, 1)


@dataclass
class Episode:
    name: str
    day: int | None = None  # simulated day it started
    version: str | None = None
    outcome: str = "not started"
    reasons: str = ""
    gate: dict[str, float] = field(default_factory=dict)  # off-policy estimates (clicks per slot)
    judged_lists: int = 0  # challenger lists with mature labels at the decision (or the latest verdict)
    judged_impressions: int = 0

    @property
    def expected(self) -> str:
        return EXPECTED[self.name]

    @property
    def done(self) -> bool:
        return self.outcome not in ("not started", "running")


def _miscalibrated(champion: Ranker, _: Callable) -> Ranker:
    model = copy.deepcopy(champion)
    model.click.intercept -= 4.0
    return model


def _inverted(champion: Ranker, _: Callable) -> Ranker:
    model = copy.deepcopy(champion)
    for name in list(model.click.weights):
        model.click._weights[name] = -model.click._weights[name]
    return model


def _embeddings(champion: Ranker, examples: Callable) -> Ranker:
    """The hourly chain replayed with factors: hour by hour, as the chain learned (one pass in
    mini-batches of 2,048 would take a few dozen SGD steps where the chain took hundreds)."""
    model = Ranker(factors=OnlineFactors())
    for _, hour in examples().group_by(pl.col("impression_ts").dt.truncate("1h"), maintain_order=True):
        model.learn_many(hour)
    return model


MAKERS = {"miscalibrated": _miscalibrated, "inverted": _inverted, "embeddings": _embeddings}


def start(
    episode: Episode, day: int, partition: str, share: float, defs: dg.Definitions, instance, registry: Registry, log
) -> None:
    """Register the episode's challenger and run the platform's canary job for it (``share`` of users)."""
    store = ModelStore(settings.current().ranker_chain_dir)
    head = store.latest_hour()
    champion = registry.alias(CHAMPION)
    if episode.name == "recovery":
        bad = _inverted(registry.load(champion.version), None)
        tags = {TRAINED_THROUGH: str(head), "flywheel_episode": "recovery: promoted by hand"}
        promoted = registry.register(bad, tags, {}, alias=None)
        config = {"ops": {"promote_champion": {"config": {"version": str(promoted.version), "reason": "by hand"}}}}
        execute(defs.resolve_job_def(promote_champion_job.name), dg.RunRequest(run_config=config), instance, log)
        challenger = registry.load(champion.version)
    else:
        challenger = MAKERS[episode.name](registry.load(champion.version), lambda: _all_examples(head))
    tags = {TRAINED_THROUGH: str(head), "flywheel_episode": episode.name}
    episode.version = str(registry.register(challenger, tags, {}, alias=CHALLENGER).version)
    episode.day = day
    config = {"ops": {"ranker_canary": {"config": {"share": share}}}}
    execute(
        defs.resolve_job_def(canary_job.name), dg.RunRequest(partition_key=partition, run_config=config), instance, log
    )
    episode.version = str(registry.alias(CHALLENGER).version)  # the gate may have caught it up
    gate = _latest(instance, challenger_off_policy.key, partition)
    if str(gate.get("challenger_version")) == episode.version:  # not an earlier episode's gate of the day
        episode.gate = {who: gate[f"{who}/snips/estimate"] for who in ("champion", "challenger")}
    verdict = registry.version(episode.version).tags
    if verdict.get(canary.CANARY_TAG) == canary.RUNNING:
        episode.outcome = "running"
    elif verdict.get(OFF_POLICY_GATE) == "failed":
        episode.outcome = "stopped by the off-policy gate"
    else:
        episode.outcome = "failed to start (see flywheel.log)"


def follow(episode: Episode, instance, registry: Registry) -> None:
    """Read what the platform decided about a running episode."""
    tags = registry.version(episode.version).tags
    state = tags.get(canary.CANARY_TAG)
    verdict = _verdict_for(instance, episode.version)
    episode.judged_lists = int(verdict.get("challenger_lists", 0))
    episode.judged_impressions = int(verdict.get("challenger_impressions", 0))
    if state in (canary.PROMOTED, canary.ROLLED_BACK):
        episode.outcome = "promoted" if state == canary.PROMOTED else "rolled back"
        episode.reasons = tags.get(canary.DECISION_TAG, "")
    elif "clicks_p_value" in verdict:  # still undecided: where the test stands
        episode.reasons = (
            f"no decision yet: clicks per list {verdict['clicks_difference']:+.3f} vs the champion, "
            f"always-valid p {verdict['clicks_p_value']:.2f}"
        )


def _all_examples(head: datetime | None):
    """Every training example up to the chain's head, from the deployment's engine (no run is
    active: the loop's daemon runs in this process, between the users' turns)."""
    return examples_between(warehouse(), HISTORY_START, (head or HISTORY_START) + timedelta(hours=1))


def _latest(instance, key: dg.AssetKey, partition: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else {}


def _verdict_for(instance, version: str) -> dict:
    """The last verdict on ``version`` (the one the platform acted on)."""
    for record in instance.fetch_materializations(canary_verdict.key, limit=200).records:
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        if str(metadata.get("challenger_version")) == version:
            return metadata
    return {}
