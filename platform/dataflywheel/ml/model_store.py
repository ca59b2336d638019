"""Ranker states by hour on local disk: the chain's memory between hourly runs.

Each hour's model is written to a temporary file and renamed into place, so a crashed run
never leaves a half-written model for the next hour to start from.
"""

from __future__ import annotations

import os
import pickle
from datetime import datetime
from pathlib import Path

from .ranker import Ranker

HOUR_FORMAT = "%Y-%m-%dT%H"


class ModelStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, hour: datetime) -> Path:
        return self.root / f"{hour:{HOUR_FORMAT}}.pkl"

    def save(self, hour: datetime, ranker: Ranker) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(hour)
        tmp = final.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_bytes(pickle.dumps(ranker))
        os.replace(tmp, final)
        return final

    def load(self, hour: datetime) -> Ranker | None:
        path = self.path(hour)
        return pickle.loads(path.read_bytes()) if path.exists() else None

    def any_before(self, hour: datetime) -> bool:
        """Whether a chain already exists before ``hour`` (then hour - 1 must be there too)."""
        return any(datetime.strptime(p.stem, HOUR_FORMAT) < hour for p in self.root.glob("*.pkl"))
