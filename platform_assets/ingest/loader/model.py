"""What a partition load is asked (:class:`LoadRequest`) and what it reports (:class:`LoadResult`);
its limits (:class:`~platform_assets.core.warehouse.LoaderSettings`) and how it fails
(:mod:`platform_assets.core.errors`) are shared with the other flows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from platform_assets.core.errors import LoadError
from platform_assets.core.specs import TableSpec, quote_ident, quote_literal
from platform_assets.core.transport.files import DownloadResult


class RejectsExceeded(LoadError):
    """More rows failed validation than the table tolerates; nothing was written to the table."""

    def __init__(self, message: str, result: LoadResult):
        super().__init__(message)
        self.result = result


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
    commit_retries: int = 0
    """Writes tried again after a lake's commit conflict (:mod:`platform_assets.core.lake`)."""

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
