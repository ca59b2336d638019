"""The canary: a challenger serves a share of users while the champion serves the rest, and
what users do with each decides: promote it, or roll it back.

State lives on the challenger's registry version (tags), so the service, the sensor that
judges and the jobs that act all read one record: ``canary=running`` with its share; then
``promoted`` or ``rolled_back`` with the decision's reasons (or ``superseded`` when a newer
challenger's canary starts first). The canary starts with the challenger's first logged
list (or fallback); the champion's lists count from then on.

A user's arm is a hash of the challenger version and the user id: sticky for the whole canary
(a user never flips between models mid-canary) and independent from one canary to the next.
The unit of comparison is the served list: clicks and engagements per list, the click
prediction the list was served with, how long it took to score and whether the challenger
failed on it (the service then serves the champion's list and logs the fallback). Lists are
judged once their labels are mature (``fct_rec_impressions``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import orjson
import polars as pl

from dataflywheel.lifecycle.sequential import SequentialResult, msprt_over_time

CANARY_TAG = "canary"
RUNNING, PROMOTED, ROLLED_BACK, SUPERSEDED = "running", "promoted", "rolled_back", "superseded"
SHARE_TAG = "canary_share"
DECISION_TAG = "canary_decision"


@dataclass(frozen=True)
class CanaryRules:
    """What the sequential test and the guardrails hold a challenger to."""

    share: float = 0.2  # of users served by the challenger
    alpha: float = 0.05  # the always-valid test's error rate
    tau: float = 0.1  # clicks per list: the size of difference the test is tuned to find
    min_lists: int = 100  # per arm, before any decision but a hard guardrail breach
    max_lists: int = 20_000  # challenger lists after which an undecided canary ends (champion kept)
    max_fallback_rate: float = 0.01  # share of the challenger's lists it failed to score
    max_tail_ratio: float = 2.0  # challenger's tail scoring time over the champion's, at most (plus 5 ms)
    # The tail is the p99 once each arm has this many lists (five of them above it); before, the p90: a
    # p99 of ~150 lists rests on their two slowest, and two stalled requests on a busy machine breach it.
    p99_min_lists: int = 500
    # The challenger's calibration error (|log predicted / observed clicks|) at most the champion's
    # plus log(this): no worse by more than this factor. A guardrail against gross breakage (a wrong
    # intercept or scale; the flywheel's broken challenger is 50x too low), not fine calibration (the
    # per-segment asset check). Not an absolute band, and not tight: a challenger is frozen during
    # its canary while the features it reads keep growing (a healthy model frozen for a day was off
    # by 2.8x in the closed loop), and after a broken champion the data it caught up on is skewed (a
    # healthy recovery challenger was off by 5.5x, the inverted champion by 1.7x: a factor of 3 rolled
    # it back in one CI run of two).
    calibration_factor: float = 10.0
    calibration_min_clicks: int = 30
    # New items shown: at least this share of the champion's share, or of the serving policy's
    # floor when the champion shows more than the floor (a broken champion may show many).
    min_new_item_ratio: float = 0.8
    new_item_floor: float = 1.0  # the serving policy's new-item floor (no cap by default)


def in_canary(user_id: str, challenger_version: str, share: float) -> bool:
    """Whether ``user_id`` is served by the challenger: sticky, and uniform over users."""
    digest = hashlib.blake2b(f"{challenger_version}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


@dataclass(frozen=True)
class Arm:
    """Per served list of one arm, in the order served: outcomes and what the service logged with it."""

    served_at: np.ndarray  # seconds: the sequential test looks at the two arms' lists in this order
    clicks: np.ndarray
    engaged: np.ndarray
    predicted_clicks: np.ndarray  # the sum of the list's logged P(click)
    scoring_ms: np.ndarray
    fallbacks: int  # lists the challenger failed on (served the champion's instead)
    new_item_share: float = 0.0  # of the slots it showed: items the exposure floor protects

    @property
    def lists(self) -> int:
        return len(self.clicks) + self.fallbacks

    @property
    def click_rate(self) -> float:
        return float(self.clicks.mean()) if len(self.clicks) else 0.0

    @property
    def predicted_over_observed(self) -> float:
        """Clicks the served lists' predictions summed to, over the clicks they got."""
        return float(self.predicted_clicks.sum() / self.clicks.sum()) if self.clicks.sum() else math.nan

    def scoring_tail_ms(self, percentile: int) -> float:
        return float(np.percentile(self.scoring_ms, percentile)) if len(self.scoring_ms) else math.nan


def served_lists(impressions: pl.DataFrame) -> pl.DataFrame:
    """Impressions (``rec_request_id``, ``impression_ts``, ``model_version``, ``clicked``, ``engaged``,
    ``item_segment``, ``properties``) to one row per list: when it was served, its model, clicks,
    engagements, predicted clicks, scoring time, fallback, slots and new items shown."""
    logged = [orjson.loads(p) if p else {} for p in impressions.get_column("properties")]
    columns = ("rec_request_id", "impression_ts", "model_version", "clicked", "engaged", "item_segment")
    frame = impressions.select(columns).with_columns(
        p_click=pl.Series([p.get("p_click") for p in logged], dtype=pl.Float64),
        scoring_ms=pl.Series([p.get("scoring_ms") for p in logged], dtype=pl.Float64),
        fallback_from=pl.Series([p.get("fallback_from") for p in logged], dtype=pl.String),
    )
    return frame.group_by("rec_request_id").agg(
        pl.col("model_version").first(),
        pl.col("fallback_from").first(),
        served_at=pl.col("impression_ts").min(),
        clicks=pl.col("clicked").cast(pl.Int64).sum(),
        engaged=pl.col("engaged").cast(pl.Int64).sum(),
        predicted_clicks=pl.col("p_click").sum(),
        scoring_ms=pl.col("scoring_ms").first(),
        slots=pl.len(),
        new_items=(pl.col("item_segment") == "new").sum(),
    )


