"""The shipped instance's storage (``core/instance_storage.py``): Dagster's SQLite storage with its
connections kept. The same files as Dagster's own, read and written by either; bounded."""

import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from platform_assets.core.instance_storage import (
    RUN_FILE_ENGINES,
    PooledSqliteEventLogStorage,
    PooledSqliteRunStorage,
)

REPO = Path(__file__).resolve().parents[2]


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b", "c"]))
def sample(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """A partitioned asset with a row count, as the table assets report one."""
    return dg.MaterializeResult(metadata={"rows": len(context.partition_key)})


@dg.asset_check(asset=sample, partitions_def=sample.partitions_def)
def sample_check() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


JOB = dg.Definitions(
    assets=[sample],
    asset_checks=[sample_check],
    jobs=[dg.define_asset_job("sample_job", [sample])],
).resolve_job_def("sample_job")


def _materialize(instance: dg.DagsterInstance, key: str) -> str:
    result = JOB.execute_in_process(instance=instance, partition_key=key)
    assert result.success
    return result.run_id


def _partitions(instance: dg.DagsterInstance) -> list[str]:
    records = instance.fetch_materializations(dg.AssetKey("sample"), limit=100).records
    return sorted(r.partition_key or "" for r in records)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_the_shipped_instance_stores_runs_events_and_checks_in_the_pooled_storage(home: Path):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert isinstance(instance.run_storage, PooledSqliteRunStorage)
        runs = [_materialize(instance, key) for key in ("a", "b", "c")]
        assert _partitions(instance) == ["a", "b", "c"]
        for run_id in runs:
            run = instance.get_run_by_id(run_id)
            assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        evaluations = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("sample"), "sample_check"), limit=10
        )
        assert len(evaluations) == 3
    # the layout of Dagster's default storage, under DAGSTER_HOME
    assert (home / "history" / "runs.db").is_file()
    assert (home / "history" / "runs" / "index.db").is_file()
    assert {p.stem for p in (home / "history" / "runs").glob("*.db")} >= set(runs)


def _instance(config_dir: Path, storage: str, base: Path) -> dg.DagsterInstance:
    """An instance whose only setting is ``storage`` over the history in ``base``."""
    config_dir.mkdir(exist_ok=True)
    (config_dir / "dagster.yaml").write_text(
        f"telemetry:\n  enabled: false\nstorage:\n{storage.format(base=base)}"
    )
    return dg.DagsterInstance.from_config(str(config_dir))


DAGSTERS_OWN = "  sqlite:\n    base_dir: {base}\n"
POOLED = (
    "  custom:\n    module: platform_assets.core.instance_storage\n"
    "    class: PooledSqliteStorage\n    config:\n      base_dir: {base}\n"
)


def test_a_history_reads_and_writes_with_dagsters_own_storage_and_back(tmp_path: Path):
    base = tmp_path / "history"
    with _instance(tmp_path / "own", DAGSTERS_OWN, base) as own:
        assert type(own.event_log_storage) is SqliteEventLogStorage
        _materialize(own, "a")
    with _instance(tmp_path / "pooled", POOLED, base) as pooled:
        assert isinstance(pooled.event_log_storage, PooledSqliteEventLogStorage)
        assert _partitions(pooled) == ["a"]  # written by Dagster's own, read by ours
        _materialize(pooled, "b")
        assert len(pooled.get_runs()) == 2
    with _instance(tmp_path / "own", DAGSTERS_OWN, base) as again:
        assert _partitions(again) == ["a", "b"]  # and ours read back by Dagster's own
        assert len(again.get_runs()) == 2


def test_engines_of_run_files_are_bounded(tmp_path: Path):
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    for n in range(RUN_FILE_ENGINES + 10):
        storage.store_event(
            dg.EventLogEntry(
                error_info=None,
                level=20,
                user_message=f"run {n}",
                run_id=f"run-{n}",
                timestamp=float(n),
            )
        )
    engines = storage._engines  # noqa: SLF001 - the cache under test
    assert len([k for k in engines if k != "index"]) <= RUN_FILE_ENGINES
    assert "run-0" not in engines and f"run-{RUN_FILE_ENGINES + 9}" in engines
    # an evicted run's file is still read (a new engine is made)
    assert [e.user_message for e in storage.get_logs_for_run("run-0")] == ["run 0"]
    storage.dispose()
    assert not storage._engines  # noqa: SLF001


