"""Load one partition (one vendor file) of a table into the DuckDB warehouse.

The stages, in the order they run (no per-row Python anywhere; the data is stored once):

1. **fetch**: the file streamed into a private work folder (atomic, size checked, SHA-256 on the
   way); a gzipped file inflated, bounded.
2. **the file as SQL**: its header read with Python's csv module, the documented columns found by
   name; DuckDB parses it (strict, no sniffing, every value as text).
3. **validate**: every row through pandera, streamed; failures become located rejects.
4. **keys**: the repeated keys and each one's winning row, before anything is written.
5. **upsert**: one transaction on the warehouse, attached only now (see :mod:`.upsert`); a
   range's next days write through the same attachment for up to a second
   (:class:`~platform_assets.core.warehouse.WarehouseLease`), then it is let go between days.

Stage 3 starts while stage 1 still writes the file (DuckDB follows the download and waits for
bytes not yet arrived): a head start that falls back to the complete file on any trouble. A range
of partitions (:func:`load_partitions`, a backfill run) loads day after day, each in its own
transaction, with the next days' stage 1 running (several files at once, a setting) while the
current day runs stages 2-5.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from platform_assets.core.csvfile import CsvFile
from platform_assets.core.lake import COMMIT_ATTEMPTS, CommitConflict
from platform_assets.core.specs import TableSpec
from platform_assets.core.staging import clear_staging, staging_connection
from platform_assets.core.transport.arrival import Arrival, ArrivingFiles
from platform_assets.core.transport.files import (
    DownloadResult,
    FileSource,
    follows_arrival,
    kept_open,
)
from platform_assets.core.validation import rejects_message, summarize_rejects, validate
from platform_assets.core.warehouse import (
    LoaderSettings,
    Warehouse,
    WarehouseLease,
)
from platform_assets.core.workdir import WorkFolder, new_work_folder
from platform_assets.ingest.loader import fetch
from platform_assets.ingest.loader.archive import RawArchive
from platform_assets.ingest.loader.keys import stage_keys
from platform_assets.ingest.loader.model import LoadRequest, LoadResult, RejectsExceeded
from platform_assets.ingest.loader.upsert import write_partition

_ARRIVING = ArrivingFiles()
"""The files being downloaded, as DuckDB reads them (registered on every staging connection)."""


def load_partition(
    spec: TableSpec,
    day: dt.date,
    files: FileSource,
    warehouse: str | Warehouse,
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
    tolerance = spec.reject_tolerance if reject_tolerance is None else reject_tolerance
    request = LoadRequest(spec, day, app_id, dict(column_sources or {}), tolerance, run_id)
    (result,) = load_partitions([request], files, warehouse, settings=settings, log=log)
    return result


def load_partitions(
    requests: Sequence[LoadRequest],
    files: FileSource,
    warehouse: str | Warehouse,
    *,
    settings: LoaderSettings | None = None,
    log: logging.Logger | None = None,
) -> Iterator[LoadResult]:
    """Load ``requests`` in order, each day in its own transaction, yielding each result once
    committed; while one day validates and writes, the next ones download (up to
    ``settings.parallel_downloads`` files at once, each on its own kept connection), over one
    staging connection kept for the whole range.

    A failing day raises its error after the days before it are committed and before any day
    after it is written; the days downloaded ahead of it are discarded."""
    settings = settings or LoaderSettings()
    log = log or logging.getLogger(__name__)
    if not requests:
        return
    width = max(1, settings.parallel_downloads)
    follow = follows_arrival(files)
    with (
        kept_open(files),
        _range_staging(settings) as staging,
        ThreadPoolExecutor(width, thread_name_prefix="prefetch") as pool,
    ):

        def start(request: LoadRequest) -> _Pending:
            # a file that may come gzipped is inflated before it is read: nothing to follow
            arrival = Arrival() if follow and not request.spec.gzip_variant else None
            return _Pending(
                request, arrival, pool.submit(_fetch, request, files, settings, arrival)
            )

        waiting = iter(requests)
        ahead = deque(start(r) for r in itertools.islice(waiting, width))
        lease = WarehouseLease(staging, warehouse, settings.lock_wait_seconds)
        try:
            while ahead:
                pending = ahead.popleft()
                following = next(waiting, None)
                if following is not None:
                    ahead.append(start(following))
                yield _load(pending, lease, settings, log, staging)
        finally:
            with suppress(duckdb.Error):
                lease.release()
            for pending in ahead:
                if not pending.future.cancel():  # a download still running: wait, discard it
                    with suppress(Exception):
                        pending.future.result().discard()


@dataclass
class _Pending:
    """A partition whose stage 1 runs in the prefetch pool; ``arrival`` follows its file."""

    request: LoadRequest
    arrival: Arrival | None
    future: Future[_Fetched]


@dataclass
class _Fetched:
    """A partition's file in its private work folder (stage 1 done), not yet loaded."""

    request: LoadRequest
    folder: WorkFolder
    download: DownloadResult
    from_archive: bool
    archive_path: str | None
    timings: dict[str, float]
    inflated_bytes: int | None = None

    @property
    def work(self) -> Path:
        return self.folder.path

    def discard(self) -> None:
        self.folder.remove()


