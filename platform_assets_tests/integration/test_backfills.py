"""Backfills as range runs: one run loads a range of days in order (each day its own
transaction, the next day downloading meanwhile), reports each day's materialization and checks
under that day's partition, stops at a bad day with the days before it committed, and a
re-execution resumes from the failed day. Real sshd, real DuckDB, a real Dagster instance."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from platform_assets.core import warehouse as warehouse_module
from platform_assets.core.errors import RemoteFileMissing
from platform_assets.core.settings import Settings
from platform_assets.core.transport.files import DownloadResult, LocalFolderResource
from platform_assets.core.transport.sftp import SFTPResource
from platform_assets.core.warehouse import LoaderSettings, Warehouse
from platform_assets.defs import attentive
from platform_assets.defs.attentive import CONVERSIONS
from platform_assets.ingest.arrival import ARRIVAL_CHECK
from platform_assets.ingest.assets import SCHEMA_CHECK, VOLUME_CHECK, build_source_assets
from platform_assets.ingest.loader.model import LoadRequest
from platform_assets.ingest.loader.partition import load_partitions
from platform_assets_tests.csvfiles import CONVERSION_HEADER, conversion, conversion_key, write_csv

DAYS = [dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(5)]
RANGE_TAGS = {
    "dagster/asset_partition_range_start": DAYS[0].isoformat(),
    "dagster/asset_partition_range_end": DAYS[-1].isoformat(),
}


def _write_days(folder: Path, bad_day: dt.date | None = None) -> dict[dt.date, set[str]]:
    """Five days of conversions (a rule-breaking phone on ``bad_day``); the keys per day."""
    keys: dict[dt.date, set[str]] = {}
    for n, day in enumerate(DAYS):
        rows = [
            conversion(f"+1555{n:03d}{i:04d}", ts=f"{day}T10:00:{i:02d}Z") for i in range(3 + n)
        ]
        if day == bad_day:
            rows.append(conversion("12345", ts=f"{day}T11:00:00Z"))
        write_csv(folder / f"attentive_conversions_{day:%Y%m%d}.csv", CONVERSION_HEADER, rows)
        keys[day] = {conversion_key(r) for r in rows if r["phone"] != "12345"}
    return keys


def range_job() -> dg.JobDefinition:
    """Attentive conversions as a job (module level: re-executions reconstruct it)."""
    defs = dg.Definitions(
        assets=build_source_assets(attentive.SOURCE.configure(Settings.from_env())),
        resources={
            "attentive_sftp": Settings.from_env().sftp("ATTENTIVE"),
            "duckdb": DuckDBResource(database=os.environ["DUCKDB_PATH"]),
        },
        jobs=[
            dg.define_asset_job(
                "conversions_range",
                selection=[CONVERSIONS.asset_key],
                executor_def=dg.in_process_executor,
            )
        ],
    )
    return defs.resolve_job_def("conversions_range")


def _materializations(result, key: dg.AssetKey) -> list:
    return [e for e in result.get_asset_materialization_events() if e.asset_key == key]


def _table(warehouse: str) -> dict[dt.date, set[str]]:
    with duckdb.connect(warehouse, read_only=True) as con:
        rows = con.execute("SELECT __file_date, __sync_key FROM attentive_mobile.conversions")
        found: dict[dt.date, set[str]] = {}
        for day, key in rows.fetchall():
            found.setdefault(day, set()).add(key)
    return found


def _loads(warehouse: str, loaded: bool = True) -> list[tuple[dt.date, str]]:
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(
            "SELECT file_date, run_id FROM platform.loads WHERE loaded = $loaded "
            "ORDER BY loaded_at",
            {"loaded": loaded},
        ).fetchall()


def test_a_range_run_stops_at_the_bad_day_and_a_reexecution_resumes_there(
    attentive_env, tmp_path, monkeypatch
):
    warehouse = str(tmp_path / "warehouse.duckdb")
    monkeypatch.setenv("DUCKDB_PATH", warehouse)
    expected = _write_days(attentive_env, bad_day=DAYS[3])
    job = dg.reconstructable(range_job)
    with dg.instance_for_test() as instance:
        first = dg.execute_job(job, instance, tags=RANGE_TAGS, raise_on_error=False)
        assert not first.success
        # days before the bad one are committed, each with its own materialization and checks
        assert _table(warehouse) == {d: expected[d] for d in DAYS[:3]}
        mats = _materializations(first, CONVERSIONS.asset_key)
        assert [e.partition for e in mats] == [d.isoformat() for d in DAYS[:3]]
        rejects = _materializations(
            first, dg.AssetKey(["attentive_mobile", "conversions__rejects"])
        )
        assert [
            (e.partition, e.materialization.metadata["dagster/row_count"].value) for e in rejects
        ] == [
            *((d.isoformat(), 0) for d in DAYS[:3]),
            (DAYS[3].isoformat(), 1),  # the refused day's rejects were written
        ]
        assert [e.materialization.metadata["rows_read"].value for e in mats] == [3, 4, 5]
        evaluations = {
            (e.check_name, e.partition, e.passed) for e in first.get_asset_check_evaluations()
        }
        assert evaluations == {
            *((SCHEMA_CHECK, d.isoformat(), True) for d in DAYS[:3]),
            *((VOLUME_CHECK, d.isoformat(), True) for d in DAYS[:3]),
            *((ARRIVAL_CHECK, d.isoformat(), True) for d in DAYS[:3]),
            (SCHEMA_CHECK, DAYS[3].isoformat(), False),
            # the refused day's file did arrive, and was read whole
            (VOLUME_CHECK, DAYS[3].isoformat(), True),
            (ARRIVAL_CHECK, DAYS[3].isoformat(), True),
        }
        # each committed day's results are about that day's materialization (the UI ties them)
        targets = {
            (e.check_name, e.partition): e.target_materialization_data
            for e in first.get_asset_check_evaluations()
        }
        for day in DAYS[:3]:
            for check in (SCHEMA_CHECK, VOLUME_CHECK, ARRIVAL_CHECK):
                target = targets[(check, day.isoformat())]
                [record] = instance.fetch_materializations(
                    dg.AssetRecordsFilter(CONVERSIONS.asset_key, asset_partitions=[str(day)]), 1
                ).records
                assert target is not None and target.storage_id == record.storage_id, (check, day)
        assert targets[(ARRIVAL_CHECK, DAYS[3].isoformat())] is None  # nothing materialized
        message = first.get_step_failure_events()[0].step_failure_data.error.message
        assert "attentive_conversions_20261004.csv" in message and "e164_phone" in message
        assert "Partition 2026-10-04 failed (4 of 5)" in message
        assert "2026-10-01 .. 2026-10-03" in message

        # the vendor corrects the day; the failed run is re-executed: it resumes at day 4
        _write_days(attentive_env)
        second = dg.execute_job(
            job,
            instance,
            tags=RANGE_TAGS,  # the UI's re-execution keeps the parent's partition range
            reexecution_options=dg.ReexecutionOptions.from_failure(first.run_id, instance),
        )
        assert second.success
        mats = _materializations(second, CONVERSIONS.asset_key)
        assert [e.partition for e in mats] == [d.isoformat() for d in DAYS[3:]]
        assert _table(warehouse) == expected
        loads = _loads(warehouse)
        assert [d for d, _ in loads] == DAYS  # each day loaded once, none of 1-3 again
        assert {r for _, r in loads} == {first.run_id, second.run_id}
        assert _loads(warehouse, loaded=False) == [(DAYS[3], first.run_id)]  # the refused try
        # the partitions' status: all five materialized, checks per day
        status = instance.get_materialized_partitions(CONVERSIONS.asset_key)
        assert status == {d.isoformat() for d in DAYS}


def test_the_days_of_a_range_load_in_order_and_a_missing_day_stops_before_the_next(tmp_path):
    folder = tmp_path / "vendor"
    folder.mkdir()
    _write_days(folder)
    (folder / "attentive_conversions_20261003.csv").unlink()
    work = tmp_path / "work"
    settings = LoaderSettings(work_dir=str(work), archive_dir=str(tmp_path / "raw"))
    warehouse = str(tmp_path / "w.duckdb")
    loaded = []
    requests = [LoadRequest(CONVERSIONS, d, run_id="r") for d in DAYS]
    results = load_partitions(
        requests, LocalFolderResource(remote_dir=str(folder)), warehouse, settings=settings
    )
    with pytest.raises(RemoteFileMissing, match="attentive_conversions_20261003.csv"):
        for result in results:
            loaded.append(result.download.remote.name)
    assert loaded == ["attentive_conversions_20261001.csv", "attentive_conversions_20261002.csv"]
    assert set(_table(warehouse)) == set(DAYS[:2])  # nothing after the missing day is written
    assert list(work.iterdir()) == []  # every download's work folder is gone, the prefetch's too


def test_backfills_run_a_bounded_range_per_run(monkeypatch):
    monkeypatch.setenv("PLATFORM_BACKFILL_PARTITIONS_PER_RUN", "10")
    source = attentive.SOURCE.configure(Settings.from_env())
    for asset in build_source_assets(source):
        if isinstance(asset, dg.AssetsDefinition):
            policy = asset.backfill_policy
            assert policy is not None and policy.max_partitions_per_run == 10


def test_a_range_on_one_staging_connection_loads_what_each_day_alone_loads(tmp_path, monkeypatch):
    """A range run keeps one staging DuckDB for its days (cleared between them) and the
    warehouse attached from one day's write to the next (for a second at most): the table, the
    rejects and every day's counts equal those of the days loaded one by one, each on a new
    connection and attachment."""
    attaches: list[str] = []
    attach = warehouse_module._attach  # noqa: SLF001 - counted, not replaced

    def counted(con: duckdb.DuckDBPyConnection, target: Warehouse, wait_seconds: float) -> None:
        attaches.append(target.path)
        attach(con, target, wait_seconds)

    monkeypatch.setattr(warehouse_module, "_attach", counted)
    folder = tmp_path / "vendor"
    folder.mkdir()
    _write_days(folder, bad_day=DAYS[2])
    files = LocalFolderResource(remote_dir=str(folder))
    settings = LoaderSettings(work_dir=str(tmp_path / "work"))
    ranged, alone = str(tmp_path / "ranged.duckdb"), str(tmp_path / "alone.duckdb")
    requests = [LoadRequest(CONVERSIONS, d, tolerance=0.5, run_id="r") for d in DAYS]
    in_range = [
        (r.rows_read, r.rows_rejected, r.rows_inserted)
        for r in load_partitions(requests, files, ranged, settings=settings)
    ]
    one_by_one = [
        (r.rows_read, r.rows_rejected, r.rows_inserted)
        for request in requests
        for r in load_partitions([request], files, alone, settings=settings)
    ]
    assert in_range == one_by_one
    assert attaches.count(alone) == len(DAYS)
    assert 1 <= attaches.count(ranged) < len(DAYS)  # 1 unless the days took over a second
    assert [n for _, n, _ in in_range] == [0, 0, 1, 0, 0]  # the bad day's rejected row

    def rows(path: str, table: str) -> list[tuple]:
        with duckdb.connect(path, read_only=True) as con:
            return con.execute(
                f"SELECT * EXCLUDE (__loaded_at) FROM {table} ORDER BY ALL"
                if "rejects" not in table
                else f"SELECT * EXCLUDE (rejected_at) FROM {table} ORDER BY ALL"
            ).fetchall()

    for table in ("attentive_mobile.conversions", f"attentive_mobile.{CONVERSIONS.rejects_table}"):
        assert rows(ranged, table) == rows(alone, table)
    assert len(rows(ranged, "attentive_mobile.conversions")) == sum(3 + n for n in range(5))


class _OverlapCountingSFTP(SFTPResource):
    """The real SFTP resource, its downloads counted while they run (instrumentation: every
    byte still comes from sshd); each waits a moment first, so that overlapping ones overlap."""

    def download(self, name: str, local_path: Path) -> DownloadResult:
        with _ACTIVE_LOCK:
            _ACTIVE["now"] += 1
            _ACTIVE["peak"] = max(_ACTIVE["peak"], _ACTIVE["now"])
        try:
            time.sleep(0.3)
            return super().download(name, local_path)
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE["now"] -= 1


_ACTIVE = {"now": 0, "peak": 0}
_ACTIVE_LOCK = threading.Lock()


@pytest.mark.parametrize("parallel", [1, 3])
def test_a_range_downloads_up_to_the_setting_s_files_at_once(parallel, sftp, remote_dir, tmp_path):
    """``PLATFORM_PARALLEL_DOWNLOADS`` files download at once (each on its own kept connection
    to the real sshd) ahead of the day being loaded; the days still load in order, each as it
    would alone, and nothing is left in the work folder."""
    keys = _write_days(remote_dir)
    files = _OverlapCountingSFTP(**{k: getattr(sftp, k) for k in SFTPResource.model_fields})
    work = tmp_path / "work"
    settings = LoaderSettings(work_dir=str(work), parallel_downloads=parallel)
    warehouse = str(tmp_path / "w.duckdb")
    _ACTIVE.update(now=0, peak=0)
    requests = [LoadRequest(CONVERSIONS, d, run_id="r") for d in DAYS]
    days = [
        r.download.remote.name
        for r in load_partitions(requests, files, warehouse, settings=settings)
    ]
    assert days == [f"attentive_conversions_{d:%Y%m%d}.csv" for d in DAYS]
    assert _ACTIVE["peak"] == parallel
    assert _table(warehouse) == keys
    assert list(work.iterdir()) == []
