"""The staging DuckDB a range run keeps across its days: what one day's load made there is gone
before the next day's starts, and the warehouse attached beside it is left alone. A process keeps
idle staging connections for its next loads: as new (nothing attached, no secret, no table), with
each load's own settings and temporary folder, whether the load succeeded or failed; one that
spilled, was interrupted, or a fork's, is not kept."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from platform_assets.core import staging
from platform_assets.core.staging import clear_staging, staging_connection
from platform_assets.core.warehouse import (
    LoaderSettings,
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


@pytest.fixture
def no_idle() -> Iterator[None]:
    staging.close_idle()
    yield
    staging.close_idle()


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> object:
    return con.execute("SELECT current_setting(?)", [name]).fetchone()[0]


def test_a_kept_connection_starts_the_next_load_as_new_with_its_settings(tmp_path, no_idle):
    warehouse = tmp_path / "warehouse.duckdb"
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    with staging_connection(LoaderSettings(memory_limit="300MB", threads=1), first) as con:
        kept = con
        con.execute(f"ATTACH '{warehouse}' AS wh")
        con.execute("CREATE TABLE wh.main.t AS SELECT 1 AS a")
        con.execute("CREATE TABLE key_counts AS SELECT 1 AS k")
        con.execute("CREATE TEMPORARY SECRET s (TYPE http, BEARER_TOKEN 'hunter2')")
        con.execute("BEGIN TRANSACTION; CREATE TABLE decisions AS SELECT 1 AS k")  # left open
    assert staging.idle_connections() == 1
    with duckdb.connect(str(warehouse)) as other:  # the file's write lock is free again
        assert other.execute("SELECT a FROM t").fetchall() == [(1,)]
    with staging_connection(LoaderSettings(memory_limit="200MB", threads=2), second) as con:
        assert con is kept
        assert staging.idle_connections() == 0
        databases = con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        assert sorted(d for (d,) in databases) == ["memory", "system", "temp"]
        assert con.execute("SELECT count(*) FROM duckdb_secrets()").fetchone() == (0,)
        assert _objects(con, "memory") == set()
        assert con.execute("SELECT current_schema()").fetchone() == ("staging",)
        assert _setting(con, "temp_directory") == str(second / staging.SPILL_FOLDER)
        assert _setting(con, "threads") == 2
        assert str(_setting(con, "memory_limit")).startswith(("190", "200"))  # 200 MB in MiB
    assert staging.idle_connections() == 1


def test_a_connection_that_spilled_or_was_interrupted_is_closed_not_kept(tmp_path, no_idle):
    with staging_connection(LoaderSettings(memory_limit="40MB", threads=1), tmp_path) as con:
        con.execute("CREATE TABLE big AS SELECT md5(range::VARCHAR) AS h FROM range(2000000)")
        assert (tmp_path / staging.SPILL_FOLDER).is_dir()  # it spilled to the load's folder
    assert staging.idle_connections() == 0
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(KeyboardInterrupt):
        with staging_connection(LoaderSettings(), other) as con:
            raise KeyboardInterrupt  # a run terminated mid-load
    assert staging.idle_connections() == 0
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")  # closed


def test_a_connection_whose_load_failed_is_reset_and_kept(tmp_path, no_idle):
    """A load's own error (a rule broken) leaves its connection as new for the next load: on a
    lake a new one would load the extensions again."""
    warehouse = tmp_path / "warehouse.duckdb"
    with pytest.raises(RuntimeError, match="the load's own"):
        with staging_connection(LoaderSettings(), tmp_path) as con:
            failed = con
            con.execute("CREATE TABLE rejects AS SELECT 1 AS line")
            con.execute(f"ATTACH '{warehouse}' AS wh")
            con.execute("BEGIN TRANSACTION; CREATE TABLE wh.main.half AS SELECT 1 AS a")
            raise RuntimeError("the load's own error")
    assert staging.idle_connections() == 1
    with duckdb.connect(str(warehouse)) as other:  # detached; its transaction never committed
        assert other.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)
    with staging_connection(LoaderSettings(), tmp_path) as con:
        assert con is failed
        databases = con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        assert sorted(d for (d,) in databases) == ["memory", "system", "temp"]
        assert _objects(con, "memory") == set()


def test_a_kept_connection_whose_spill_folder_went_first_is_replaced(tmp_path, no_idle):
    """DuckDB keeps a temporary folder once it wrote there: the next load gets a new one."""
    spilled = tmp_path / "gone"
    spilled.mkdir()
    with staging_connection(LoaderSettings(memory_limit="40MB", threads=1), spilled) as con:
        kept = con
        con.execute("CREATE TABLE big AS SELECT md5(range::VARCHAR) AS h FROM range(2000000)")
        con.execute("DROP TABLE big")
        shutil.rmtree(spilled)  # a caller that removed its work folder first
    assert staging.idle_connections() == 1
    with staging_connection(LoaderSettings(), tmp_path) as con:
        assert con is not kept
        assert _setting(con, "temp_directory") == str(tmp_path / staging.SPILL_FOLDER)


def test_no_kept_connection_crosses_a_fork(tmp_path, no_idle):
    with staging_connection(LoaderSettings(), tmp_path):
        pass
    assert staging.idle_connections() == 1
    pid = os.fork()
    if pid == 0:  # the child: nothing inherited to use
        os._exit(staging.idle_connections())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert staging.idle_connections() == 0  # closed in the parent before the fork
