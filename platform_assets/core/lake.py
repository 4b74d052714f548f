"""The warehouse on DuckLake: the catalog in PostgreSQL, the data as Parquet files under a path
(a local or shared folder; an S3-compatible bucket with DuckDB's S3 settings), for more than one
writer on more than one machine. The embedded default stays the single DuckDB file.

What DuckLake needs that the DuckDB file does not, stated here once:

- **Its extensions, offline.** DuckDB downloads extensions on first use; this platform installs
  them from PyPI instead (the ``lake`` extra: ``duckdb==1.5.5`` with the
  ``duckdb-extension-ducklake`` and ``duckdb-extension-postgres`` wheels) and loads them from the
  installed files. The PostgreSQL wheel's file is ``postgres.duckdb_extension`` but its entry
  point is ``postgres_scanner``: it loads under that name (a link to it, made once per user).
- **The catalog's password in a DuckDB secret.** A failed ``ATTACH`` echoes its connection
  string; the password therefore never enters it: a temporary secret of the connection holds
  the catalog's host, port, database, user and password, and the ``ATTACH`` names the secret.
- **Conflicts at commit.** DuckLake serializes writers per table: two transactions that write
  one table (a delete and an insert, even of different days) conflict, and the later one aborts
  at ``COMMIT``. The loads take a pool per table on the lake (one writer per table, tables in
  parallel), and a load whose commit still conflicts (a table shared by every load, such as the
  load records) is retried a bounded number of times (:data:`COMMIT_ATTEMPTS`).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from platform_assets.core.errors import LoadError
from platform_assets.core.sqltext import quote_ident, quote_literal

LAKE_DUCKDB_VERSION = "1.5.5"
"""The DuckDB whose extension wheels PyPI has (the ``lake`` extra pins it)."""
COMMIT_ATTEMPTS = 5
"""A write that conflicts at commit is tried at most this many times in all."""
DBT_ALIAS = "lake"
"""The lake's name in dbt's connections (the profile's ``lake`` target attaches it so)."""

CATALOG_HOST = "PLATFORM_LAKE_CATALOG_HOST"
CATALOG_PORT = "PLATFORM_LAKE_CATALOG_PORT"
CATALOG_DB = "PLATFORM_LAKE_CATALOG_DB"
CATALOG_USER = "PLATFORM_LAKE_CATALOG_USER"
CATALOG_PASSWORD = "PLATFORM_LAKE_CATALOG_PASSWORD"
DATA_PATH = "PLATFORM_LAKE_DATA_PATH"
REQUIRED = (CATALOG_HOST, CATALOG_DB, CATALOG_USER, CATALOG_PASSWORD, DATA_PATH)
"""The variables a lake needs (the port defaults to 5432)."""


class LakeUnavailable(LoadError):
    """The DuckLake extensions are not installed (or not for this DuckDB)."""


class CommitConflict(LoadError):
    """Another transaction wrote the same lake table first; the write may be retried."""


@dataclass(frozen=True)
class LakeCatalog:
    """Where a DuckLake lives: its catalog database in PostgreSQL and its data path."""

    host: str
    database: str
    user: str
    data_path: str
    port: int = 5432
    password: str = field(default="", repr=False)
    """From ``dg.EnvVar`` only; never in SQL text that can surface, in logs or in messages."""

    @property
    def display(self) -> str:
        """The lake as messages name it (no password)."""
        return (
            f"DuckLake postgres://{self.user}@{self.host}:{self.port}/{self.database} "
            f"(data {self.data_path})"
        )


def catalog_from_env(env: Mapping[str, str]) -> LakeCatalog:
    """The lake the ``PLATFORM_LAKE_*`` variables of ``env`` name (dbt's plugin reads them so;
    the code location through ``dg.EnvVar``)."""
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        raise LakeUnavailable(f"PLATFORM_WAREHOUSE=ducklake needs {', '.join(missing)}")
    return LakeCatalog(
        host=env[CATALOG_HOST],
        port=int(env.get(CATALOG_PORT) or 5432),
        database=env[CATALOG_DB],
        user=env[CATALOG_USER],
        password=env[CATALOG_PASSWORD],
        data_path=absolute_data_path(env[DATA_PATH]),
    )


def absolute_data_path(data_path: str) -> str:
    """``data_path`` when it is a URL or an absolute path: dbt runs in its project's folder and
    the loads wherever the code location does, so a relative folder would be two lakes."""
    if "://" in data_path or Path(data_path).is_absolute():
        return data_path
    raise LakeUnavailable(f"{DATA_PATH} must be an absolute path or a URL, got {data_path!r}")


def load_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """Load the DuckLake and PostgreSQL extensions from their installed wheels."""
    ducklake = _wheel_extension("duckdb_extension_ducklake", "ducklake")
    postgres = _wheel_extension("duckdb_extension_postgres", "postgres")
    con.execute(f"LOAD {quote_literal(str(ducklake))}")
    con.execute(f"LOAD {quote_literal(str(_as_postgres_scanner(postgres)))}")


def attach(con: duckdb.DuckDBPyConnection, catalog: LakeCatalog, alias: str) -> None:
    """Attach the lake as ``alias`` (its extensions loaded, its password in a secret)."""
    load_extensions(con)
    secret = f"{alias}_catalog"
    try:
        con.execute(
            f"CREATE OR REPLACE TEMPORARY SECRET {quote_ident(secret)} (TYPE postgres, "
            f"HOST {quote_literal(catalog.host)}, PORT {int(catalog.port)}, "
            f"DATABASE {quote_literal(catalog.database)}, USER {quote_literal(catalog.user)}, "
            f"PASSWORD {quote_literal(catalog.password)})"
        )
    except duckdb.Error:
        raise LakeUnavailable(f"{catalog.display}: the catalog's secret was refused") from None
    data_path = catalog.data_path if "://" in catalog.data_path else _folder(catalog.data_path)
    con.execute(
        f"ATTACH 'ducklake:postgres:' AS {quote_ident(alias)} "
        f"(DATA_PATH {quote_literal(data_path)}, META_SECRET {quote_literal(secret)})"
    )


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is DuckLake's abort of a transaction that lost a write-write conflict."""
    return isinstance(exc, duckdb.TransactionException) and "conflict" in str(exc).lower()


def _folder(path: str) -> str:
    """A local data path, created, with the trailing slash DuckLake expects of a folder."""
    Path(path).mkdir(parents=True, exist_ok=True)
    return str(Path(path).resolve()) + "/"


def _wheel_extension(package: str, name: str) -> Path:
    """The extension file of the installed ``package`` for this DuckDB."""
    spec = importlib.util.find_spec(package)
    version = f"v{duckdb.__version__}"
    found = None
    if spec is not None and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations)))
        candidate = root / "extensions" / version / f"{name}.duckdb_extension"
        found = candidate if candidate.is_file() else None
    if found is None:
        raise LakeUnavailable(
            f"PLATFORM_WAREHOUSE=ducklake needs the {name} extension for DuckDB {version}: "
            f"install the lake extra (pip install 'platform-assets[lake]': duckdb=="
            f"{LAKE_DUCKDB_VERSION} with its {package.replace('_', '-')} wheel)"
        )
    return found


def _as_postgres_scanner(extension: Path) -> Path:
    """The PostgreSQL extension under its entry point's name: a symbolic link to the wheel's
    file in a folder only this user can write (``~/.cache/platform-assets``), made once."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = cache / "platform-assets" / "duckdb-extensions" / f"v{duckdb.__version__}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise LakeUnavailable(f"{folder}: must belong to this user and be writable only by it")
    link = folder / "postgres_scanner.duckdb_extension"
    if not (link.is_symlink() and link.resolve() == extension.resolve()):
        part = folder / f".postgres_scanner.{os.getpid()}"
        part.unlink(missing_ok=True)
        part.symlink_to(extension.resolve())
        os.replace(part, link)
    return link
