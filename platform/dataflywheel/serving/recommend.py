"""One recommendation: candidates of the user's tenant, scored, re-ranked for exposure, explored.

The steps, in order, and why in that order:

1. Candidates (``CandidateIndex``), only from the user's tenant: the user's own recent items,
   their team's, the tenant's popular and its new items, in a configurable mix.
2. Features from the published online snapshot, with the request-time features from the same
   function as training (``OnlineSnapshot.request_rows``); scores from the deployed ranker,
   with the surface's weights on P(click) and P(engaged | click). A user or item the snapshot
   does not know yet (cold start) is scored from what is known (team, container, position)
   and the model's priors; a new user's candidates come from the tenant's popular and new items.
3. Exposure floors (DetGreedy with a look-ahead): at every prefix of the list, at least
   ``floor * length`` new items and items of small containers, when the candidates have them.
4. Exploration, last, so the logged propensities are those of the final list: each slot is
   independently explored with probability ``epsilon``; explored slots show a uniformly random
   ordered sample of the candidates the list left out. The item the list put at slot p is
   shown there with probability 1 - epsilon; a left-out item, with probability
   epsilon / (number left out): exact, and the same for every left-out item.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from dataflywheel.features.definitions import Segments
from dataflywheel.features.online import ITEM_DIRECTORY, USER_DIRECTORY, OnlineSnapshot
from dataflywheel.ranking.inputs import declared_input_names
from dataflywheel.ranking.ranker import Ranker


@dataclass(frozen=True)
class Policy:
    """The knobs of serving, one place."""

    mix: tuple[tuple[str, int], ...] = (("own", 50), ("team", 60), ("popular", 60), ("new", 30))
    epsilon: float = 0.1
    # (w_click, w_engage) per surface: the home feed values engagement; a notification, the click.
    surface_weights: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"home_feed": (1.0, 2.0), "notification": (1.0, 0.5), "search": (1.0, 1.0)}
    )
    new_item_floor: float = 0.2  # share of every list prefix kept for new items (when there are any)
    small_container_floor: float = 0.1  # ... and for items of small containers
    small_container_items: int = 20  # a container with fewer items than this is small
    segments: Segments = Segments()

    def weights(self, surface: str) -> tuple[float, float]:
        return self.surface_weights.get(surface, (1.0, 1.0))


class CandidateIndex:
    """Per tenant, team and user, the candidate lists, built once per snapshot."""

    def __init__(self, snapshot: OnlineSnapshot, now: datetime, policy: Policy):
        depth = max(n for _, n in policy.mix)
        users = snapshot.tables[USER_DIRECTORY].select("user_id", "tenant_id", "team_id")
        items = snapshot.tables[ITEM_DIRECTORY].select("item_id", "tenant_id", "item_created_at")
        self.tenant_of_user = dict(zip(users.get_column("user_id"), users.get_column("tenant_id")))
        self.team_of_user = dict(zip(users.get_column("user_id"), users.get_column("team_id")))
        self.tenant_of_item = dict(zip(items.get_column("item_id"), items.get_column("tenant_id")))
        pairs = snapshot.tables["user_item_features"].select("user_id", "item_id", "pair_last_interaction_ts")
        # Only pairs whose user and item are both of the same tenant: nothing crosses tenants.
        pairs = pairs.join(users, on="user_id").join(
            items.select("item_id", pl.col("tenant_id").alias("item_tenant")), on="item_id"
        )
        pairs = pairs.filter(pl.col("tenant_id") == pl.col("item_tenant")).sort(
            "pair_last_interaction_ts", descending=True
        )
        self.own = _top_lists(pairs, "user_id", depth)
        self.team = _top_lists(
            pairs.unique(["team_id", "item_id"], keep="first", maintain_order=True), "team_id", depth
        )
        views = snapshot.tables["item_features"].select("item_id", "item_views_7d")
        popular = items.join(views, on="item_id").sort("item_views_7d", descending=True)
        self.popular = _top_lists(popular, "tenant_id", depth)
        fresh = now - timedelta(days=policy.segments.new_item_days)
        new = items.filter(pl.col("item_created_at") >= fresh).sort("item_created_at", descending=True)
        self.new = _top_lists(new, "tenant_id", depth)
        self.policy = policy

    def candidates(self, tenant_id: str, user_id: str) -> list[str]:
        """The mix, in order, without repeats; every item of ``tenant_id``."""
        sources = {
            "own": self.own.get(user_id, []),
            "team": self.team.get(self.team_of_user.get(user_id), []),
            "popular": self.popular.get(tenant_id, []),
            "new": self.new.get(tenant_id, []),
        }
        chosen = dict.fromkeys(item for name, n in self.policy.mix for item in sources[name][:n])
        return [item for item in chosen if self.tenant_of_item.get(item) == tenant_id]


def _top_lists(frame: pl.DataFrame, by: str, depth: int) -> dict[str, list[str]]:
    grouped = frame.group_by(by, maintain_order=True).agg(pl.col("item_id").head(depth))
    return dict(zip(grouped.get_column(by), grouped.get_column("item_id").to_list()))


@dataclass(frozen=True)
class Ask:
    """One recommendation request: a user of the key's tenant, a surface, a list length, a time."""

    tenant_id: str
    user_id: str
    surface: str
    k: int
    now: datetime


