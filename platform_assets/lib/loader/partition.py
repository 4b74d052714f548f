"""Load one partition (one vendor file) of a table into the DuckDB warehouse.

The stages, in the order they run (no per-row Python anywhere; the data is stored once):

1. **fetch**: the file streamed into a private work folder (atomic, size checked, SHA-256 on the
   way); a gzipped file inflated, bounded.
2. **the file as SQL**: its header read with Python's csv module, the documented columns found by
   name; DuckDB parses it (strict, no sniffing, every value as text).
3. **validate**: every row through pandera, streamed; failures become located rejects.
4. **keys**: the repeated keys and each one's winning row, before anything is written.
5. **upsert**: one transaction on the warehouse, attached only now (see :mod:`.upsert`).
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from platform_assets.lib.files import FileSource
from platform_assets.lib.loader import fetch
from platform_assets.lib.loader.archive import RawArchive
from platform_assets.lib.loader.csvfile import CsvFile
from platform_assets.lib.loader.keys import stage_keys
from platform_assets.lib.loader.model import (
    LoaderSettings,
    LoadRequest,
    LoadResult,
    RejectsExceeded,
)
from platform_assets.lib.loader.upsert import write_partition
from platform_assets.lib.loader.validation import rejects_message, summarize_rejects, validate
from platform_assets.lib.loader.warehouse import attached_warehouse, staging_connection
from platform_assets.lib.specs import TableSpec


def load_partition(
    spec: TableSpec,
    day: dt.date,
    files: FileSource,
    warehouse_path: str,
    *,
    settings: LoaderSettings | None = None,
    app_id: str | None = None,
    column_sources: Mapping[str, str] | None = None,
    reject_tolerance: float | None = None,
    run_id: str = "",
    log: logging.Logger | None = None,
) -> LoadResult:
    """Download, validate and upsert the file of ``day`` (and ``app_id``, for tables with one
    file per app) into ``spec``'s table; raise :class:`RejectsExceeded` (after writing the
    rejects) when more rows failed than ``reject_tolerance`` (default: the spec's) allows."""
    log = log or logging.getLogger(__name__)
    settings = settings or LoaderSettings()
    tolerance = spec.reject_tolerance if reject_tolerance is None else reject_tolerance
    request = LoadRequest(spec, day, app_id, dict(column_sources or {}), tolerance, run_id)
    timings: dict[str, float] = {}
    with _work_folder(settings) as work:
        archive = RawArchive(Path(settings.archive_dir)) if settings.archive_dir else None
        with _timed(timings, "download_s"):  # 1. fetch (or the archived copy)
            download, from_archive = fetch.download(request, files, work, archive)
        log.info(
            "%s %s (%d bytes)",
            "restored from the raw archive" if from_archive else "downloaded",
            download.remote.path,
            download.remote.size,
        )
        result = LoadResult(download, tolerance, timings=timings, from_archive=from_archive)
        if archive is not None:
            result.archive_path = str(archive.path(request, download.remote.name))
        if download.local_path.suffix == ".gz":
            with _timed(timings, "inflate_s"):
                result.download = download = fetch.inflate(download, settings.max_inflated_bytes)
            result.inflated_bytes = download.local_path.stat().st_size
        csv = CsvFile(request, download)  # 2. the file as SQL
        result.extra_columns = csv.extra_columns
        with staging_connection(settings, work) as con:
            with _timed(timings, "validate_s"):  # 3. validate
                result.rows_read = validate(con, spec, csv, settings.validation_batch_rows)
                rejects = summarize_rejects(con, csv)
            result.record_rejects(rejects.rows, rejects.failures, rejects.summary, rejects.samples)
            with _timed(timings, "keys_s"):  # 4. keys
                stage_keys(con, spec, without_rejects=not result.passed)
            with attached_warehouse(con, warehouse_path, settings.lock_wait_seconds) as wh:
                write_partition(con, wh, request, csv, result, settings.volume_window)  # 5.
    if not result.accepted:
        message = rejects_message(spec, download.remote.path, result.rows_read, rejects, tolerance)
        raise RejectsExceeded(message, result)
    return result


@contextmanager
def _work_folder(settings: LoaderSettings) -> Iterator[Path]:
    """A private folder for the download and DuckDB's spill files, removed afterwards."""
    if settings.work_dir:
        Path(settings.work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="load_", dir=settings.work_dir) as tmp:
        yield Path(tmp)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = time.perf_counter() - started
