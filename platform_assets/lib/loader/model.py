"""What a partition load is asked (:class:`LoadRequest`), what it reports (:class:`LoadResult`),
its limits (:class:`LoaderSettings`) and how it fails (:class:`LoadError` and subclasses)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from platform_assets.lib.files import DownloadResult
from platform_assets.lib.specs import TableSpec, quote_ident, quote_literal

VALIDATION_BATCH_ROWS = 250_000
LOCK_WAIT_SECONDS = 300.0
MAX_INFLATED_BYTES = 20 * 1024**3


class LoadError(Exception):
    """A partition could not be loaded; the message names the file and what is wrong."""


class RemoteFileMissing(LoadError):
    pass


class BadFileError(LoadError):
    """The file cannot be parsed, or lacks a documented column."""


class RemoteFileChanged(LoadError):
    """The remote file changed while it was downloaded (still being written?); retryable."""


class WarehouseBusy(LoadError):
    """Another process held the warehouse's write lock for longer than the wait; retryable."""


class RejectsExceeded(LoadError):
    """More rows failed validation than the table tolerates; nothing was written to the table."""

    def __init__(self, message: str, result: LoadResult):
        super().__init__(message)
        self.result = result


MAX_LINE_BYTES = 16 << 20
"""16 MiB: a transcript message or a JSON blob in one field (DuckDB's own default is 2 MB)."""


@dataclass(frozen=True)
class LoaderSettings:
    """Limits of the loader's staging DuckDB and its work folder (from the platform settings)."""

    memory_limit: str = "1GB"
    threads: int = 0
    """0: every core."""
    work_dir: str | None = None
    """Where downloads and spill files go (None: the system's temporary folder)."""
    validation_batch_rows: int = VALIDATION_BATCH_ROWS
    lock_wait_seconds: float = LOCK_WAIT_SECONDS
    max_inflated_bytes: int = MAX_INFLATED_BYTES
    """A gzip file that inflates past this many bytes is refused (a decompression bomb)."""
    max_line_bytes: int = MAX_LINE_BYTES
    """The longest record (a field with its row) the parser accepts; a longer one fails the
    file naming its line and this limit."""
    archive_dir: str | None = None
    """The raw archive's root (None: no archive)."""
    volume_window: int = 7
    """A day's rows are compared with the average of this many previous loaded days."""
    volume_min_ratio: float = 0.5
    """A day with fewer rows than this share of that average warns."""


@dataclass(frozen=True)
class LoadRequest:
    """One partition of one table: the file of ``day`` (and ``app_id``) into ``spec``'s table."""

    spec: TableSpec
    day: dt.date
    app_id: str | None = None
    column_sources: Mapping[str, str] = field(default_factory=dict)
    """Documented column -> the header it has in this file (e.g. a per-app client-id column)."""
    tolerance: float = 0.0
    """Share of the file's rows that may be rejected while the valid rows still load."""
    run_id: str = ""

    @property
    def label(self) -> str:
        return self.day.isoformat() + (f" app {self.app_id}" if self.app_id else "")

    @property
    def partition_filter(self) -> str:
        """SQL selecting the partition's rows in the table and in its rejects table."""
        where = f"__file_date = DATE '{self.day.isoformat()}'"
        if self.spec.app_column:
            where += (
                f" AND {quote_ident(self.spec.app_column)} = {quote_literal(self.app_id or '')}"
            )
        return where


@dataclass
class LoadResult:
    """What one partition load found and did (read by the asset's metadata and check)."""

    download: DownloadResult
    tolerance: float
    rows_read: int = 0
    formula_like_values: int = 0
    """Fields starting like a spreadsheet formula (``=``, ``+``, ``-``, ``@``; numbers and phone
    numbers aside): loaded unchanged, counted here."""
    rows_rejected: int = 0
    reject_failures: int = 0
    duplicates_dropped: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_skipped_older: int = 0
    partition_rows: int = 0
    table_rows: int = 0
    extra_columns: list[str] = field(default_factory=list)
    inflated_bytes: int | None = None
    archive_path: str | None = None
    """Where the file is kept in the raw archive."""
    from_archive: bool = False
    """The vendor no longer had the file: it was loaded from the raw archive."""
    trailing_rows: float | None = None
    """Average rows read of the previous loaded days (LoaderSettings.volume_window)."""
    failure_summary: list[dict] = field(default_factory=list)
    failure_samples: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def record_rejects(
        self, rows: int, failures: int, summary: list[dict], samples: list[dict]
    ) -> None:
        """What validation rejected: rows, failures (a row can fail several rules), by rule."""
        self.rows_rejected, self.reject_failures = rows, failures
        self.failure_summary, self.failure_samples = summary, samples

    @property
    def rejected_share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0

    @property
    def passed(self) -> bool:
        """Every row passed the table's rules."""
        return self.rows_rejected == 0

    @property
    def accepted(self) -> bool:
        """The rule for rejects, stated once: the partition loads when no row was rejected or
        the rejected share is within the tolerance (then the valid rows load, the check warns);
        otherwise nothing is written to the table and the load fails."""
        return self.passed or self.rejected_share <= self.tolerance
