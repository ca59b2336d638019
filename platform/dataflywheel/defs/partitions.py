"""The two clocks of the platform: arrival hours (ingestion) and event-time days (models)."""

from functools import cache

import dagster as dg

from .. import settings


@cache
def arrival_hours() -> dg.HourlyPartitionsDefinition:
    return dg.HourlyPartitionsDefinition(start_date=settings.partitions_start().strftime("%Y-%m-%d-%H:%M"))


@cache
def event_days() -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=settings.partitions_start().strftime("%Y-%m-%d"))
