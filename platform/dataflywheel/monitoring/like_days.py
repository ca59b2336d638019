"""Which earlier days a day can be compared with: days of the same kind.

A day's kind is whether it, and the day before it, fall on a weekend: activity follows the
weekly cycle, and a day's 1-day windows reach into the day before, so Tuesday to Friday are
alike, while a Monday is compared with Mondays and a Saturday with Saturdays.
"""

from __future__ import annotations

from datetime import date, timedelta


def day_kind(day: date) -> tuple[bool, bool]:
    """Whether the day, and the day before it, fall on a weekend."""
    return day.weekday() >= 5, (day - timedelta(days=1)).weekday() >= 5


def reference_days(day: date, first_day: date, days: int = 7) -> list[date]:
    """The days among the ``days`` before ``day`` of the same kind, never the platform's first
    day, when every window is still filling. Empty: nothing comparable yet."""
    candidates = (day - timedelta(days=k) for k in range(days, 0, -1))
    return [d for d in candidates if d > first_day and day_kind(d) == day_kind(day)]


def nearest_judgeable_day(first_day: date, days: int, wanted: int) -> int:
    """The day index nearest ``wanted`` (later ones first) that has a reference: where a
    scheduled drift can be seen on its own day."""
    judgeable = [d for d in range(days) if reference_days(first_day + timedelta(days=d), first_day)]
    return min(judgeable, key=lambda d: (d < wanted, abs(d - wanted)), default=wanted)
