"""The off-policy gate: how would a challenger have done on the lists the champion served?

Each logged home-feed request (its user, tenant and list length) is replayed through the
serving policy (``serving.recommend``: candidates, scoring, exposure floors) with the model
under test, and every logged slot gets the probability that this policy would have shown the
logged item there (``slot_propensity``: 1 - epsilon for its own pick, epsilon over the
left-out candidates for an exploration draw, else 0). With the propensities the service
logged, IPS and SNIPS with clipped weights estimate the policy's click rate per slot
(``ranking.off_policy``).

The replay sees candidates and features as the online snapshot has them now, not as each
request did: an approximation, shared by the champion, which is replayed the same way, so the
gate compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import polars as pl

from dataflywheel.features.online import OnlineSnapshot
from dataflywheel.ranking import off_policy
from dataflywheel.ranking.ranker import Ranker
from dataflywheel.serving.recommend import Ask, CandidateIndex, Policy, recommend_many, slot_propensity

BATCH = 64  # requests replayed per scoring call
# A replayed pick that lands on a slot the logging policy explored weighs (1 - eps) / (eps / ~150):
# about 1,000. A handful of those would carry the whole estimate (measured in the closed loop: the
# champion's own interval reached below 0); clipped, they weigh at most this.
MAX_WEIGHT = 20.0


@dataclass(frozen=True)
class GateResult:
    champion: dict[str, off_policy.Estimate]
    challenger: dict[str, off_policy.Estimate]
    logged_click_rate: float  # what the logged lists got, as they were served

    @property
    def passed(self) -> bool:
        """Not clearly worse: the two SNIPS intervals overlap or the challenger's is above. Both
        estimates are uncertain (the champion's too: a few explored slots carry large weights),
        so only a challenger whose whole interval lies below the champion's is stopped."""
        return self.challenger["snips"].ci_high >= self.champion["snips"].ci_low


def target_propensities(
    logged: pl.DataFrame,
    snapshot: OnlineSnapshot,
    index: CandidateIndex,
    ranker: Ranker,
    as_of: datetime,
    policy: Policy,
) -> np.ndarray:
    """Per logged slot (``rec_request_id``, ``tenant_id``, ``user_id``, ``item_id``, ``position``;
    grouped by request), the probability that the policy with ``ranker`` shows it."""
    ranked = replace(policy, epsilon=0.0)  # the lists before exploration; exploration is in slot_propensity
    requests = logged.group_by("rec_request_id", maintain_order=True).agg(
        pl.col("tenant_id").first(), pl.col("user_id").first(), pl.len().alias("k")
    )
    orders: dict[str, list[str]] = {}
    rows = list(requests.iter_rows(named=True))
    for start in range(0, len(rows), BATCH):
        part = rows[start : start + BATCH]
        asks = [Ask(r["tenant_id"], r["user_id"], "home_feed", r["k"], as_of) for r in part]
        served = recommend_many(snapshot, index, ranker, "replay", asks, np.random.default_rng(0), ranked)
        orders |= {r["rec_request_id"]: [s.item_id for s in rec.items] for r, rec in zip(part, served)}
    candidates = {r["rec_request_id"]: index.candidates(r["tenant_id"], r["user_id"]) for r in rows}
    return np.array(
        [
            slot_propensity(orders[request], candidates[request], item, position, policy.epsilon)
            for request, item, position in logged.select("rec_request_id", "item_id", "position").iter_rows()
        ]
    )


def estimates(logged: pl.DataFrame, target: np.ndarray) -> dict[str, off_policy.Estimate]:
    """IPS and SNIPS of the click rate per slot; a policy that would show none of the logged items
    is credited what IPS credits it, 0 (SNIPS has nothing to normalize by)."""
    clicked = logged.get_column("clicked").cast(pl.Float64).to_numpy()
    propensity = logged.get_column("propensity").to_numpy()
    ips = off_policy.ips(clicked, propensity, target, MAX_WEIGHT)
    return {"ips": ips, "snips": off_policy.snips(clicked, propensity, target, MAX_WEIGHT) if target.any() else ips}


def gate(
    logged: pl.DataFrame,
    snapshot: OnlineSnapshot,
    index: CandidateIndex,
    champion: Ranker,
    challenger: Ranker,
    as_of: datetime,
    policy: Policy,
) -> GateResult:
    """Both models replayed on the same logged slots."""
    replayed = {
        name: estimates(logged, target_propensities(logged, snapshot, index, model, as_of, policy))
        for name, model in (("champion", champion), ("challenger", challenger))
    }
    return GateResult(replayed["champion"], replayed["challenger"], float(logged.get_column("clicked").mean()))
