"""A vendor's one-off historical file (Attentive, document 000: "a historical file ... with a
maximum size of 2GB per file", many days in one file), prepared for the daily path.

The stages, in order (streamed; no per-row Python; memory bounded by the staging DuckDB's limit):

1. **fetch**: the file downloaded once into a private work folder (size, mtime and SHA-256
   checked as for a daily file) and kept in the raw archive as
   ``<root>/<vendor>/history/<file>``.
2. **validate**: every row through the table's pandera schema, the whole file at once, so a
   failure names the historical file's own physical line; any failure stops here and nothing
   is written.
3. **split**: one DuckDB pass writes each day's rows, their text unchanged and in file order, to
   a file named as that day's daily file. A row's day is the date of its ``day_column`` in the
   vendor's time zone.

Then the caller loads the days in order with :func:`..partition.load_partitions` (each day its
own transaction, as a range backfill does).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from platform_assets.core.csvfile import CsvFile, parse_error
from platform_assets.core.errors import BadFileError, LoadError
from platform_assets.core.specs import TableSpec, quote_ident, quote_literal
from platform_assets.core.staging import staging_connection
from platform_assets.core.transport.files import DownloadResult, FileSource
from platform_assets.core.validation import rejects_message, summarize_rejects, validate
from platform_assets.core.warehouse import LoaderSettings
from platform_assets.core.workdir import new_work_folder
from platform_assets.ingest.loader.archive import RawArchive
from platform_assets.ingest.loader.fetch import complete_download

HISTORY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.csv")
"""A historical file's name: plain ASCII, no path, ``.csv`` (the document names no pattern)."""


def check_history_name(spec: TableSpec, name: str) -> str:
    """``name`` if it can be ``spec``'s historical file: a plain name that starts like the
    table's daily files (``attentive_conversions_...csv``) and is not a daily file itself."""
    prefix = spec.file_pattern.split("{", 1)[0]
    if not HISTORY_NAME.fullmatch(name) or not name.startswith(prefix):
        raise LoadError(
            f"{name!r} is not a historical file name for {spec.qualified_name}: expected "
            f"{prefix}<letters, digits, '.', '_', '-'>.csv"
        )
    if spec.parse_file_name(name) is not None:
        raise LoadError(f"{name!r} is a daily file of {spec.qualified_name}; load it by partition")
    return name


@dataclasses.dataclass(frozen=True)
class HistoryFile:
    """The historical file, validated and split: one daily-named file per day in ``folder``."""

    download: DownloadResult
    rows: int
    days: dict[dt.date, int]
    """Each day in the file, with its number of rows."""
    folder: Path


@contextmanager
def prepared_history(
    spec: TableSpec,
    name: str,
    day_column: str,
    timezone: str,
    files: FileSource,
    settings: LoaderSettings,
) -> Iterator[HistoryFile]:
    """Stages 1-3 for the historical file ``name``; its work folder is removed on exit."""
    check_history_name(spec, name)
    if spec.dialect.encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise LoadError(f"{spec.qualified_name}: historical files are read as UTF-8 only")
    folder = new_work_folder(settings.work_dir, kind="history")
    work = folder.path
    try:
        download = complete_download(files, name, work)  # 1. fetch
        if settings.archive_dir:
            root = Path(settings.archive_dir)
            RawArchive(root).keep_at(root / spec.source / "history" / name, download)
        # the file's day constant is not used by validation (no key of these tables reads it)
        csv = CsvFile(
            download.local_path,
            download.remote.path,
            spec,
            max_line_bytes=settings.max_line_bytes,
        )
        with staging_connection(settings, work) as con:
            rows, _ = validate(con, spec, csv)  # 2. validate
            rejects = summarize_rejects(con, csv)
            if rejects.rows:
                raise BadFileError(
                    rejects_message(spec, download.remote.path, rows, rejects, 0.0)
                    + " (historical file: nothing was loaded)"
                )
            days = _split(con, spec, csv, day_column, timezone, work / "days")  # 3. split
        yield HistoryFile(download, rows, days, work / "days")
    finally:
        folder.remove()


def _split(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    csv: CsvFile,
    day_column: str,
    timezone: str,
    folder: Path,
) -> dict[dt.date, int]:
    """Write each day's rows to ``folder/<the day's daily file name>``; the rows per day."""
    dialect = spec.dialect
    read = f"read_csv({quote_literal(str(csv.path))}, {dialect.read_csv_options(csv.header)})"
    moment = f"try_cast({quote_ident(csv.mapping[day_column])} AS TIMESTAMPTZ)"
    day = f"strftime(timezone({quote_literal(timezone)}, {moment}), '%Y%m%d')"
    columns = ", ".join(quote_ident(h) for h in csv.header)
    try:
        # one pass counts the rows of each day (and those without a day) before the split
        counts = con.execute(
            f"SELECT {day} AS d, count(*) FROM {read} GROUP BY d ORDER BY d NULLS FIRST"
        ).fetchall()
        undated = sum(n for stamp, n in counts if stamp is None)
        if undated:
            raise BadFileError(
                f"{csv.display}: {undated} rows have no time in column {day_column!r} "
                f"(rule: history_day: a row's day is the date of {day_column!r} in {timezone})"
            )
        folder.mkdir()
        con.execute("SET threads = 1")  # one writer: each day's rows stay in file order
        con.execute(
            f"COPY (SELECT {columns}, {day} AS __day FROM {read}) TO "
            f"{quote_literal(str(folder / 'by_day'))} (FORMAT csv, HEADER true, "
            f"DELIMITER {quote_literal(dialect.delimiter)}, QUOTE {quote_literal(dialect.quote)}, "
            f"ESCAPE {quote_literal(dialect.escape)}, PARTITION_BY (__day), "
            "WRITE_PARTITION_COLUMNS false)"
        )
    except duckdb.Error as exc:  # a CSV error names the file; any other is raised as it is
        raise parse_error(exc, csv) from None
    days: dict[dt.date, int] = {}
    for stamp, count in counts:
        day_date = dt.datetime.strptime(stamp, "%Y%m%d").date()
        parts = sorted((folder / "by_day" / f"__day={stamp}").glob("*.csv"))
        if len(parts) != 1:
            raise LoadError(f"{csv.display}: the split of {stamp} wrote {len(parts)} files")
        parts[0].rename(folder / spec.file_name(day_date))
        days[day_date] = int(count)
    shutil.rmtree(folder / "by_day")
    return days