def _log(run_id: str, message: str) -> dg.EventLogEntry:
    return dg.EventLogEntry(
        error_info=None, level=20, user_message=message, run_id=run_id, timestamp=time.time()
    )


def test_a_watcher_of_a_run_sees_each_event_while_the_writer_keeps_its_connection(tmp_path):
    """The webserver streams a run's logs by watching the run's file: a write through a kept
    connection (into the WAL, not the file) still reaches it."""
    base = str(tmp_path / "runs")
    writer = PooledSqliteEventLogStorage(base)  # the run worker
    reader = PooledSqliteEventLogStorage(base)  # the webserver
    writer.store_event(_log("run-x", "first"))
    seen: list[str] = []
    reader.watch("run-x", None, lambda event, cursor: seen.append(event.user_message))
    try:
        for message in ("second", "third"):
            writer.store_event(_log("run-x", message))
            deadline = time.monotonic() + 15
            while message not in seen and time.monotonic() < deadline:
                time.sleep(0.05)
            assert message in seen, f"the watcher saw {seen}, not {message!r}"
    finally:
        reader.dispose()
        writer.dispose()


def test_a_wipe_closes_the_kept_connections_to_the_files_it_deletes(tmp_path):
    base = str(tmp_path / "runs")
    storage = PooledSqliteEventLogStorage(base)
    storage.store_event(_log("run-w", "before"))
    storage.wipe()
    storage.store_event(_log("run-w", "after"))
    # what another process sees: the new file holds the write, not a deleted one
    elsewhere = PooledSqliteEventLogStorage(base)
    assert [e.user_message for e in elsewhere.get_logs_for_run("run-w")] == ["after"]
    elsewhere.dispose()
    storage.dispose()


def test_events_are_committed_in_wal_with_normal_sync(tmp_path: Path):
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    storage.store_event(_log("run-1", "one"))
    with storage._connect("run-1") as conn:  # noqa: SLF001 - the connection under test
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    assert (mode, sync) == ("wal", 1)  # 1: NORMAL (no fsync per commit; safe in WAL)
    storage.dispose()


def test_a_table_found_in_the_index_is_not_asked_for_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Dagster asks whether the index has its check and tag tables before every asset event; a
    table found is remembered, a missing one asked again (a migration may add it)."""
    asked: list[str] = []
    own = SqliteEventLogStorage.has_table

    def counted(self: SqliteEventLogStorage, table_name: str) -> bool:
        asked.append(table_name)
        return own(self, table_name)

    monkeypatch.setattr(SqliteEventLogStorage, "has_table", counted)
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    try:
        assert storage.supports_asset_checks and storage.supports_asset_checks
        assert storage.has_table("asset_event_tags") and storage.has_table("asset_event_tags")
        assert not storage.has_table("no_such_table") and not storage.has_table("no_such_table")
        assert sorted(asked) == [
            "asset_check_executions", "asset_event_tags", "no_such_table", "no_such_table"
        ]  # fmt: skip
        storage.wipe()  # a wipe forgets them (its files are new)
        assert storage.has_table("asset_event_tags")
        assert asked.count("asset_event_tags") == 2
    finally:
        storage.dispose()


def test_an_asset_key_column_found_is_not_reflected_again(
    home: Path, monkeypatch: pytest.MonkeyPatch
):
    """Dagster reflects the ``asset_keys`` table's columns before storing every asset event; a
    column found is remembered (migrations never drop one), so three materializations reflect
    once, and the history they leave is the same."""
    reflected: list[str] = []
    own = SqliteEventLogStorage._has_asset_key_col_on_connection

    def counted(self: SqliteEventLogStorage, conn: object, column_name: str) -> bool:
        reflected.append(column_name)
        return own(self, conn, column_name)  # type: ignore[arg-type]

    monkeypatch.setattr(SqliteEventLogStorage, "_has_asset_key_col_on_connection", counted)
    with dg.DagsterInstance.get() as instance:
        for key in ("a", "b", "c"):
            _materialize(instance, key)
        assert _partitions(instance) == ["a", "b", "c"]
    assert reflected.count("last_materialization_timestamp") == 1