@dataclass(frozen=True)
class Shown:
    item_id: str
    item_type: str | None
    position: int
    propensity: float  # the probability the policy shows this item at this position
    score: float
    p_click: float  # at the position it is shown in: what its click rate is predicted to be there
    p_engage: float
    explored: bool
    features: dict  # the declared features it was scored on, as logged (for the skew report)


@dataclass(frozen=True)
class Recommendation:
    request_id: str
    model_version: str
    items: list[Shown]
    rows: pl.DataFrame  # the shown items' request rows, in list order
    scoring_ms: float = 0.0  # its batch's featurizing and scoring time, per request
    fallback_from: str | None = None  # the canary challenger that failed on it, if one did


class WrongTenant(Exception):
    """The user belongs to another tenant than the caller's key."""


def check_tenant(index: CandidateIndex, ask: Ask) -> None:
    """Raise ``WrongTenant`` when the snapshot knows the user under another tenant (a user it
    does not know yet is a new user of the caller's tenant)."""
    known_tenant = index.tenant_of_user.get(ask.user_id)
    if known_tenant is not None and known_tenant != ask.tenant_id:
        raise WrongTenant(ask.user_id)


def recommend_many(
    snapshot: OnlineSnapshot,
    index: CandidateIndex,
    ranker: Ranker,
    model_version: str,
    asks: list[Ask],
    rng: np.random.Generator,
    policy: Policy = Policy(),
) -> list[Recommendation]:
    """One recommendation per ask, their candidates featurized and scored together: the cost
    of a featurization is mostly fixed per call, so requests that arrive together share it.
    Every list is still its own: its own candidates, floors and exploration."""
    for ask in asks:
        check_tenant(index, ask)
    candidates = [index.candidates(ask.tenant_id, ask.user_id) for ask in asks]
    sizes = [len(c) for c in candidates]
    if not sum(sizes):
        return [Recommendation(uuid.uuid4().hex, model_version, [], pl.DataFrame()) for _ in asks]
    requests_items = [item for items in candidates for item in items]

    def per_candidate(field: str) -> list:  # each ask's value, once for each of its candidates
        return [getattr(ask, field) for ask, n in zip(asks, sizes) for _ in range(n)]

    requests = pl.DataFrame(
        [
            pl.Series("tenant_id", per_candidate("tenant_id")),
            pl.Series("user_id", per_candidate("user_id")),
            pl.Series("item_id", requests_items),
            pl.Series("request_ts", per_candidate("now"), pl.Datetime("us")),
            pl.Series("surface", per_candidate("surface")),
        ]
    )
    rows = snapshot.request_rows(requests, "request_ts")
    predicted = ranker.predict(rows, position=0)
    new = (rows.get_column("item_segment") == "new").to_numpy()
    small = (rows.get_column("container_items").fill_null(0) < policy.small_container_items).to_numpy()
    floors = {"new": policy.new_item_floor, "small": policy.small_container_floor}
    lists, start = [], 0
    for ask, n in zip(asks, sizes):  # each list on its own slice of the batch
        part = slice(start, start + n)
        start += n
        w_click, w_engage = policy.weights(ask.surface)
        p_click = predicted["p_click"][part]
        score = w_click * p_click + w_engage * p_click * predicted["p_engage"][part]
        order = exposure_floors(score, {"new": new[part], "small": small[part]}, floors, ask.k)
        lists.append(
            [
                (part.start + i, propensity, explored, float(score[i]))
                for i, propensity, explored in explore(order, n, ask.k, policy.epsilon, rng)
            ]
        )
    # The shown rows of the whole batch in one gather, their logged features and their P(click)
    # at the position shown in one pass each.
    shown_index = [row for shown in lists for row, *_ in shown]
    shown_rows = rows[shown_index]
    logged = shown_rows.select(declared_input_names(snapshot.views)).to_dicts()
    item_types = shown_rows.get_column("item_type").to_list()
    positions = np.array([p for shown in lists for p in range(len(shown))])
    p_click_shown = ranker.p_click_at(predicted["p_click"][shown_index], positions).tolist()
    served, offset = [], 0
    for shown in lists:
        items = [
            Shown(
                requests_items[row],
                item_types[offset + p],
                p,
                propensity,
                score,
                p_click_shown[offset + p],
                float(predicted["p_engage"][row]),
                explored,
                logged[offset + p],
            )
            for p, (row, propensity, explored, score) in enumerate(shown)
        ]
        served.append(Recommendation(uuid.uuid4().hex, model_version, items, shown_rows.slice(offset, len(shown))))
        offset += len(shown)
    return served