def arms(lists: pl.DataFrame, challenger: str) -> tuple[Arm, Arm]:
    """The champion's lists (whichever hourly version of its line served them) and the
    challenger's; a list the challenger failed on counts against the challenger."""

    def arm(mine: pl.Expr, fallbacks: int) -> Arm:
        own = lists.filter(mine & pl.col("fallback_from").is_null()).sort("served_at", "rec_request_id")
        return Arm(
            own.get_column("served_at").dt.epoch("us").to_numpy() / 1e6,
            own.get_column("clicks").to_numpy().astype(float),
            own.get_column("engaged").to_numpy().astype(float),
            own.get_column("predicted_clicks").fill_null(0.0).to_numpy(),
            own.get_column("scoring_ms").drop_nulls().to_numpy(),
            fallbacks,
            own.get_column("new_items").sum() / max(own.get_column("slots").sum(), 1),
        )

    fallbacks = lists.filter(pl.col("fallback_from") == challenger).height
    is_challenger = pl.col("model_version") == challenger
    return arm(~is_challenger, 0), arm(is_challenger, fallbacks)


@dataclass
class Decision:
    action: str  # "promote", "rollback" or "continue"
    reasons: list[str] = field(default_factory=list)
    clicks: SequentialResult | None = None
    engaged: SequentialResult | None = None

    def summary(self) -> str:
        return "; ".join(self.reasons) or "no decision yet"


def guardrail_breaches(champion: Arm, challenger: Arm, rules: CanaryRules) -> list[str]:
    """What the challenger must never do, whatever its clicks: fail, slow down, mispredict, or
    starve the items the exposure floors protect."""
    breaches = []
    if challenger.lists and challenger.fallbacks / challenger.lists > rules.max_fallback_rate:
        breaches.append(f"error rate {challenger.fallbacks / challenger.lists:.1%} > {rules.max_fallback_rate:.0%}")
    judged = min(len(champion.scoring_ms), len(challenger.scoring_ms))
    if judged >= rules.min_lists:
        tail = 99 if judged >= rules.p99_min_lists else 90
        tail_champion, tail_challenger = champion.scoring_tail_ms(tail), challenger.scoring_tail_ms(tail)
        if tail_challenger > rules.max_tail_ratio * tail_champion + 5.0:
            breaches.append(f"scoring p{tail} {tail_challenger:.1f} ms vs the champion's {tail_champion:.1f} ms")
    if challenger.new_item_share < rules.min_new_item_ratio * min(champion.new_item_share, rules.new_item_floor):
        breaches.append(
            f"new items {challenger.new_item_share:.1%} of slots vs the champion's {champion.new_item_share:.1%}"
        )
    if min(challenger.clicks.sum(), champion.clicks.sum()) >= rules.calibration_min_clicks:
        ratio, champion_ratio = challenger.predicted_over_observed, champion.predicted_over_observed
        if abs(math.log(ratio)) > abs(math.log(champion_ratio)) + math.log(rules.calibration_factor):
            breaches.append(f"predicted / observed clicks {ratio:.2f}, the champion's {champion_ratio:.2f}")
    return breaches


def decide(champion: Arm, challenger: Arm, rules: CanaryRules) -> Decision:
    """Roll back on a guardrail breach or a significant loss in clicks or engagement; promote on
    a significant gain in clicks without a significant loss in engagement; roll back once the
    traffic budget is spent without a decision (the champion stays: a change must earn its place).

    Each sequential test looks at the lists in the order they were served, from ``min_lists`` per
    arm on, and stops at its first significant look: its result is the same in every later
    verdict, however many lists came in since. The guardrails judge all the lists so far."""
    clicks, engaged = (
        msprt_over_time(
            getattr(champion, outcome),
            champion.served_at,
            getattr(challenger, outcome),
            challenger.served_at,
            rules.tau,
            rules.alpha,
            first_look=rules.min_lists,
        )
        for outcome in ("clicks", "engaged")
    )
    decision = Decision("continue", clicks=clicks, engaged=engaged)
    if challenger.fallbacks and challenger.fallbacks / challenger.lists > rules.max_fallback_rate:
        # Failing requests end the canary at once: no minimum traffic for an outage.
        return Decision("rollback", guardrail_breaches(champion, challenger, rules), clicks, engaged)
    if min(len(champion.clicks), len(challenger.clicks)) < rules.min_lists:
        return decision
    breaches = guardrail_breaches(champion, challenger, rules)
    worse = [
        f"{name} per list {_judged(r)}"
        for name, r in (("clicks", clicks), ("engagements", engaged))
        if r.significant(rules.alpha) and r.difference < 0
    ]
    if breaches or worse:
        return Decision("rollback", breaches + worse, clicks, engaged)
    if clicks.significant(rules.alpha) and clicks.difference > 0:
        gain = f"clicks per list {_judged(clicks)}"
        return Decision("promote", [f"{gain}, no guardrail breached"], clicks, engaged)
    if challenger.lists >= rules.max_lists:
        return Decision("rollback", [f"no significant difference after {challenger.lists:,} lists"], clicks, engaged)
    return decision


def _judged(result: SequentialResult) -> str:
    """A test's difference, p-value and the challenger lists of the look it stopped at (or the last)."""
    return (
        f"{result.difference:+.3f} (always-valid p = {result.p_value:.3g} at {result.n_challenger:,} challenger lists)"
    )
