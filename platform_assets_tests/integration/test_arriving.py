"""Validation while the file arrives: a load from the real sshd parses and checks the file as
the download writes it, and loads exactly what a load that reads the complete file loads; a
download that restarts halfway, or a file that fails its rules, falls back to the complete file
(its rejects and errors the same, by line)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from platform_assets.core.transport.arrival import Arrival
from platform_assets.core.transport.files import DownloadResult, LocalFolderResource
from platform_assets.core.warehouse import LoaderSettings
from platform_assets.defs.attentive import CONVERSIONS
from platform_assets.ingest.loader.model import RejectsExceeded
from platform_assets.ingest.loader.partition import load_partition
from platform_assets_tests.csvfiles import CONVERSION_HEADER, conversion, write_csv

DAY = dt.date(2026, 10, 1)
ROWS = 60_000  # ~5.6 MB: several 1 MiB blocks arrive after validation has started


class _WholeFileFolder(LocalFolderResource):
    """A folder read through the older download contract (no arrival): the loader reads the
    complete file, as it always did. The reference."""

    def download(self, name: str, local_path: Path) -> DownloadResult:  # type: ignore[override]
        return super().download(name, local_path)


class _DropsOnce(LocalFolderResource):
    """A folder whose first copy breaks after three blocks (as a dropped connection does) and
    is retried at once, as the SFTP resource retries: the arrival sees the download restart."""

    def download(
        self, name: str, local_path: Path, *, arrival: Arrival | None = None
    ) -> DownloadResult:
        try:
            return super().download(name, local_path, arrival=_Dropping(arrival))
        except ConnectionResetError:
            return super().download(name, local_path, arrival=arrival)


class _Dropping:
    """Passes a download's news on to the loader's arrival; breaks the copy at its 4th block."""

    def __init__(self, arrival: Arrival | None) -> None:
        self._arrival, self._blocks = arrival, 0

    def begin(self, part: Path, size: int) -> None:
        if self._arrival:
            self._arrival.begin(part, size)

    def advance(self, written: int) -> None:
        self._blocks += 1
        if self._blocks > 3:
            raise ConnectionResetError("dropped")
        if self._arrival:
            self._arrival.advance(written)

    def finish(self) -> None:
        if self._arrival:
            self._arrival.finish()

    def fail(self) -> None:
        if self._arrival:
            self._arrival.fail()


def _put(folder: Path, bad_line: int | None = None) -> None:
    rows = [
        conversion(f"+1555{i:07d}", ts=f"{DAY}T10:{i // 60 % 60:02d}:{i % 60:02d}Z")
        for i in range(ROWS)
    ]
    if bad_line is not None:
        rows[bad_line - 2] = conversion("not-a-phone", ts=f"{DAY}T11:00:00Z")
    write_csv(folder / CONVERSIONS.file_name(DAY), CONVERSION_HEADER, rows)


def _rows(warehouse: str, table: str = "conversions") -> list[tuple]:
    stamp = "rejected_at" if table.endswith("__rejects") else "__loaded_at"
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(
            f"SELECT * EXCLUDE ({stamp}) FROM attentive_mobile.{table} ORDER BY ALL"
        ).fetchall()


def test_a_load_validates_while_the_sftp_download_writes_and_loads_the_same(
    sftp, remote_dir, tmp_path
):
    _put(remote_dir)
    settings = LoaderSettings(work_dir=str(tmp_path / "work"))
    followed = load_partition(CONVERSIONS, DAY, sftp, str(tmp_path / "a.duckdb"), settings=settings)
    whole = load_partition(
        CONVERSIONS,
        DAY,
        _WholeFileFolder(remote_dir=str(remote_dir)),
        str(tmp_path / "b.duckdb"),
        settings=settings,
    )
    assert "validated_while_downloading_s" in followed.timings
    assert "validated_while_downloading_s" not in whole.timings
    assert (followed.rows_read, followed.rows_inserted) == (whole.rows_read, whole.rows_inserted)
    assert followed.rows_inserted == ROWS
    assert _rows(str(tmp_path / "a.duckdb")) == _rows(str(tmp_path / "b.duckdb"))
    assert list((tmp_path / "work").iterdir()) == []


def test_a_download_that_restarts_falls_back_to_the_complete_file(tmp_path):
    folder = tmp_path / "vendor"
    folder.mkdir()
    _put(folder)
    assert (folder / CONVERSIONS.file_name(DAY)).stat().st_size > 4 << 20
    warehouse = str(tmp_path / "w.duckdb")
    result = load_partition(CONVERSIONS, DAY, _DropsOnce(remote_dir=str(folder)), warehouse)
    assert "validated_while_downloading_s" not in result.timings  # what was read is not used
    assert result.rows_inserted == ROWS
    reference = str(tmp_path / "r.duckdb")
    load_partition(CONVERSIONS, DAY, _WholeFileFolder(remote_dir=str(folder)), reference)
    assert _rows(warehouse) == _rows(reference)


def test_rejects_found_while_the_file_arrives_are_located_as_in_the_complete_file(tmp_path):
    folder = tmp_path / "vendor"
    folder.mkdir()
    _put(folder, bad_line=30_001)
    found = []
    for name, files in [
        ("followed", LocalFolderResource(remote_dir=str(folder))),
        ("whole", _WholeFileFolder(remote_dir=str(folder))),
    ]:
        warehouse = str(tmp_path / f"{name}.duckdb")
        with pytest.raises(RejectsExceeded) as info:
            load_partition(CONVERSIONS, DAY, files, warehouse)
        found.append((str(info.value).split(": ", 1)[1], _rows(warehouse, "conversions__rejects")))
    assert found[0] == found[1]
    assert "line 30001 column 'phone' rule e164_phone" in found[0][0]
