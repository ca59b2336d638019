"""Which event-time days were built before some of their events arrived."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def stale_days(arrivals: Iterable[tuple[float, Iterable[str]]], built_at: Mapping[str, float]) -> set[str]:
    """Days that need a rebuild.

    ``arrivals`` are (time an arrival hour was loaded, event days its rows belong to);
    ``built_at`` is when each day's models were last built. A day loaded into the raw
    table after its models were built is stale; a day never built is not (its first
    build will include everything).
    """
    return {day for loaded_at, days in arrivals for day in days if day in built_at and built_at[day] < loaded_at}
