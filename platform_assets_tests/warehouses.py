"""The warehouse backends a test of the loading rules runs on: the DuckDB file always, and a
DuckLake when ``PLATFORM_TEST_WAREHOUSES`` names it (``make test-lake``, in the lake's virtual
environment: DuckDB 1.5.5 with the DuckLake and PostgreSQL extension wheels). The lake's catalog
is a fresh database per test in a real PostgreSQL server (Debian's ``postgresql``, one per test
worker), its Parquet files in the test's folder."""

from __future__ import annotations

import functools
import itertools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from platform_assets.core import lake
from platform_assets.core.lake import LakeCatalog
from platform_assets.core.warehouse import Warehouse
from platform_assets_tests.postgres import PostgresServer

BACKENDS = tuple(
    b.strip() for b in os.environ.get("PLATFORM_TEST_WAREHOUSES", "duckdb").split(",") if b.strip()
)
"""The backends the backend-parametrized tests run on (default: the DuckDB file only)."""
BACKEND_PARAMS = tuple(pytest.param(b, id=b, marks=pytest.mark.backends) for b in BACKENDS)
""":data:`BACKENDS` as the params of a backend fixture: each marks the tests that use it
``backends`` (the lake lane's selection), so a test on a DuckDB file alone is left to ``make
test`` instead of running again, unchanged, in ``make test-lake``."""


def new_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> str | Warehouse:
    """The parametrized ``warehouse`` of a test: a DuckDB file's path, or a new lake."""
    if request.param == "duckdb":
        return str(tmp_path / "warehouse.duckdb")
    if request.param != "ducklake":
        raise ValueError(f"PLATFORM_TEST_WAREHOUSES: unknown backend {request.param!r}")
    server: PostgresServer = request.getfixturevalue("lake_postgres")
    return Warehouse(lake=new_lake(server, tmp_path / "lake"))


def new_lake(server: PostgresServer, data_path: Path) -> LakeCatalog:
    """A lake with its own catalog database in ``server``, its files under ``data_path``."""
    import psycopg2  # dagster-postgres's driver (the test extra)

    name = f"lake_{secrets.token_hex(6)}"
    conn = psycopg2.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        dbname=server.db_name,
        connect_timeout=30,
    )
    try:
        conn.autocommit = True  # CREATE DATABASE runs outside a transaction
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    return LakeCatalog(
        host=server.host,
        port=server.port,
        database=name,
        user=server.user,
        password=server.password,
        data_path=str(data_path),
    )


def lake_env(catalog: lake.LakeCatalog) -> dict[str, str]:
    """``PLATFORM_WAREHOUSE=ducklake`` and the ``PLATFORM_LAKE_*`` variables of ``catalog``."""
    return {
        "PLATFORM_WAREHOUSE": "ducklake",
        lake.CATALOG_HOST: catalog.host,
        lake.CATALOG_PORT: str(catalog.port),
        lake.CATALOG_DB: catalog.database,
        lake.CATALOG_USER: catalog.user,
        lake.CATALOG_PASSWORD: catalog.password,
        lake.DATA_PATH: catalog.data_path,
    }


_aliases = itertools.count()


@functools.cache
def _reader() -> duckdb.DuckDBPyConnection:
    """This process's one in-memory DuckDB for reading lakes (a cursor of it per read), its
    extensions loaded once: a new DuckDB checks their signatures again (~0.15 s of CPU each
    time, most of what a lake test's reads cost)."""
    base = duckdb.connect(":memory:")
    lake.load_extensions(base)
    return base


_attached: dict[LakeCatalog, str] = {}
"""The lake :func:`_reader` has attached (one at a time: a test reads its own lake many times in
a row, and each attachment holds connections to the catalog's PostgreSQL)."""


def _alias(catalog: LakeCatalog) -> str:
    """``catalog``'s name in :func:`_reader`, attached on its first read (~25 ms: the catalog's
    round trips) and kept until another lake is read: a read starts a transaction, which sees
    the lake's latest snapshot."""
    if catalog not in _attached:
        for alias in _attached.values():
            _reader().execute(f"DETACH {alias}")
        _attached.clear()
        _attached[catalog] = f"lake_{next(_aliases)}"
        lake.attach(_reader(), catalog, _attached[catalog])
    return _attached[catalog]


@contextmanager
def reading(target: str | Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection on which the warehouse's tables are ``schema.table``: the file opened
    read-only, or the lake attached (under a name of its own) and made the default catalog."""
    if isinstance(target, str):
        with duckdb.connect(target, read_only=True) as con:
            yield con
        return
    assert target.lake is not None
    alias = _alias(target.lake)
    with _reader().cursor() as con:
        con.execute(f"USE {alias}")
        yield con


@contextmanager
def writing(target: str | Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """As :func:`reading`, for writing (a test's own setup of the warehouse)."""
    if isinstance(target, str):
        with duckdb.connect(target) as con:
            yield con
        return
    with reading(target) as con:
        yield con


def tables(target: str | Warehouse) -> list[str]:
    """The warehouse's tables (``schema.table``); none when the file does not exist."""
    if isinstance(target, str) and not Path(target).exists():
        return []
    with reading(target) as con:
        return [
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() "
                "WHERE database_name = current_database() ORDER BY ALL"
            ).fetchall()
        ]


def untouched(target: str | Warehouse) -> bool:
    """Nothing was written: the file does not exist; the lake has no table."""
    if isinstance(target, str):
        return not Path(target).exists()
    return tables(target) == []
