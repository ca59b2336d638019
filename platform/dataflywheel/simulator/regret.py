"""How close the served lists come to the best possible ones, by the simulator's hidden truth.

For every list the service showed, the expected clicks (and engagements) of what it showed at
the positions it showed them, against three policies on the same request (same user, same
time, same list length), each over the items of the user's tenant that exist at that time:

- ``oracle``: the true best ``k``, best first (the position effect is the same for every item,
  so ranking by the item's own logit is the best order);
- ``popular``: the tenant's ``k`` most popular items (the simulator's popularity weight, which
  drives how often items are browsed: what a most-popular baseline converges to);
- ``random``: ``k`` items drawn uniformly, as an exact expectation rather than a draw.

Expected values rather than the clicks drawn: the comparison is then free of the click noise
of a modest volume, and the oracle needs no counterfactual draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from dataflywheel.simulator.world import World

POLICIES = ("served", "oracle", "popular", "random")


@dataclass
class RegretLedger:
    world: World
    new_item_days: int
    rows: list[dict] = field(default_factory=list)

    def record(self, day: int, user: int, items: np.ndarray, now_s: int, shifted: bool, version: str = "") -> None:
        """One served list (``items`` in position order) of ``user`` at ``now_s`` (simulation
        seconds), served by model ``version``."""
        w, k = self.world, len(items)
        if k == 0:
            return
        lo, hi = w.tenant_items
        tenant = w.user_tenant[user]
        eligible = np.arange(lo[tenant], hi[tenant])
        eligible = eligible[w.item_created_s[eligible] <= now_s]
        positions = np.arange(k)
        expected = {"served": self._expected(user, items, positions, now_s, shifted)}
        own = w.click_logit(np.full(len(eligible), user), eligible, np.zeros(len(eligible)), now_s, shifted)
        best = eligible[np.argsort(-own, kind="stable")[:k]]
        expected["oracle"] = self._expected(user, best, positions[: len(best)], now_s, shifted)
        popular = eligible[np.argsort(-w.item_popularity[eligible], kind="stable")[:k]]
        expected["popular"] = self._expected(user, popular, positions[: len(popular)], now_s, shifted)
        grid_items, grid_positions = np.repeat(eligible, k), np.tile(positions, len(eligible))
        clicks, engaged, _ = self._expected(user, grid_items, grid_positions, now_s, shifted)
        expected["random"] = (clicks / len(eligible), engaged / len(eligible), 0.0)
        row = {"day": day, "version": version, "new_user": bool(w.user_join_day[user] == day), "slots": k}
        for policy, (clicks, engaged, new_items) in expected.items():
            row |= {f"clicks/{policy}": clicks, f"engaged/{policy}": engaged, f"new_items/{policy}": new_items}
        self.rows.append(row)

    def _expected(
        self, user: int, items: np.ndarray, positions: np.ndarray, now_s: int, shifted: bool
    ) -> tuple[float, float, float]:
        """Expected clicks, expected engagements, and how many of ``items`` are new."""
        users, now = np.full(len(items), user), np.full(len(items), now_s)
        ctr = self.world.oracle_ctr(users, items, positions, now, shifted)
        engage = ctr * self.world.engage_given_click(users, items, shifted)
        new = (now_s - self.world.item_created_s[items]) < self.new_item_days * 86_400
        return float(ctr.sum()), float(engage.sum()), float(new.sum())

    def served_by(self, version: str) -> tuple[int, float]:
        """Slots served by ``version`` and their true click rate."""
        rows = [r for r in self.rows if r["version"] == version]
        slots = sum(r["slots"] for r in rows)
        return slots, (sum(r["clicks/served"] for r in rows) / slots if slots else 0.0)

    def table(self) -> pl.DataFrame:
        """Per day: each policy's click and engagement rate per shown slot, served / oracle, regret
        (oracle minus served, per slot), and the same for new users on their first day."""
        if not self.rows:
            return pl.DataFrame()
        frame = pl.DataFrame(self.rows).drop("version")

        def rates(prefix: str = "") -> list[pl.Expr]:
            per_slot = [
                (pl.col(f"{m}/{p}").sum() / pl.col("slots").sum()).alias(f"{prefix}{m}/{p}")
                for m in ("clicks", "engaged")
                for p in POLICIES
            ]
            return per_slot + [pl.len().alias(f"{prefix}lists")]

        days = frame.group_by("day").agg(
            *rates(),
            (pl.col("new_items/served").sum() / pl.col("slots").sum()).alias("new_item_share/served"),
            (pl.col("new_items/oracle").sum() / pl.col("slots").sum()).alias("new_item_share/oracle"),
        )
        newcomers = frame.filter(pl.col("new_user")).group_by("day").agg(*rates("new_users/"))
        table = days.join(newcomers, on="day", how="left").sort("day")
        return table.with_columns(
            (pl.col("clicks/served") / pl.col("clicks/oracle")).alias("click_ratio"),
            (pl.col("clicks/oracle") - pl.col("clicks/served")).alias("click_regret"),
            (pl.col("engaged/served") / pl.col("engaged/oracle")).alias("engaged_ratio"),
            (pl.col("new_users/clicks/served") / pl.col("new_users/clicks/oracle")).alias("new_users/click_ratio"),
        )
