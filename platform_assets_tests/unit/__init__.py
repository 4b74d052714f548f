"""Unit tests: no network, no Dagster instance (local folders and DuckDB files only)."""