def exposure_floors(score: np.ndarray, groups: dict[str, np.ndarray], floors: dict[str, float], k: int) -> list[int]:
    """Top-``k`` indices by score, except that every prefix of length p holds at least
    ``floor(floor * p)`` members of each group (fewer only when the group has no more).

    DetGreedy with a look-ahead: the best remaining item is taken unless that would leave some
    later prefix unable to meet its floors; then the best member of the group whose next
    member is due soonest (earliest deadline first, which never misses a deadline that can
    be met) is taken instead.
    """
    remaining = [int(i) for i in np.argsort(-score, kind="stable")]
    chosen: list[int] = []
    counts = dict.fromkeys(groups, 0)
    left = {g: int(np.sum(members)) for g, members in groups.items()}

    def required(g: str, length: int, placed: dict[str, int], unplaced: dict[str, int]) -> int:
        return min(int(floors[g] * length), placed[g] + unplaced[g])

    def keeps_floors(pick: int) -> bool:
        placed = {g: counts[g] + bool(groups[g][pick]) for g in groups}
        unplaced = {g: left[g] - bool(groups[g][pick]) for g in groups}
        now = len(chosen) + 1
        for length in range(now, k + 1):
            behind = sum(max(0, required(g, length, placed, unplaced) - placed[g]) for g in groups)
            if behind > length - now:
                return False
        return True

    def due(g: str) -> int:  # the prefix length at which the group's next member is needed
        return next((n for n in range(len(chosen) + 1, k + 1) if int(floors[g] * n) > counts[g]), k + 1)

    while remaining and len(chosen) < k:
        pick = remaining[0]
        if not keeps_floors(pick):
            urgent = min((g for g in groups if left[g] > 0), key=due, default=None)
            pick = next(i for i in remaining if groups[urgent][i]) if urgent is not None else pick
        remaining.remove(pick)
        chosen.append(pick)
        for g in groups:
            counts[g] += bool(groups[g][pick])
            left[g] -= bool(groups[g][pick])
    return chosen


def explore(
    order: list[int], n_candidates: int, k: int, epsilon: float, rng: np.random.Generator
) -> list[tuple[int, float, bool]]:
    """(candidate index, propensity, explored) per shown slot: ``order`` with each slot replaced,
    with probability ``epsilon``, by a uniformly random candidate the list left out."""
    listed = set(order)
    left_out = [i for i in range(n_candidates) if i not in listed]
    if len(left_out) < len(order):  # too few to explore every slot with: shown as it is, with certainty
        return [(i, 1.0, False) for i in order]
    explored_slots = [p for p in range(len(order)) if rng.random() < epsilon]
    draws = rng.choice(left_out, size=len(explored_slots), replace=False)
    replaced = dict(zip(explored_slots, (int(i) for i in draws)))
    return [
        (replaced[p], epsilon / len(left_out), True) if p in replaced else (i, 1.0 - epsilon, False)
        for p, i in enumerate(order)
    ]


def slot_propensity(order: list, candidates: list, item, position: int, epsilon: float) -> float:
    """The probability that the policy, having ranked ``order`` from ``candidates``, shows ``item``
    at ``position``: what ``explore`` draws from, for evaluating a policy on another's logs."""
    left_out = len(candidates) - len(order)
    if left_out < len(order):  # too few to explore with: the list as it is
        return float(order[position] == item) if position < len(order) else 0.0
    if position < len(order) and order[position] == item:
        return 1.0 - epsilon
    return epsilon / left_out if item in candidates and item not in order else 0.0
