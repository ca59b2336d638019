"""The two clocks of the platform: arrival hours (ingestion) and event-time days (models)."""

from datetime import datetime, timedelta
from functools import cache

import dagster as dg

from dataflywheel import settings
from dataflywheel.ingest.landing import parse_hour_key

HOUR_KEY = "%Y-%m-%d-%H:%M"  # Dagster's hourly partition key format


@cache
def arrival_hours() -> dg.HourlyPartitionsDefinition:
    return dg.HourlyPartitionsDefinition(start_date=settings.current().partitions_start.strftime(HOUR_KEY))


@cache
def event_days() -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=settings.current().partitions_start.strftime("%Y-%m-%d"))


def partition_key_of(landing_hour: str) -> str:
    """Landing folder hour (2026-11-22T13) to its hourly partition key (2026-11-22-13:00)."""
    return partition_of(parse_hour_key(landing_hour))


def landing_hour_of(partition_key: str) -> str:
    """The inverse: hourly partition key (2026-11-22-13:00) to landing folder hour (2026-11-22T13)."""
    return datetime.strptime(partition_key, HOUR_KEY).strftime("%Y-%m-%dT%H")


def hours_in(window: dg.TimeWindow) -> list[datetime]:
    """The hours of a run's partition window, oldest first (naive UTC): one hour, or the whole
    range of a single-run backfill (a catch-up of many hours is one run, not one per hour)."""
    start, end = window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)
    return [start + timedelta(hours=n) for n in range(int((end - start) / timedelta(hours=1)))]


def partition_of(hour: datetime) -> str:
    """The hourly partition key of ``hour``."""
    return hour.strftime(HOUR_KEY)
