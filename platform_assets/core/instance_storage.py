"""Dagster's SQLite instance storage with its connections kept: the shipped ``dagster.yaml``'s
``storage`` (``make demo``, ``make dev``, a single machine).

Dagster's own SQLite storage opens a new SQLAlchemy engine and a new SQLite connection for every
event it stores, and mirrors each asset event into the cross-run index file with a second one (a
check evaluation: a third). Closing the last connection of a WAL database checkpoints it (two
``fsync``s), so an event costs ~11 ms: a 7-day demo stores ~1,700 events (every partition's
materialization, checks and planned events), about 20 s of a run's time.

This is the same storage, same files, same layout (``history/runs.db``, ``history/runs/<run>.db``,
``history/runs/index.db``, ``schedules/``), same schema and migrations, so a history written by
one reads with the other. What differs: one engine per file, made once, whose connection stays
open between statements (SQLite's locks and WAL still let other processes read and write the
files; at most ``RUN_FILE_ENGINES`` run files are kept open). A commit then lands in the WAL and
not yet in the run's file, which the webserver watches (inotify) to stream a run's logs: each
write to a run's file touches its mtime, which the watcher sees as a modification.

Dagster also asks, before storing each asset event and check evaluation, whether the index file
has the tables its migrations add, over a new connection each time: a table found is remembered.

An event then costs ~3 ms (``benchmarks/overhead.py``'s figures are in ``docs/operations.md``).
PostgreSQL storage (``dagster_home/storage-postgres.yaml``, :mod:`.postgres_storage`: the same
idea for dagster-postgres) remains the production choice.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

RUN_FILE_ENGINES = 16
"""Per-run files whose engines stay cached (a run worker writes one; the webserver reads a few)."""


def _engine(conn_string: str) -> Engine:
    """SQLAlchemy's queue pool over one SQLite file; a connection moves between threads, used by
    one at a time. Dagster's files are in WAL mode; their commits here are ``synchronous=NORMAL``
    (SQLite's recommendation for WAL): no fsync per event, the file never corrupt, and a killed
    process loses nothing; only a power cut can lose the last events (the run history, never
    the warehouse, which DuckDB commits itself)."""
    engine = create_engine(
        conn_string,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
    )
    event.listen(engine, "connect", _normal_sync)
    return engine


def _normal_sync(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class RemembersTables:
    """An event log storage that remembers a table it has found. Dagster asks before storing every
    asset event and check evaluation, each time over a new connection and a schema read (~2 ms
    on SQLite); a table, once there, stays (Dagster's migrations add tables, never drop them), so
    only a missing one is asked again. Put before the storage class in the bases."""

    _tables: set[str]

    def has_table(self, table_name: str) -> bool:
        if table_name in self._tables:
            return True
        found = super().has_table(table_name)  # type: ignore[misc]
        if found:
            self._tables.add(table_name)
        return found


class PooledSqliteEventLogStorage(RemembersTables, SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log with one engine per file (see the module)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: dict[str, Engine] = {}
        self._tables: set[str] = set()
        self._asset_key_columns: set[str] = set()
        super().__init__(base_dir, inst_data)

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        """Whether the index's ``asset_keys`` table has ``column_name``. Dagster asks before
        storing every asset event, by reflecting the table's columns (~0.25 ms, a tenth of the
        event's cost); a column, once there, stays (migrations add columns, never drop them)."""
        if column_name in self._asset_key_columns:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)
        if found:
            self._asset_key_columns.add(column_name)
        return found

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:  # the parent's lock: one statement at a time per process, as before
            engine = self._engines.get(shard)
            if engine is None:
                engine = _engine(self.conn_string_for_shard(shard))
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
                runs = [name for name in self._engines if name != INDEX_SHARD_NAME]
                if len(runs) >= RUN_FILE_ENGINES:
                    self._engines.pop(runs[0]).dispose()  # the oldest (dicts keep order)
                self._engines[shard] = engine
            with engine.connect() as conn, conn.begin():
                yield conn
            if shard != INDEX_SHARD_NAME:  # the watchers of a run's file see each write (below)
                with suppress(FileNotFoundError):
                    os.utime(self.path_for_shard(shard))

    def wipe(self) -> None:
        """Dagster's wipe deletes the run files: their kept connections are closed first (a
        connection kept to a deleted file would take the next writes with it)."""
        self._close_engines()
        self._tables.clear()
        self._asset_key_columns.clear()
        super().wipe()

    def dispose(self) -> None:
        self._close_engines()
        super().dispose()

    def _close_engines(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class PooledSqliteRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage with one pooled engine (see the module)."""

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(conn_string, inst_data)
        self._pooled: Engine | None = None
        self._pool_lock = threading.Lock()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._pool_lock:
            if self._pooled is None:
                self._pooled = _engine(self._conn_string)
        with self._pooled.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        if self._pooled is not None:
            self._pooled.dispose()
        super().dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """``storage: custom:`` in ``dagster.yaml``: Dagster's SQLite storage (runs, event logs,
    schedules under ``base_dir``) with the pooled run and event-log storages above."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Any
    ) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
