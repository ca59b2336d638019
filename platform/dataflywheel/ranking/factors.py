"""What counts cannot say: a user's own taste for an item, learned online as embeddings.

The ranker's logistic regression sees aggregates (how often an item is clicked, whether it is
the user's team's); it cannot represent that this user likes this kind of item. This adds, on
top of the regression's logit, an item bias and the dot product of a user vector and an item
vector (a factorization machine's pairwise term over the user and item ids), learned by
mini-batch SGD on the click log loss of the combined logit: the factors learn what the
regression leaves unexplained.

Hand-written rather than River's ``facto``/``reco`` models: those learn one example at a time
in Python (tens of microseconds each), and the hourly chain learns millions of examples a
day in mini-batches (``bench/``); this is the same update on numpy arrays, per batch. Each
row's term depends on that row alone, so a candidate's score does not depend on its batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class OnlineFactors:
    dim: int = 8
    learning_rate: float = 0.05
    l2: float = 1e-4
    init_scale: float = 0.1
    seed: int = 0
    users: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    user_vectors: np.ndarray = field(init=False)
    item_vectors: np.ndarray = field(init=False)
    item_bias: np.ndarray = field(init=False)
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self):
        self._rng = np.random.default_rng(self.seed)
        self.user_vectors = np.zeros((0, self.dim))
        self.item_vectors = np.zeros((0, self.dim))
        self.item_bias = np.zeros(0)

    def term(self, user_ids, item_ids) -> np.ndarray:
        """Item bias plus user . item per row; 0 for an id never learned (cold start: the
        regression's logit alone)."""
        u = np.array([self.users.get(user, -1) for user in user_ids], dtype=np.int64)
        i = np.array([self.items.get(item, -1) for item in item_ids], dtype=np.int64)
        known_u, known_i = u >= 0, i >= 0
        out = np.where(known_i, self.item_bias[np.maximum(i, 0)] if len(self.item_bias) else 0.0, 0.0)
        both = known_u & known_i
        if both.any():
            out[both] += (self.user_vectors[u[both]] * self.item_vectors[i[both]]).sum(axis=1)
        return out

    def learn(self, user_ids, item_ids, base_logit: np.ndarray, clicked: np.ndarray) -> None:
        """One SGD step on a mini-batch: the gradient of the log loss of sigmoid(base + term)."""
        u = self._index(self.users, user_ids, "user")
        i = self._index(self.items, item_ids, "item")
        logit = base_logit + self.item_bias[i] + (self.user_vectors[u] * self.item_vectors[i]).sum(axis=1)
        error = 1.0 / (1.0 + np.exp(-logit)) - clicked  # d loss / d logit
        step = self.learning_rate
        grad_u = error[:, None] * self.item_vectors[i] + self.l2 * self.user_vectors[u]
        grad_v = error[:, None] * self.user_vectors[u] + self.l2 * self.item_vectors[i]
        np.subtract.at(self.item_bias, i, step * (error + self.l2 * self.item_bias[i]))
        np.subtract.at(self.user_vectors, u, step * grad_u)
        np.subtract.at(self.item_vectors, i, step * grad_v)

    def _index(self, ids: dict[str, int], keys, kind: str) -> np.ndarray:
        """Rows of ``keys``, adding a small random vector for each new one."""
        rows = np.empty(len(keys), dtype=np.int64)
        new = []
        for n, key in enumerate(keys):
            row = ids.get(key)
            if row is None:
                row = ids[key] = len(ids)
                new.append(row)
            rows[n] = row
        if new:
            fresh = self._rng.normal(0.0, self.init_scale, (len(new), self.dim))
            if kind == "user":
                self.user_vectors = _with_room(self.user_vectors, len(ids))
                self.user_vectors[new] = fresh
            else:
                self.item_vectors = _with_room(self.item_vectors, len(ids))
                self.item_vectors[new] = fresh
                self.item_bias = _with_room(self.item_bias, len(ids))
        return rows


def _with_room(array: np.ndarray, rows: int) -> np.ndarray:
    """``array`` with at least ``rows`` rows (new rows 0), doubling: growth costs O(1) per row."""
    if rows <= len(array):
        return array
    grown = np.zeros((max(rows, 2 * len(array), 64), *array.shape[1:]))
    grown[: len(array)] = array
    return grown
