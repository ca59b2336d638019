"""What the service serves with, swapped whole: the online snapshot, its candidate index, the model.

A refresher thread follows the registry's ``champion`` alias and the snapshot's files; when
either changes it builds a new ``Deployment`` beside the old one and swaps one reference, so a
request sees one consistent (snapshot, model) pair and none waits for the load.
"""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from dataflywheel.features.online import OnlineSnapshot
from dataflywheel.lifecycle.registry import CHAMPION, Registry
from dataflywheel.ranking.ranker import Ranker
from dataflywheel.serving.recommend import Ask, CandidateIndex, Policy, Recommendation, recommend_many


@dataclass(frozen=True)
class Deployment:
    snapshot: OnlineSnapshot
    index: CandidateIndex
    ranker: Ranker
    model_version: str
    snapshot_as_of: datetime
    snapshot_stamp: float  # newest modification time of the snapshot's files

    def recommend(self, asks: list[Ask], rng: np.random.Generator, policy: Policy) -> list[Recommendation]:
        return recommend_many(self.snapshot, self.index, self.ranker, self.model_version, asks, rng, policy)


def recommend_admitted(
    admitted: list[tuple[Deployment, Ask]], rng: np.random.Generator, policy: Policy
) -> list[Recommendation]:
    """Each ask served by the deployment it was admitted under (a batch spans two only while
    one is swapped in), in the order given."""
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
        self.current: Deployment | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="deployment", daemon=True)

    def start(self) -> None:
        self.refresh()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def refresh(self) -> bool:
        """Load what changed (model, snapshot or both) and swap; True if it swapped."""
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
