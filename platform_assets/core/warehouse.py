"""The warehouse side of a load: the columns every table and rejects table carries, their DDL,
the private staging DuckDB, and attaching the warehouse: the DuckDB file (the embedded default,
waiting while another writer holds it) or a DuckLake (:mod:`.lake`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from platform_assets.core import lake
from platform_assets.core.errors import WarehouseBusy
from platform_assets.core.lake import LakeCatalog
from platform_assets.core.specs import TableSpec, quote_ident, quote_literal

LOCK_WAIT_SECONDS = 300.0
MAX_INFLATED_BYTES = 20 * 1024**3

STAGING_MEMORY_LIMIT = "512MB"
"""A load's DuckDB memory (its parse buffers, staging tables and the write into the warehouse;
past it DuckDB spills to the work folder): a 1 GB or 2 GB file loads in ~750 MB of RSS."""

MAX_LINE_BYTES = 16 << 20
"""16 MiB: a transcript message or a JSON blob in one field (DuckDB's own default is 2 MB)."""


@dataclass(frozen=True)
class LoaderSettings:
    """Limits of the loader's staging DuckDB and its work folder (from the platform settings)."""

    memory_limit: str = STAGING_MEMORY_LIMIT
    threads: int = 0
    """0: every core."""
    work_dir: str | None = None
    """Where downloads and spill files go (None: the system's temporary folder)."""
    lock_wait_seconds: float = LOCK_WAIT_SECONDS
    max_inflated_bytes: int = MAX_INFLATED_BYTES
    """A gzip file that inflates past this many bytes is refused (a decompression bomb)."""
    max_line_bytes: int = MAX_LINE_BYTES
    """The longest record (a field with its row) the parser accepts; a longer one fails the
    file naming its line and this limit."""
    archive_dir: str | None = None
    """The raw archive's root (None: no archive)."""
    parallel_downloads: int = 2
    """A range run downloads up to this many files at once, ahead of the day it loads."""
    volume_window: int = 7
    """A day's rows are compared with the average of this many previous loaded days."""
    volume_min_ratio: float = 0.5
    """A day with fewer rows than this share of that average warns."""
    pool_per_table: bool = False
    """Each table's writers take a pool of their own (a lake), not the warehouse's one."""


def writer_pool(spec: TableSpec, loader: LoaderSettings) -> str:
    """The Dagster pool a writer of ``spec``'s table takes: :data:`WAREHOUSE_POOL` (a DuckDB
    file has one writer at a time), or on a lake the table's own (tables load in parallel, the
    days of one table in turn: DuckLake aborts a second concurrent writer of a table)."""
    if not loader.pool_per_table:
        return WAREHOUSE_POOL
    return f"{WAREHOUSE_POOL}_{spec.schema}_{spec.table}"


def models_pool(loader: LoaderSettings) -> str:
    """The Dagster pool of dbt's builds: the warehouse's on a DuckDB file; on a lake the models'
    own (a build writes only the models' tables: the loads go on beside it, two builds do not)."""
    return f"{WAREHOUSE_POOL}_models" if loader.pool_per_table else WAREHOUSE_POOL


WAREHOUSE_POOL = "duckdb_warehouse"
"""The Dagster pool every writer of the warehouse file takes (one DuckDB writer at a time)."""
WAREHOUSE_RESOURCE = "duckdb"
"""The resource key of the warehouse (a ``DuckDBResource``)."""


@dataclass(frozen=True)
class Warehouse:
    """Where the tables are: a DuckDB file (``path``), or a DuckLake (``lake``) when set."""

    path: str = ""
    lake: LakeCatalog | None = None

    @property
    def display(self) -> str:
        """The warehouse as messages name it."""
        return self.lake.display if self.lake else self.path


def as_warehouse(target: str | Warehouse) -> Warehouse:
    """A DuckDB file's path as a :class:`Warehouse`; a warehouse as it is."""
    return target if isinstance(target, Warehouse) else Warehouse(path=str(target))


WAREHOUSE = "wh"
"""The name the warehouse file is attached under in the staging connection."""
LINEAGE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("__file_date", "DATE", "Date of the file the row was loaded from (the partition)."),
    ("__source_file", "VARCHAR", "Remote path of the file the row was loaded from."),
    ("__loaded_at", "TIMESTAMP", "When the row's current content was written (UTC)."),
)
REJECT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("__file_date", "DATE"),
    ("source_file", "VARCHAR"),
    ("line", "BIGINT"),
    ("column", "VARCHAR"),
    ("rule", "VARCHAR"),
    ("value", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("rejected_at", "TIMESTAMP"),
)


def reject_columns(spec: TableSpec) -> tuple[tuple[str, str], ...]:
    """The rejects table's columns (with the app id after the date for app-partitioned tables)."""
    if spec.app_column is None:
        return REJECT_COLUMNS
    return (REJECT_COLUMNS[0], (spec.app_column, "VARCHAR"), *REJECT_COLUMNS[1:])


def table_name(spec: TableSpec, catalog: str | None = None) -> str:
    prefix = f"{quote_ident(catalog)}." if catalog else ""
    return f"{prefix}{quote_ident(spec.schema)}.{quote_ident(spec.table)}"


def rejects_table_name(spec: TableSpec, catalog: str | None = None) -> str:
    prefix = f"{quote_ident(catalog)}." if catalog else ""
    return f"{prefix}{quote_ident(spec.schema)}.{quote_ident(spec.rejects_table)}"


