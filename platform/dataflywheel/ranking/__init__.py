"""Ranking: the model's inputs, the online multi-objective ranker, its hourly learning step,
metrics and the offline evaluation.

Imports ``contracts``, ``features`` (declarations) and ``lifecycle.model_store`` (the chain it
evaluates); no Dagster.
"""