def _fetch(
    request: LoadRequest, files: FileSource, settings: LoaderSettings, arrival: Arrival | None
) -> _Fetched:
    """1. fetch: the file (or its archived copy) in a new private work folder, inflated;
    ``arrival`` follows the vendor's file as it is written (ended either way on return)."""
    folder = new_work_folder(settings.work_dir)
    work = folder.path
    timings: dict[str, float] = {}
    try:
        archive = RawArchive(Path(settings.archive_dir)) if settings.archive_dir else None
        with _timed(timings, "download_s"):
            download, from_archive = fetch.download(request, files, work, archive, arrival)
        kept = str(archive.path(request, download.remote.name)) if archive else None
        fetched = _Fetched(request, folder, download, from_archive, kept, timings)
        if download.local_path.suffix == ".gz":
            with _timed(timings, "inflate_s"):
                fetched.download = fetch.inflate(download, settings.max_inflated_bytes)
            fetched.inflated_bytes = fetched.download.local_path.stat().st_size
        return fetched
    except BaseException:
        folder.remove()
        raise
    finally:
        if arrival is not None:
            arrival.fail()  # a no-op once complete; else (an error, the archive's copy) it frees
            # any reader waiting for bytes


@contextmanager
def _range_staging(settings: LoaderSettings) -> Iterator[duckdb.DuckDBPyConnection]:
    """One staging DuckDB for a range's days (spilling to a folder of its own), cleared after
    each day."""
    folder = new_work_folder(settings.work_dir)
    try:
        with staging_connection(settings, folder.path) as con:
            if _ARRIVING.protocol not in con.list_filesystems():  # a kept connection has it
                con.register_filesystem(_ARRIVING)
            yield con
    finally:
        folder.remove()


def _load(
    pending: _Pending,
    lease: WarehouseLease,
    settings: LoaderSettings,
    log: logging.Logger,
    staging: duckdb.DuckDBPyConnection,
) -> LoadResult:
    """2.-5. the file parsed, validated, keyed and upserted on the range's ``staging``
    connection (cleared after); its work folder removed. Validation starts while the file still
    arrives when its download is under way (:func:`_validate_arriving`)."""
    request, spec = pending.request, pending.request.spec
    with _cleared(staging) as con:
        early = _validate_arriving(con, pending, settings)
        fetched = pending.future.result()  # this day's download error, in order
        if early is not None and not (pending.arrival and pending.arrival.intact):
            early = None  # the download restarted: what was validated may not be the file
            clear_staging(con)
        download, timings = fetched.download, fetched.timings
        if fetched.from_archive:  # the exception is logged; the rule (downloaded, its size and
            # seconds) is in the day's materialization: a line per day cost a 30-day backfill of
            # every table 540 events. Here, not in the prefetch thread: a run's logger is its own
            log.warning(
                "%s (%d bytes): restored from the raw archive (the vendor no longer has it)",
                download.remote.path,
                download.remote.size,
            )
        result = LoadResult(
            download, request.tolerance, timings=timings, from_archive=fetched.from_archive
        )
        result.archive_path, result.inflated_bytes = fetched.archive_path, fetched.inflated_bytes
        try:
            csv = CsvFile(  # 2. the file as SQL
                download.local_path,
                download.remote.path,
                spec,
                day=request.day,
                app_id=request.app_id,
                column_sources=request.column_sources,
                max_line_bytes=settings.max_line_bytes,
            )
            result.extra_columns = csv.extra_columns
            with _timed(timings, "validate_s"):  # 3. validate
                if early is None:
                    result.rows_read, result.formula_like_values = validate(con, spec, csv)
                else:
                    (result.rows_read, result.formula_like_values), early_s = early
                rejects = summarize_rejects(con, csv)
            if early is not None:
                timings["validate_s"] += early_s
                timings["validated_while_downloading_s"] = early_s
            result.record_rejects(rejects.rows, rejects.failures, rejects.summary, rejects.samples)
            with _timed(timings, "keys_s"):  # 4. keys
                stage_keys(con, spec, without_rejects=not result.passed)
            _write(con, lease, request, csv, result, settings, log)  # 5.
        finally:
            fetched.discard()
    if not result.accepted:
        message = rejects_message(
            spec, download.remote.path, result.rows_read, rejects, request.tolerance
        )
        raise RejectsExceeded(message, result)
    return result


