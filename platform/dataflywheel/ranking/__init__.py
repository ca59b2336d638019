"""Ranking: the model's inputs, the online multi-objective ranker, its hourly learning step,
metrics and the offline evaluation.

Imports ``contracts`` and ``features`` (the declarations); the hourly chain it evaluates is any
object with ``load(hour)`` (``lifecycle.model_store``). No Dagster.
"""
