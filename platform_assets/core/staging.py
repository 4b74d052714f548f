"""The private staging DuckDB of a load (its keys, rejects and decisions; the warehouse attached
beside them), and the idle ones a process keeps for its next load.

A new in-memory DuckDB costs ~15 ms, and on a lake much more: loading the DuckLake and PostgreSQL
extensions checks their signatures, 0.14-0.22 s for each new database (a second ``LOAD`` in the
same one takes ~1 ms). A process therefore keeps up to :data:`IDLE_CONNECTIONS` staging
connections between loads, reset to what a new one is. What is per load stays per load: each
:func:`staging_connection` sets the settings' memory limit and threads and its own temporary
folder (DuckDB spills there; the caller removes it). DuckDB cannot move a temporary folder it has
written to, so a connection that spilled is closed, not kept; so is one whose reset fails, one
whose load was interrupted (a load that failed with an error is reset and kept like any other),
and every idle one before this process forks (a child must not inherit a database's threads).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from platform_assets.core.sqltext import quote_ident, quote_literal

if TYPE_CHECKING:
    from platform_assets.core.warehouse import LoaderSettings

STAGING_SCHEMA = "staging"
"""The schema of a staging connection's own in-memory database its loads create their tables and
views in (the connection's default): :func:`clear_staging` drops it whole."""
_NEW_STAGING_SCHEMA = f"CREATE SCHEMA memory.{STAGING_SCHEMA}; USE memory.{STAGING_SCHEMA}"
SPILL_FOLDER = "duckdb_tmp"
"""The temporary folder of a load's DuckDB, inside the load's work folder."""
IDLE_CONNECTIONS = 2
"""Staging connections a process keeps between loads (a range run holds one; a sensor's or a
second thread's load another)."""
_BUILT_IN_DATABASES = {"memory", "system", "temp"}

_idle: list[duckdb.DuckDBPyConnection] = []
_idle_lock = threading.Lock()


@contextmanager
def staging_connection(
    settings: LoaderSettings, work_dir: Path
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private in-memory DuckDB for the small per-load tables (keys, rejects, decisions); it
    spills to ``work_dir`` past the settings' memory limit, runs in UTC, and uses
    :data:`STAGING_SCHEMA` as its default schema. An idle one of this process when there is one
    (as new), else a new one; kept for the next load after, when it can be."""
    spill = work_dir / SPILL_FOLDER
    con = _configured(settings, spill)
    try:
        yield con
    except Exception:
        # a load's own error (a rule broken, a lock timed out): reset and kept like any other (a
        # new one on a lake checks its extensions' signatures again: ~0.28 CPU-s)
        _give_back(con, spill)
        raise
    except BaseException:
        con.close()  # interrupted (a run's termination, ^C): nothing is trusted of it
        raise
    _give_back(con, spill)


def clear_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every table and view the loads made on a staging connection (its schema, dropped
    and made again), so the next load on it starts as on a new connection (a range run keeps
    one). No catalog is listed: ``duckdb_tables()`` lists every attached database's, ~40 ms on
    a DuckLake (its tables' sizes asked of the catalog)."""
    con.execute(
        f"USE memory.main; DROP SCHEMA memory.{STAGING_SCHEMA} CASCADE; {_NEW_STAGING_SCHEMA}"
    )


def idle_connections() -> int:
    """How many staging connections this process keeps now (a figure for the tests)."""
    with _idle_lock:
        return len(_idle)


def close_idle() -> None:
    """Close the idle staging connections (before a fork, at exit; the tests' reset)."""
    with _idle_lock:
        closing = list(_idle)
        _idle.clear()
    for con in closing:
        with suppress(duckdb.Error):
            con.close()


def _configured(settings: LoaderSettings, spill: Path) -> duckdb.DuckDBPyConnection:
    """An idle connection (or a new one) set up for one load spilling to ``spill``. An idle
    one that refuses the settings (it spilled to a folder removed before it was given back:
    DuckDB keeps its temporary folder once used) is closed, and the next one tried."""
    while True:
        with _idle_lock:
            con = _idle.pop() if _idle else None
        kept = con is not None
        con = con or duckdb.connect(":memory:")
        try:
            con.execute(
                f"SET memory_limit = {quote_literal(settings.memory_limit)}; "
                f"SET threads = {int(settings.threads or os.cpu_count() or 2)}; "
                f"SET temp_directory = {quote_literal(str(spill))}; "
                "SET preserve_insertion_order = true; SET TimeZone = 'UTC'; "
                f"{_NEW_STAGING_SCHEMA}"
            )
        except duckdb.Error:
            con.close()
            if kept:
                continue
            raise
        except BaseException:
            con.close()
            raise
        return con


def _give_back(con: duckdb.DuckDBPyConnection, spill: Path) -> None:
    """Keep ``con`` for the next load, reset to what a new one is; or close it (it spilled, its
    reset failed, or enough are kept)."""
    try:
        if spill.exists() or not _reset(con):
            con.close()
            return
    except Exception:  # noqa: BLE001 - a database a reset cannot use is closed, whatever the error
        con.close()
        return
    with _idle_lock:
        if len(_idle) < IDLE_CONNECTIONS:
            _idle.append(con)
            return
    con.close()


def _reset(con: duckdb.DuckDBPyConnection) -> bool:
    """Leave ``con`` as a new connection is: no transaction, nothing attached, no temporary
    secret (a lake's catalog password), the staging schema gone and nothing else made in its
    own database. False when something is left that a reset does not remove."""
    with suppress(duckdb.TransactionException):  # no transaction open: nothing to roll back
        con.execute("ROLLBACK")
    con.execute(f"USE memory.main; DROP SCHEMA IF EXISTS memory.{STAGING_SCHEMA} CASCADE")
    for (name,) in con.execute("SELECT database_name FROM duckdb_databases()").fetchall():
        if name not in _BUILT_IN_DATABASES:
            con.execute(f"DETACH {quote_ident(name)}")
    for (name,) in con.execute("SELECT name FROM duckdb_secrets() WHERE NOT persistent").fetchall():
        con.execute(f"DROP TEMPORARY SECRET {quote_ident(name)}")
    left = con.execute(
        "SELECT (SELECT count(*) FROM duckdb_tables() WHERE NOT internal) "
        "+ (SELECT count(*) FROM duckdb_views() WHERE NOT internal) "
        "+ (SELECT count(*) FROM duckdb_schemas() WHERE NOT internal "
        "AND schema_name <> 'main' AND database_name = 'memory')"
    ).fetchall()[0][0]
    return left == 0


os.register_at_fork(before=close_idle)
atexit.register(close_idle)
