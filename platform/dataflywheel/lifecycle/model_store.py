"""States of an hourly chain on local disk (rankers, loss monitors): the memory between hourly runs.

Each hour's model is written to a temporary file and renamed into place, so a crashed run
never leaves a half-written model for the next hour to start from. A promotion *rebases*
the chain: the promoted model is recorded as the state after an hour, and the next hour
starts from it instead (the hour's own model stays, so the history is not rewritten).
"""

from __future__ import annotations

import os
import pickle
from datetime import datetime
from pathlib import Path

HOUR_FORMAT = "%Y-%m-%dT%H"


class ModelStore:
    """One chain's states by hour: any picklable object (a ranker, a loss monitor)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, hour: datetime) -> Path:
        return self.root / f"{hour:{HOUR_FORMAT}}.pkl"

    def rebased_path(self, hour: datetime) -> Path:
        return self.root / "rebased" / f"{hour:{HOUR_FORMAT}}.pkl"

    def save(self, hour: datetime, state: object) -> Path:
        return _write_atomic(self.path(hour), state)

    def rebase(self, hour: datetime, state: object) -> Path:
        """From now on the state after ``hour`` is ``state`` (a promoted model)."""
        return _write_atomic(self.rebased_path(hour), state)

    def load(self, hour: datetime):
        """The model after ``hour``: the one that scores hour + 1 and that hour + 1 learns from."""
        for path in (self.rebased_path(hour), self.path(hour)):
            if path.exists():
                return pickle.loads(path.read_bytes())
        return None

    def hours(self) -> list[datetime]:
        """The hours the chain has its own state for (rebased states aside)."""
        return sorted(datetime.strptime(p.stem, HOUR_FORMAT) for p in self.root.glob("*.pkl"))

    def latest_hour(self) -> datetime | None:
        return max(self.hours(), default=None)

    def expire(self, before: datetime) -> int:
        """Delete the states (own and rebased) of hours before ``before``; how many. The newest own
        state is always kept: the chain goes on from it."""
        newest = self.latest_hour()
        expired = [
            p
            for p in (*self.root.glob("*.pkl"), *self.root.glob("rebased/*.pkl"))
            if (h := datetime.strptime(p.stem, HOUR_FORMAT)) < before and h != newest
        ]
        for path in expired:
            path.unlink()
        return len(expired)

    def latest_before(self, hour: datetime) -> datetime | None:
        """The last hour before ``hour`` that has a state (None: the chain starts at ``hour``)."""
        return max(
            (h for p in self.root.glob("*.pkl") if (h := datetime.strptime(p.stem, HOUR_FORMAT)) < hour), default=None
        )


def _write_atomic(final: Path, state: object) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_bytes(pickle.dumps(state))
    os.replace(tmp, final)
    return final
