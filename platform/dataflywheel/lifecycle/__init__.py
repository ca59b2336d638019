"""The model lifecycle: the hourly chain's store, the registry (versions, aliases, lineage),
challengers and their quality gate, promotion and rollback.

Imports ``ranking`` and ``settings``; no Dagster.
"""