def _write(
    con: duckdb.DuckDBPyConnection,
    lease: WarehouseLease,
    request: LoadRequest,
    csv: CsvFile,
    result: LoadResult,
    settings: LoaderSettings,
    log: logging.Logger,
) -> None:
    """5. upsert, in one transaction; on a lake, tried again (decided anew on the table as the
    other writer left it) while its commit conflicts, :data:`COMMIT_ATTEMPTS` times in all."""
    for attempt in itertools.count(1):
        try:
            with lease.writing() as wh:
                write_partition(con, wh, request, csv, result, settings.volume_window)
            return
        except CommitConflict as exc:
            if attempt >= COMMIT_ATTEMPTS:
                raise CommitConflict(f"{exc}; gave up after {attempt} attempts") from None
            result.commit_retries += 1
            log.warning("%s; writing again (attempt %d of %d)", exc, attempt + 1, COMMIT_ATTEMPTS)
            time.sleep(random.uniform(0.05, 0.2) * attempt)  # noqa: S311 - jitter, not secrets


def _validate_arriving(
    con: duckdb.DuckDBPyConnection, pending: _Pending, settings: LoaderSettings
) -> tuple[tuple[int, int], float] | None:
    """3. validate, while the file still arrives: DuckDB reads the part file through
    :class:`ArrivingFiles` (waiting for bytes not yet written), so parsing overlaps the download.
    Only a head start: None (and the complete file validated after) when the download is already
    over or was not followed, or anything goes wrong (the complete file then gives the error its
    line). The counts and the seconds it took otherwise."""
    arrival = pending.arrival
    if arrival is None or not _arriving(pending):
        return None
    request = pending.request
    name = fetch.file_name(request)
    url = _ARRIVING.add(arrival, name)
    started = time.perf_counter()
    try:
        csv = CsvFile(
            Path(name),
            name,
            request.spec,
            day=request.day,
            app_id=request.app_id,
            column_sources=request.column_sources,
            max_line_bytes=settings.max_line_bytes,
            scan=url,
            opener=arrival.open,
        )
        counts = validate(con, request.spec, csv)
    except Exception:  # noqa: BLE001 - a head start only: the complete file is read instead
        clear_staging(con)  # what the broken pass left
        return None
    finally:
        _ARRIVING.remove(url)
    return counts, time.perf_counter() - started


def _arriving(pending: _Pending) -> bool:
    """Wait until the download writes its file (True) or is over (False)."""
    assert pending.arrival is not None
    while not pending.future.done():
        if pending.arrival.wait_started(0.05):
            return not pending.future.done()
    return False


@contextmanager
def _cleared(staging: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``staging`` for one day's load, its tables dropped after."""
    try:
        yield staging
    except BaseException:
        with suppress(duckdb.Error):  # the range stops here; the load's own error is the one
            clear_staging(staging)
        raise
    clear_staging(staging)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = time.perf_counter() - started