def table_ddl(spec: TableSpec, catalog: str | None = None) -> list[str]:
    """The schema, the table and its rejects table (``IF NOT EXISTS``)."""
    prefix = f"{quote_ident(catalog)}." if catalog else ""
    cols = [f"{quote_ident(c.name)} {c.type}" for c in spec.columns]
    cols += [f"{quote_ident(n)} {t}" for n, t, _ in LINEAGE_COLUMNS]
    rejects = [f"{quote_ident(n)} {t}" for n, t in reject_columns(spec)]
    return [
        f"CREATE SCHEMA IF NOT EXISTS {prefix}{quote_ident(spec.schema)}",
        f"CREATE TABLE IF NOT EXISTS {table_name(spec, catalog)} ({', '.join(cols)})",
        f"CREATE TABLE IF NOT EXISTS {rejects_table_name(spec, catalog)} ({', '.join(rejects)})",
    ]


def scalar(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | dict[str, object] | None = None
) -> int:
    """The first value of a query as an int (0 for NULL); fetches all, leaving no open result."""
    rows = con.execute(sql, params or []).fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


@contextmanager
def unordered(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Statements on ``con`` free to write rows in any order (``preserve_insertion_order``
    off): an insert then streams in bounded memory instead of buffering batches to keep their
    order. The staging connection keeps order otherwise (:func:`ordered`)."""
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        with suppress(duckdb.TransactionException):  # an aborted one: the next ordered() sets it
            ordered(con)


def ordered(con: duckdb.DuckDBPyConnection) -> None:
    """Statements on ``con`` keep the order of their input (a scan of a file into a table keeps
    the file's order: a row's record number is its position)."""
    con.execute("SET preserve_insertion_order = true")


def table_exists(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str) -> bool:
    """Whether ``database.schema.table`` exists (a table or a view: one name is one relation),
    from ``duckdb_columns()``: ~1 ms on a DuckDB file and ~4 ms on a DuckLake, where
    ``duckdb_tables()`` takes ~40 ms (it asks the catalog for every table's size)."""
    return bool(
        con.execute(
            "SELECT 1 FROM duckdb_columns() WHERE database_name = $d AND schema_name = $s "
            "AND table_name = $t LIMIT 1",
            {"d": database, "s": schema, "t": table},
        ).fetchall()
    )


@contextmanager
def attached_warehouse(
    con: duckdb.DuckDBPyConnection, target: str | Warehouse, wait_seconds: float
) -> Iterator[str]:
    """Attach the warehouse as :data:`WAREHOUSE` for writing: a DuckDB file waiting (with a
    growing pause, at most ``wait_seconds``) while another process holds its lock, then
    :class:`WarehouseBusy` naming the holder (DuckDB's "Conflicting lock is held in ..."); a
    lake at once (it has no lock)."""
    _attach(con, as_warehouse(target), wait_seconds)
    try:
        yield WAREHOUSE
    finally:
        con.execute(f"DETACH {WAREHOUSE}")


KEEP_ATTACHED_SECONDS = 1.0
"""How long a range run keeps the warehouse file attached across its days
(:class:`WarehouseLease`): another process waits at most about this long plus one day's write
for the file's lock. A lake has no lock: it stays attached for the whole range."""


class WarehouseLease:
    """The warehouse attached for the writes of a range's days, one transaction each. Attaching
    and detaching (a checkpoint) cost ~8 ms: a 30-day backfill of 15 small tables paid ~4 s for
    them. The file stays attached from one day's write to the next until it has been held
    ``keep_seconds``; then it is detached after the write, so another writer (a run outside
    Dagster, ``duckdb`` on the command line) gets the lock between days, as when each day
    attached it alone. A failed write detaches it."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        target: str | Warehouse,
        wait_seconds: float,
        keep_seconds: float = KEEP_ATTACHED_SECONDS,
    ) -> None:
        self.warehouse = as_warehouse(target)
        self._con, self._wait = con, wait_seconds
        self._keep = float("inf") if self.warehouse.lake else keep_seconds
        self._since: float | None = None
        self.attaches = 0
        """How many times the file was attached (a figure for the tests)."""

    @contextmanager
    def writing(self) -> Iterator[str]:
        """The warehouse's catalog name for one day's write (attached first if it is not)."""
        if self._since is None:
            _attach(self._con, self.warehouse, self._wait)
            self._since = time.monotonic()
            self.attaches += 1
        try:
            yield WAREHOUSE
        except BaseException:
            with suppress(duckdb.Error):  # the write's own error is the one to report
                self.release()
            raise
        if time.monotonic() - self._since >= self._keep:
            self.release()

    def release(self) -> None:
        """Detach the file (a no-op when it is not attached)."""
        if self._since is not None:
            self._since = None
            self._con.execute(f"DETACH {WAREHOUSE}")


def _attach(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, wait_seconds: float) -> None:
    """``ATTACH`` the warehouse as :data:`WAREHOUSE`: a lake at once; a file waiting while
    another process holds its lock."""
    if warehouse.lake is not None:
        lake.attach(con, warehouse.lake, WAREHOUSE)
        return
    path = warehouse.path
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            con.execute(f"ATTACH {quote_literal(str(path))} AS {WAREHOUSE}")
            return
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() > deadline:
                holder = str(exc).split("Conflicting lock is held in", 1)[-1].strip()
                raise WarehouseBusy(
                    f"{path}: timed out after {wait_seconds:.0f} s waiting for the write lock; "
                    f"it is held by {holder or 'another process'} (a run outside Dagster or "
                    "another write connection). The run is retried."
                ) from None
            time.sleep(min(delay, max(deadline - time.monotonic(), 0.05)))
            delay = min(delay * 1.5, 5.0)
