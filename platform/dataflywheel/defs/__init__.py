"""Dagster definitions, one folder per domain. Each domain only wires logic that lives elsewhere."""
