"""Dagster-free ML: the feature store, training examples, the online ranker and its metrics."""
