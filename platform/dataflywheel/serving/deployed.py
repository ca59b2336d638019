"""What the service serves with, swapped whole: the online snapshot, its candidate index, the model.

A refresher thread follows the registry's ``champion`` alias and the snapshot's files; when
either changes it builds a new ``Deployment`` beside the old one and swaps one reference, so a
request sees one consistent (snapshot, model) pair and none waits for the load.

During a canary (``lifecycle.canary``: the ``challenger`` version tagged ``canary=running``)
the challenger is deployed beside the champion on the same snapshot, and serves the users the
canary's sticky hash assigns to it. A batch the challenger fails on is served by the champion
instead, each list marked with the failed challenger: users see no error, the canary's
guardrail sees every failure.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from dataflywheel.features.online import OnlineSnapshot
from dataflywheel.lifecycle import canary
from dataflywheel.lifecycle.registry import CHALLENGER, CHAMPION, Registry
from dataflywheel.ranking.ranker import Ranker
from dataflywheel.serving.recommend import Ask, CandidateIndex, Policy, Recommendation, recommend_many

logger = logging.getLogger(__name__)
CANARY_SURFACE = "home_feed"


@dataclass(frozen=True)
class Deployment:
    snapshot: OnlineSnapshot
    index: CandidateIndex
    ranker: Ranker
    model_version: str
    snapshot_as_of: datetime
    snapshot_stamp: float  # newest modification time of the snapshot's files
    fallback: Deployment | None = None  # a canary challenger's champion: serves what the challenger fails on

    def recommend(self, asks: list[Ask], rng: np.random.Generator, policy: Policy) -> list[Recommendation]:
        started = time.perf_counter()
        try:
            served = recommend_many(self.snapshot, self.index, self.ranker, self.model_version, asks, rng, policy)
        except Exception:
            if self.fallback is None:
                raise
            logger.exception("canary challenger %s failed; its batch is served by the champion", self.model_version)
            return [replace(r, fallback_from=self.model_version) for r in self.fallback.recommend(asks, rng, policy)]
        per_request = (time.perf_counter() - started) * 1000 / len(asks)  # arms score batches of different sizes
        return [replace(r, scoring_ms=per_request) for r in served]


def recommend_admitted(
    admitted: list[tuple[Deployment, Ask]], rng: np.random.Generator, policy: Policy
) -> list[Recommendation]:
    """Each ask served by the deployment it was admitted under (a batch spans two while one is
    swapped in, or during a canary), in the order given."""
    served: list[Recommendation | None] = [None] * len(admitted)
    for deployment in {id(d): d for d, _ in admitted}.values():
        positions = [i for i, (d, _) in enumerate(admitted) if d is deployment]
        for i, recommendation in zip(positions, deployment.recommend([admitted[i][1] for i in positions], rng, policy)):
            served[i] = recommendation
    return served


def _stamp(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.glob("*.parquet")), default=0.0)


class Deployed:
    """The current deployment, refreshed in the background."""

    def __init__(self, snapshot_dir: Path, registry: Registry, policy: Policy, refresh_seconds: float = 10.0):
        self.snapshot_dir, self.registry, self.policy = Path(snapshot_dir), registry, policy
        self.refresh_seconds = refresh_seconds
        self.current: Deployment | None = None  # the champion's
        self.canary: tuple[Deployment, float] | None = None  # the challenger's, and its share of users
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="deployment", daemon=True)

    def for_user(self, user_id: str, surface: str = CANARY_SURFACE) -> Deployment | None:
        """The deployment that serves ``user_id`` on ``surface``: the challenger's for the canary's
        users on the surface the canary is judged on (the home feed, whose lists have labels)."""
        canary_now = self.canary
        if (
            canary_now is not None
            and surface == CANARY_SURFACE
            and canary.in_canary(user_id, canary_now[0].model_version, canary_now[1])
        ):
            return canary_now[0]
        return self.current

    def start(self) -> None:
        self.refresh()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def refresh(self) -> bool:
        """Load what changed (model, snapshot or both) and swap; True if it swapped."""
        swapped = self._refresh_champion()
        self._refresh_canary(swapped)
        return swapped

    def _refresh_canary(self, champion_swapped: bool) -> None:
        """Deploy the challenger beside the champion while its canary runs; drop it once decided."""
        challenger = self.registry.alias(CHALLENGER)
        running = challenger is not None and challenger.tags.get(canary.CANARY_TAG) == canary.RUNNING
        if not running or self.current is None:
            self.canary = None
            return
        share = float(challenger.tags.get(canary.SHARE_TAG, 0.0))
        old = self.canary
        if old is not None and old[0].model_version == str(challenger.version) and not champion_swapped:
            self.canary = (old[0], share)
            return
        ranker = (
            old[0].ranker
            if old is not None and old[0].model_version == str(challenger.version)
            else self.registry.load(challenger.version)
        )
        self.canary = (
            replace(self.current, ranker=ranker, model_version=str(challenger.version), fallback=self.current),
            share,
        )

    def _refresh_champion(self) -> bool:
        champion = self.registry.alias(CHAMPION)
        stamp = _stamp(self.snapshot_dir)
        if champion is None or stamp == 0.0:
            return False  # nothing deployable yet: readiness says so
        old = self.current
        if old is not None and old.model_version == str(champion.version) and old.snapshot_stamp == stamp:
            return False
        if old is not None and old.snapshot_stamp == stamp:
            snapshot, index, as_of = old.snapshot, old.index, old.snapshot_as_of
        else:
            snapshot = OnlineSnapshot.load(self.snapshot_dir)
            snapshot.index()  # built here, beside the serving snapshot, not by the first request
            as_of = snapshot.tables["user_directory"].get_column("as_of").max()
            index = CandidateIndex(snapshot, as_of, self.policy)
        ranker = (
            old.ranker
            if old is not None and old.model_version == str(champion.version)
            else self.registry.load(champion.version)
        )
        self.current = Deployment(snapshot, index, ranker, str(champion.version), as_of, stamp)
        # The deployment is millions of long-lived objects (its key indexes above all); a full
        # garbage collection walking them stalls every request for a third of a second. Frozen,
        # the collector skips them (the old deployment, without reference cycles, is still freed
        # by reference counting). Collected first, here, once per swap, so that no garbage
        # cycle left by the load is frozen for good.
        gc.collect()
        gc.freeze()
        return True

    def _follow(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception:  # a half-published snapshot or a registry hiccup: keep serving the old one
                continue
