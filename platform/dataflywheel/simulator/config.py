"""Knobs of a simulation run: size, seed, drift and fault rates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone


@dataclass(frozen=True)
class DriftSchedule:
    """From ``start_day`` (0-based) on, the world changes in a way the models must notice.

    Three kinds, each a knob (0 = off):

    - ``confluence_shift`` (product mix) moves that share of browsing from Jira to Confluence;
    - ``preference_shift`` (0..1, concept drift) rotates every user's hidden taste towards a
      common direction and moves attention from the team's own items to new ones: the same
      features now predict clicks differently;
    - ``onboarding_share`` (feature shift) is the share of existing users who only join on
      ``start_day``, like a large customer rolling out new seats: the population changes.
    """

    start_day: int | None = None
    confluence_shift: float = 0.2
    preference_shift: float = 0.6
    onboarding_share: float = 0.0

    # Each kind's knob and its default magnitude (the demo's, and the largest the detection experiment judges).
    KNOBS = {
        "feature": ("onboarding_share", 0.3),
        "preference": ("preference_shift", 0.6),
        "product_mix": ("confluence_shift", 0.2),
    }
    KINDS = tuple(KNOBS)

    @classmethod
    def of_kind(cls, kind: str, start_day: int, magnitude: float | None = None) -> "DriftSchedule":
        """One kind of drift alone, at ``magnitude`` (its knob's value; default: the kind's default)."""
        knob, default = cls.KNOBS[kind]
        off = {name: 0.0 for name, _ in cls.KNOBS.values()}
        return cls(start_day, **(off | {knob: default if magnitude is None else magnitude}))

    def active(self, day: int) -> bool:
        return self.start_day is not None and day >= self.start_day


@dataclass(frozen=True)
class FaultRates:
    """How the real world misbehaves: fractions of delivered rows."""

    duplicate: float = 0.01  # at-least-once redelivery of the same event
    late: float = 0.005  # delivered hours after it happened
    max_late_hours: int = 6
    malformed: float = 0.002  # split evenly across the malformed kinds
    clock_skew: float = 0.02  # clients whose clock is off by up to a few minutes
    max_skew_seconds: int = 240

    @classmethod
    def none(cls) -> "FaultRates":
        return cls(duplicate=0.0, late=0.0, malformed=0.0, clock_skew=0.0)


def _default_start() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=3)


@dataclass(frozen=True)
class SimulationConfig:
    days: int = 3
    events_per_day: int = 1_000_000  # on a working day; weekends are quieter
    seed: int = 1
    start: date = field(default_factory=_default_start)
    drift: DriftSchedule = field(default_factory=DriftSchedule)
    faults: FaultRates = field(default_factory=FaultRates)
    n_tenants: int | None = None  # default: scales with volume

    @property
    def start_dt(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=timezone.utc)

    @property
    def start_us(self) -> int:
        """The first simulated midnight (UTC), in microseconds since the epoch."""
        return int(self.start_dt.timestamp()) * 1_000_000
