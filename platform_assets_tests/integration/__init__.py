"""Integration tests: the real sshd, real DuckDB files, Dagster instances, local HTTP servers."""
