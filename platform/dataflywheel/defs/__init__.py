"""Dagster definitions, one folder per domain (ingestion, transform, features, ranking, lifecycle,
monitoring). Each only wires logic that lives in the folders above it; nothing there imports this.
"""
