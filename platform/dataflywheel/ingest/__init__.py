"""Ingestion: the landing zone (files by arrival hour), validation rules, and the loaders into raw tables.

The loaders read the landing zone's Parquet through DuckDB whatever engine holds the
warehouse downstream: this folder is the DuckDB side of the raw layer. Imports ``contracts``
and ``warehouse`` only.
"""
