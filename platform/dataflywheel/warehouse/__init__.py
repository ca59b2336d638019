"""The engine seam: the warehouse operations the Python side needs, behind one interface.

``engine.Engine`` names them (replace a partition, the as-of join, latest row per key, sampling,
reading Parquet, snapshot export); ``duckdb.DuckDBEngine`` implements them for the embedded
default. Engine-specific SQL lives in an implementation, nowhere else: the feature, ranking
and monitoring code speaks portable SQL and calls the engine for the rest. Imports nothing
of ours.
"""
