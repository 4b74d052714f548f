"""The shipped PostgreSQL instance storage (``dagster_home/storage-postgres.yaml``,
``core/postgres_storage.py``): dagster-postgres's storage with each process keeping its
connections, against a real PostgreSQL (Debian's, started by the worker's fixture). Runs, events
and checks stored and read back; a connection kept between calls, where Dagster's own storage
opens one per call; a forked process opens its own and leaves its parent's alone."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml  # type: ignore[import-untyped]
from sqlalchemy import text

from platform_assets.core.postgres_storage import (
    PooledPostgresEventLogStorage,
    PooledPostgresRunStorage,
    PooledPostgresScheduleStorage,
)
from platform_assets_tests.integration.test_instance_storage import JOB, _partitions
from platform_assets_tests.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(lake_postgres: PostgresServer, tmp_path: Path, monkeypatch) -> Iterator[Path]:
    """A ``DAGSTER_HOME`` whose storage is the shipped PostgreSQL block, on a database of its
    own in the worker's server."""
    import psycopg2

    server, name = lake_postgres, f"instance_{secrets.token_hex(6)}"
    conn = psycopg2.connect(
        host=server.host, port=server.port, user=server.user, password=server.password,
        dbname=server.db_name, connect_timeout=30,
    )  # fmt: skip
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    for variable, value in {**server.env(), "DAGSTER_PG_DB": name}.items():
        monkeypatch.setenv(variable, value)
    home = tmp_path / "home"
    home.mkdir()
    shipped = yaml.safe_load((REPO / "dagster_home" / "storage-postgres.yaml").read_text())
    (home / "dagster.yaml").write_text(yaml.safe_dump({"storage": shipped["storage"]}))
    yield home


def _backend(storage) -> int:  # noqa: ANN001
    """The PostgreSQL backend serving the storage's next call (its connection's server pid)."""
    with storage.index_connection() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar())


def test_runs_events_and_checks_are_stored_in_the_pooled_postgres_storage(home: Path):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PooledPostgresRunStorage)
        assert isinstance(instance.event_log_storage, PooledPostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PooledPostgresScheduleStorage)
        # a run's process builds its instance from the launcher's ref: the same storage
        with dg.DagsterInstance.from_ref(instance.get_ref()) as from_ref:
            assert isinstance(from_ref.event_log_storage, PooledPostgresEventLogStorage)
            assert isinstance(from_ref.run_storage, PooledPostgresRunStorage)
        run_ids = [JOB.execute_in_process(instance=instance, partition_key=k).run_id for k in "ab"]
        assert _partitions(instance) == ["a", "b"]
        assert {r.run_id for r in instance.get_runs()} == set(run_ids)
        assert all(r.is_success for r in instance.get_runs())
        checks = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("sample"), "sample_check"), limit=10
        )
        assert len(checks) == 2


def test_a_connection_is_kept_between_calls_where_dagster_postgres_opens_one_each(home: Path):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        events = instance.event_log_storage
        assert len({_backend(events) for _ in range(5)}) == 1
    # Dagster's own storage over the same database: a new backend (a new connection) each call
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    (home / "dagster.yaml").write_text(
        yaml.safe_dump({"storage": {"postgres": config["storage"]["custom"]["config"]}})
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert not isinstance(instance.event_log_storage, PooledPostgresEventLogStorage)
        assert len({_backend(instance.event_log_storage) for _ in range(5)}) == 5


def test_a_forked_process_opens_its_own_connection_and_leaves_its_parents(home: Path):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        events = instance.event_log_storage
        parent = _backend(events)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: one call, its backend to the parent, no clean-up
            code = 1
            try:
                os.write(write, str(_backend(events)).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        child = int(os.read(read, 32) or b"0")
        os.close(read)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert child not in (0, parent)
        assert _backend(events) == parent  # the parent's connection, untouched by the child
        JOB.execute_in_process(instance=instance, partition_key="c")
        assert _partitions(instance) == ["c"]
