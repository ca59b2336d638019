"""The two clocks of the platform: arrival hours (ingestion) and event-time days (models)."""

from functools import cache

import dagster as dg

from .. import settings
from ..events.landing import parse_hour_key


@cache
def arrival_hours() -> dg.HourlyPartitionsDefinition:
    return dg.HourlyPartitionsDefinition(start_date=settings.partitions_start().strftime("%Y-%m-%d-%H:%M"))


@cache
def event_days() -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=settings.partitions_start().strftime("%Y-%m-%d"))


def partition_key_of(landing_hour: str) -> str:
    """Landing folder hour (2026-11-22T13) to its hourly partition key (2026-11-22-13:00)."""
    return parse_hour_key(landing_hour).strftime("%Y-%m-%d-%H:%M")
