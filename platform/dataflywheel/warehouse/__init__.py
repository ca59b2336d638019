"""The engine seam: the warehouse operations the Python side needs, behind one interface.

``engine.Engine`` names them (replace a partition, the point-in-time join, sampling, latest
row per key, snapshot export, reading Parquet); ``duckdb.DuckDBEngine`` implements them for
the embedded default. Engine-specific SQL lives in an implementation, nowhere else: the
feature, ranking and monitoring code speaks portable SQL and calls the engine for the rest.
Imports only ``contracts``.
"""
