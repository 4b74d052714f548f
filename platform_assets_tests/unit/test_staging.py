"""The staging DuckDB a range run keeps across its days: what one day's load made there is gone
before the next day's starts, and the warehouse attached beside it is left alone."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from platform_assets.core.warehouse import (
    LoaderSettings,
    clear_staging,
    staging_connection,
    table_exists,
)


def _objects(con: duckdb.DuckDBPyConnection, database: str) -> set[str]:
    """Every non-temporary table and view of ``database``, as information_schema lists them."""
    rows = con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_catalog = ?",
        [database],
    ).fetchall()
    return {name for (name,) in rows}


def test_clearing_drops_what_a_day_made_and_nothing_of_the_warehouse(tmp_path: Path):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA vendor; CREATE TABLE vendor.rows AS SELECT 1 AS a")
    with staging_connection(LoaderSettings(), tmp_path) as con:
        con.execute(f"ATTACH '{warehouse}' AS wh")
        for day in range(3):  # what one day's load makes, three days running
            con.execute("CREATE TABLE key_counts AS SELECT range AS k FROM range(10)")
            con.execute("CREATE TABLE winners AS SELECT k FROM key_counts")
            con.execute("CREATE VIEW typed AS SELECT k FROM winners")
            assert len(_objects(con, "memory")) == 3, day
            assert con.execute("SELECT count(*) FROM typed").fetchone() == (10,)
            clear_staging(con)
            assert _objects(con, "memory") == set(), day
        assert _objects(con, "wh") == {"vendor.rows"}
        assert con.execute("SELECT a FROM wh.vendor.rows").fetchall() == [(1,)]


@pytest.mark.parametrize(
    ("schema", "table", "expected"),
    [
        ("vendor", "rows", True),
        ("vendor", "other_view", True),  # a relation: a table of that name cannot be made
        ("vendor", "other", False),
        ("missing", "rows", False),
    ],
)
def test_a_relation_exists_as_the_catalog_says(tmp_path: Path, schema, table, expected):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA vendor; CREATE TABLE vendor.rows AS SELECT 1 AS a")
        con.execute("CREATE VIEW vendor.other_view AS SELECT 1 AS a")
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{warehouse}' AS wh")
        assert table_exists(con, "wh", schema, table) is expected
        assert (f"{schema}.{table}" in _objects(con, "wh")) is expected
        assert table_exists(con, "memory", schema, table) is False
