"""Monitoring: the daily drift report, the loss-stream detector, skew and calibration checks,
and where alerts go.

Imports ``features``, ``ranking``, ``lifecycle`` and ``warehouse``; no Dagster.
"""
