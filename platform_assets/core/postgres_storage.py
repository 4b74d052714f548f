"""Dagster's PostgreSQL instance storage with its connections kept: the shipped
``dagster_home/storage-postgres.yaml`` (a deployment's run queue, daemon, runs and Celery
workers on one PostgreSQL).

dagster-postgres opens a new connection for every storage call (its engines use SQLAlchemy's
``NullPool``, dagster-io/dagster#33935): PostgreSQL forks a backend and checks the password each
time. A step stores a handful of events, each with its own connection (and asks whether a table
exists over another), and a run's executor polls the run and the pools every second: the
scale-out test's deployment opened ~9,000 connections, and its surviving Celery worker spent
~15% of its time opening them (py-spy).

This is the same storage (same tables, schema, migrations, same ``postgres_db`` settings): a
history written by one reads with the other. What differs: each of its three storages (runs,
event log, schedules) keeps up to :data:`POOL_SIZE` connection open between calls, checked by a
ping before each use (a connection the server closed is replaced, not failed), at most
:data:`MAX_OVERFLOW` more while threads (the daemon's) call at once. A connection belongs to the
process that opened it: a forked process (a run forked from a warm code server) opens its own
and never touches its parent's. The webserver's storage is Dagster's own pooled one
(``optimize_for_webserver`` replaces these engines), as before.
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy
from dagster._core.storage.config import pg_config
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.storage import DagsterPostgresStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)
from sqlalchemy import event, exc, pool

from platform_assets.core.instance_storage import RemembersTables

POOL_SIZE = 1
"""Connections each storage keeps open per process between calls (three storages: up to three
idle connections per process, where dagster-postgres keeps none)."""
MAX_OVERFLOW = 4
"""Connections opened beyond the pool while threads call at once (closed when returned)."""
RECYCLE_SECONDS = 600
"""A kept connection older than this is closed and replaced (server-side idle limits)."""


def pooled_engine(storage: Any) -> sqlalchemy.engine.Engine:
    """A dagster-postgres storage's engine with a per-process queue pool, in place of the
    ``NullPool`` one its constructor made (that one is disposed: it holds no connection)."""
    storage._engine.dispose()
    engine = create_pg_engine(
        storage.postgres_url,
        storage._token_provider,
        isolation_level="AUTOCOMMIT",
        poolclass=pool.QueuePool,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_pre_ping=True,
        pool_recycle=RECYCLE_SECONDS,
    )
    event.listen(engine, "connect", _remember_process)
    event.listen(engine, "checkout", _refuse_other_process)
    return engine


def _remember_process(_dbapi_connection: object, record: Any) -> None:
    record.info["pid"] = os.getpid()


def _refuse_other_process(_dbapi_connection: object, record: Any, proxy: Any) -> None:
    """SQLAlchemy's recipe for pools across ``fork``: a connection inherited from the parent is
    dropped without being closed (closing it would end the parent's session) and replaced."""
    if record.info.get("pid") != os.getpid():
        record.dbapi_connection = proxy.dbapi_connection = None
        raise exc.DisconnectionError("a connection of another process: opening this process's")


class PooledPostgresRunStorage(PostgresRunStorage):
    """dagster-postgres's run storage with a kept connection (see the module)."""

    def __init__(self, postgres_url: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(postgres_url, *args, **kwargs)
        self._engine = pooled_engine(self)


class PooledPostgresEventLogStorage(RemembersTables, PostgresEventLogStorage):
    """dagster-postgres's event log with a kept connection; a table found is remembered."""

    def __init__(self, postgres_url: str, *args: Any, **kwargs: Any) -> None:
        self._tables = set()
        super().__init__(postgres_url, *args, **kwargs)
        self._engine = pooled_engine(self)


class PooledPostgresScheduleStorage(PostgresScheduleStorage):
    """dagster-postgres's schedule storage with a kept connection (see the module)."""

    def __init__(self, postgres_url: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(postgres_url, *args, **kwargs)
        self._engine = pooled_engine(self)


class PooledPostgresStorage(DagsterPostgresStorage):
    """``storage: custom:`` in ``dagster.yaml`` with dagster-postgres's ``postgres_db`` config:
    its three storages, each keeping its connection (see the module)."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        common = {"token_provider": token_provider}
        self._run_storage = PooledPostgresRunStorage(
            postgres_url, should_autocreate_tables, **common
        )
        self._event_log_storage = PooledPostgresEventLogStorage(
            postgres_url, should_autocreate_tables, **common
        )
        self._schedule_storage = PooledPostgresScheduleStorage(
            postgres_url, should_autocreate_tables, **common
        )
        super(DagsterPostgresStorage, self).__init__()

    @classmethod
    def config_type(cls) -> Any:
        return pg_config()

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
