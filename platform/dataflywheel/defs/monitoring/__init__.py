"""Monitoring domain: alerts for freshness, failed runs and failed blocking checks."""

import dagster as dg

from .sensors import alerts_sensor


def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[alerts_sensor])
