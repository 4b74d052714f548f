"""Load one partition (one remote file) of a table into the DuckDB warehouse.

The path a file takes, with no per-row Python anywhere, and the data stored once:

1. **download**: streamed from SFTP into a private work folder (atomic rename, size checked,
   SHA-256 computed on the way); a gzipped file is inflated, bounded.
2. **header**: read with Python's csv module; the documented columns are found by name.
3. **validate**: DuckDB parses the file (parallel) and streams, in file order, Arrow batches of the
   rule-bearing columns plus each row's key, raw-text hash and version; pandera checks each batch
   while a feeder thread fetches the next. Failures become rejects (file, line, column, rule,
   value); each row's (key, hash, record number, version) goes to a staging table.
4. **keys**: the repeated keys and each one's winning row (by version, then file order).
5. **write** (one transaction on the warehouse, attached only now): old rows being replaced are
   deleted; the rows of keys seen once and each repeated key's winner (by its hash) are cast and
   inserted straight from the file (one parallel parse). On any failure it rolls back and the
   table is as it was.

Parsing is cheap (DuckDB, parallel); storing is what costs, and it happens once, into the table.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import logging
import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pyarrow

from platform_assets.lib.checks import ROW_RULE_COLUMNS
from platform_assets.lib.sftp import DownloadResult, SFTPFileNotFound, SFTPResource
from platform_assets.lib.specs import (
    APP_FIELD,
    DAY_FIELD,
    Extras,
    Md5Key,
    TableSpec,
    quote_ident,
    quote_literal,
)

LINEAGE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("__file_date", "DATE", "Date of the file the row was loaded from (the partition)."),
    ("__source_file", "VARCHAR", "Remote path of the file the row was loaded from."),
    ("__loaded_at", "TIMESTAMP", "When the row's current content was written (UTC)."),
)
REJECT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("__file_date", "DATE"),
    ("source_file", "VARCHAR"),
    ("line", "BIGINT"),
    ("column", "VARCHAR"),
    ("rule", "VARCHAR"),
    ("value", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("rejected_at", "TIMESTAMP"),
)
VALIDATION_BATCH_ROWS = 250_000
LOCK_WAIT_SECONDS = 300.0
MAX_INFLATED_BYTES = 20 * 1024**3
INFLATE_CHUNK = 1 << 20


class LoadError(Exception):
    """A partition could not be loaded; the message names the file and what is wrong."""


class RemoteFileMissing(LoadError):
    pass


class BadFileError(LoadError):
    """The file cannot be parsed, or lacks a documented column."""


class RejectsExceeded(LoadError):
    """More rows failed validation than the table tolerates; nothing was written to the table."""

    def __init__(self, message: str, result: LoadResult):
        super().__init__(message)
        self.result = result


@dataclass
class LoadResult:
    spec: TableSpec
    partition_date: dt.date
    download: DownloadResult
    rows_read: int = 0
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
    app_id: str | None = None
    inflated_bytes: int | None = None
    failure_summary: list[dict] = field(default_factory=list)
    failure_samples: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rejected_share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0

    @property
    def passed(self) -> bool:
        return self.rows_rejected == 0


@dataclass(frozen=True)
class LoaderSettings:
    """Limits of the staging DuckDB (the warehouse connection is only used to write)."""

    memory_limit: str = field(
        default_factory=lambda: os.environ.get("PLATFORM_STAGING_MEMORY_LIMIT") or "1GB"
    )
    threads: int = field(
        default_factory=lambda: (
            int(os.environ.get("PLATFORM_STAGING_THREADS") or 0) or (os.cpu_count() or 2)
        )
    )
    work_dir: str | None = field(default_factory=lambda: os.environ.get("PLATFORM_WORK_DIR"))
    validation_batch_rows: int = VALIDATION_BATCH_ROWS
    lock_wait_seconds: float = LOCK_WAIT_SECONDS
    max_inflated_bytes: int = field(
        default_factory=lambda: (
            int(os.environ.get("PLATFORM_MAX_INFLATED_BYTES") or 0) or MAX_INFLATED_BYTES
        )
    )
    """A gzip file that inflates past this many bytes is refused (a decompression bomb)."""


# -- DDL -------------------------------------------------------------------------------------


def reject_columns(spec: TableSpec) -> tuple[tuple[str, str], ...]:
    """The rejects table's columns (with the app id after the date for app-partitioned tables)."""
    if spec.app_column is None:
        return REJECT_COLUMNS
    return (REJECT_COLUMNS[0], (spec.app_column, "VARCHAR"), *REJECT_COLUMNS[1:])


def table_ddl(spec: TableSpec, catalog: str | None = None) -> list[str]:
    prefix = f"{quote_ident(catalog)}." if catalog else ""
    schema = f"{prefix}{quote_ident(spec.schema)}"
    cols = [f"{quote_ident(c.name)} {c.type}" for c in spec.columns]
    cols += [f"{quote_ident(n)} {t}" for n, t, _ in LINEAGE_COLUMNS]
    rejects = [f"{quote_ident(n)} {t}" for n, t in reject_columns(spec)]
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"CREATE TABLE IF NOT EXISTS {schema}.{quote_ident(spec.table)} ({', '.join(cols)})",
        f"CREATE TABLE IF NOT EXISTS {schema}.{quote_ident(spec.rejects_table)} "
        f"({', '.join(rejects)})",
    ]


# -- helpers ---------------------------------------------------------------------------------


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int:
    rows = con.execute(sql, params or []).fetchall()  # fetch all: leaves no open result
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def _staging_connection(settings: LoaderSettings, work_dir: Path) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB for the small per-load tables (keys, rejects, decisions);
    it spills to the work folder past its memory limit."""
    con = duckdb.connect(
        ":memory:",
        config={
            "memory_limit": settings.memory_limit,
            "threads": settings.threads,
            "temp_directory": str(work_dir / "duckdb_tmp"),
            "preserve_insertion_order": True,
        },
    )
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextmanager
def attached_warehouse(
    con: duckdb.DuckDBPyConnection, path: str, wait_seconds: float = LOCK_WAIT_SECONDS
) -> Iterator[str]:
    """Attach the warehouse file as ``wh`` for writing, waiting while another process holds it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            con.execute(f"ATTACH {quote_literal(str(path))} AS wh")
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 1.5, 5.0)
    try:
        yield "wh"
    finally:
        con.execute("DETACH wh")


def _read_header(path: Path, spec: TableSpec, display: str) -> list[str]:
    """The file's header record, read with Python's csv module (first record only)."""
    dialect = spec.dialect
    try:
        with path.open(encoding=dialect.python_encoding, newline="") as fh:
            reader = csv.reader(
                fh,
                delimiter=dialect.delimiter,
                quotechar=dialect.quote,
                doublequote=dialect.escape == dialect.quote,
                escapechar=None if dialect.escape == dialect.quote else dialect.escape,
                strict=True,
            )
            header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BadFileError(f"{display}: line 1 (header) cannot be read: {exc}") from None
    if not header:
        raise BadFileError(f"{display}: the file is empty (no header line)")
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise BadFileError(f"{display}: line 1 (header) repeats column(s) {duplicates}")
    return header


def _header_map(
    header: list[str],
    spec: TableSpec,
    display: str,
    column_sources: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """Map each CSV column the spec needs to the file's header (by name, case-insensitively).

    ``column_sources`` renames a documented column for this file (e.g. Accengage's client-id
    column, whose name is set per app)."""
    by_norm: dict[str, str] = {}
    for name in header:
        by_norm.setdefault(name.strip().lower(), name)
    mapping: dict[str, str] = {}
    missing = []
    renames = column_sources or {}
    for wanted in spec.csv_columns:
        expected = renames.get(wanted, wanted)
        found = by_norm.get(expected.lower())
        if found is None:
            missing.append(expected)
        else:
            mapping[wanted] = found
    if missing:
        raise BadFileError(
            f"{display}: line 1 (header): missing documented column(s) {missing} "
            f"(rule: column_in_file); header has {header}"
        )
    used = set(mapping.values())
    return mapping, [h for h in header if h not in used]


def _csv_error(exc: duckdb.Error) -> str:
    """DuckDB's CSV error without its generic advice (it keeps the line number)."""
    text = str(exc).split("Possible fixes:")[0].strip()
    return " ".join(text.split())


def _failures_frame(errors: pa.errors.SchemaErrors) -> pd.DataFrame:
    """pandera's failure cases as (record, column, rule, value) rows (vectorized)."""
    fc = errors.failure_cases
    fc = fc[fc["index"].notna()]
    # a row-level rule is reported under every column of the frame: keep the ones it reads
    row_level = fc["schema_context"] == "DataFrameSchema"
    known = fc["check"].isin(list(ROW_RULE_COLUMNS))
    allowed = [(rule, col) for rule, cols in ROW_RULE_COLUMNS.items() for col in cols]
    reads = pd.MultiIndex.from_arrays([fc["check"], fc["column"]]).isin(allowed)
    fc = fc[~row_level | ~known | reads]
    return pd.DataFrame(
        {
            "record": fc["index"].astype("int64"),
            "column": fc["column"].astype("string"),
            "rule": fc["check"].astype("string"),
            "value": fc["failure_case"].astype("string"),
        }
    )


_PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3


def _arrow_to_pandas(batch: pyarrow.RecordBatch | pyarrow.Table) -> pd.DataFrame:
    """Arrow strings as arrow-backed pandas strings (pandas 3's default ``str``; on pandas 2,
    ``string[pyarrow]``): pandera's string checks then run in Arrow's vectorized kernels."""
    if _PANDAS_3:
        return batch.to_pandas()
    return batch.to_pandas(types_mapper={pyarrow.string(): pd.StringDtype("pyarrow")}.get)


# -- the load --------------------------------------------------------------------------------


def load_partition(
    spec: TableSpec,
    partition_date: dt.date,
    sftp: SFTPResource,
    warehouse_path: str,
    *,
    run_id: str = "",
    log: logging.Logger | None = None,
    settings: LoaderSettings | None = None,
    reject_tolerance: float | None = None,
    app_id: str | None = None,
    column_sources: Mapping[str, str] | None = None,
) -> LoadResult:
    """Download, validate and upsert the file of ``partition_date`` (and ``app_id``, for tables
    with one file per app) into ``spec``'s table.

    ``column_sources`` maps a documented column to the header it has in this file."""
    log = log or logging.getLogger(__name__)
    settings = settings or LoaderSettings()
    tolerance = spec.reject_tolerance if reject_tolerance is None else reject_tolerance
    try:
        name = spec.file_name(partition_date, app_id)
    except ValueError as exc:
        raise LoadError(str(exc)) from None
    ref = spec.parse_file_name(name)
    if ref is None or ref.day != partition_date or ref.app != app_id:  # must round-trip
        raise LoadError(f"{spec.qualified_name}: file pattern does not round-trip for {name!r}")
    label = partition_date.isoformat() + (f" app {app_id}" if app_id else "")

    if settings.work_dir:
        Path(settings.work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="load_", dir=settings.work_dir) as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        download = _download(spec, sftp, name, work, label)
        result = LoadResult(spec, partition_date, download, app_id=app_id)
        result.timings["download_s"] = time.perf_counter() - started
        log.info(
            "downloaded %s (%d bytes) in %.2fs",
            download.remote.path,
            download.remote.size,
            result.timings["download_s"],
        )
        if download.local_path.suffix == ".gz":
            started = time.perf_counter()
            download = _inflate(download, settings.max_inflated_bytes)
            result.download = download
            result.inflated_bytes = download.local_path.stat().st_size
            result.timings["inflate_s"] = time.perf_counter() - started
        con = _staging_connection(settings, work)
        try:
            _Load(con, spec, download, result, settings, run_id, tolerance, column_sources).run(
                warehouse_path
            )
        finally:
            con.close()
    if result.rows_rejected > 0 and result.rejected_share > tolerance:
        raise RejectsExceeded(_rejects_message(spec, download, result, tolerance), result)
    return result


def _download(
    spec: TableSpec, sftp: SFTPResource, name: str, work: Path, label: str
) -> DownloadResult:
    """The partition's file; for a table whose files may be gzipped later, the ``.gz`` when the
    plain file is gone. Never both: the plain file wins while it is there (it is complete; a
    ``.gz`` seen beside it may still be being written by the vendor's compression job)."""
    try:
        return sftp.download(name, work / name)
    except SFTPFileNotFound as exc:
        if not spec.gzip_variant:
            raise RemoteFileMissing(f"{spec.qualified_name} partition {label}: {exc}") from None
    try:
        return sftp.download(name + ".gz", work / (name + ".gz"))
    except SFTPFileNotFound:
        raise RemoteFileMissing(
            f"{spec.qualified_name} partition {label}: neither {name} nor {name}.gz is on the "
            f"server in {sftp.remote_dir}"
        ) from None


def _inflate(download: DownloadResult, limit: int) -> DownloadResult:
    """Decompress a gzip download next to it, in chunks, refusing past ``limit`` bytes."""
    source = download.local_path
    target = source.with_suffix("")
    written = 0
    try:
        with gzip.open(source, "rb") as fh, target.open("wb") as out:
            while chunk := fh.read(INFLATE_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise BadFileError(
                        f"{download.remote.path}: inflates past the limit of {limit} bytes "
                        "(PLATFORM_MAX_INFLATED_BYTES); refused as a possible decompression bomb"
                    )
                out.write(chunk)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        target.unlink(missing_ok=True)
        raise BadFileError(f"{download.remote.path}: not a valid gzip file: {exc}") from None
    except BadFileError:
        target.unlink(missing_ok=True)
        raise
    finally:
        source.unlink(missing_ok=True)
    return dataclasses.replace(download, local_path=target)


def _key_aliases(spec: TableSpec) -> dict[str, str]:
    """Each distinct derived-key expression (computed once per parse) by its alias."""
    aliases: dict[str, str] = {}
    for col in spec.columns:
        if isinstance(col, Md5Key):
            aliases.setdefault(col.select_sql(), f"__key{len(aliases)}")
    return aliases


class _Source:
    """The downloaded CSV as SQL: each use is a fresh DuckDB parse (parsing is cheap).

    ``plain``: the needed CSV columns under their documented names, the extra columns and the
    derived keys; a parallel parse whose streamed result keeps file order. ``sql`` and
    ``numbered(where)`` add ``__record`` (1-based, file order) with DuckDB's streaming
    ``row_number() OVER ()``, which runs on one core: used only on the rare reject paths.
    """

    def __init__(
        self,
        spec: TableSpec,
        download: DownloadResult,
        day: dt.date,
        app_id: str | None = None,
        column_sources: Mapping[str, str] | None = None,
    ):
        display = download.remote.path
        self.path = download.local_path
        self.header = _read_header(self.path, spec, display)
        self.mapping, self.extra_columns = _header_map(self.header, spec, display, column_sources)
        self.aliases = _key_aliases(spec)
        key_col = next(c for c in spec.columns if c.name == spec.key)
        self.key = (
            self.aliases[key_col.select_sql()]
            if isinstance(key_col, Md5Key)
            else quote_ident(key_col.csv_name)
        )
        cols = ", ".join(
            f"{quote_ident(actual)} AS {quote_ident(wanted)}"
            for wanted, actual in self.mapping.items()
        )
        extras = "".join(f", {quote_ident(e)}" for e in self.extra_columns)
        # the partition's values, as constant columns a key part or a column can read
        extras += f", {quote_literal(app_id or '')} AS {quote_ident(APP_FIELD)}"
        extras += f", {quote_literal(day.strftime('%Y%m%d'))} AS {quote_ident(DAY_FIELD)}"
        keys = "".join(f", {sql} AS {alias}" for sql, alias in self.aliases.items())
        read = (
            f"read_csv({quote_literal(str(self.path))}, "
            f"{spec.dialect.read_csv_options(self.header)})"
        )
        numbered = f"(SELECT row_number() OVER () AS __record, {cols}{extras} FROM {read})"
        self.sql = f"(SELECT *{keys} FROM {numbered})"
        # without record numbers the parse runs on every core (the streaming window does not)
        self.plain = f"(SELECT *{keys} FROM (SELECT {cols}{extras} FROM {read}))"
        self._numbered_raw, self._keys = numbered, keys
        json_pairs = ", ".join(f"{quote_literal(e)}, {quote_ident(e)}" for e in self.extra_columns)

        def typed(col: object) -> str:
            if isinstance(col, Md5Key):
                return self.aliases[col.select_sql()]
            if isinstance(col, Extras):  # the undocumented columns, kept as one JSON object
                return f"json_object({json_pairs})"
            return col.select_sql()  # type: ignore[attr-defined]

        self.typed = ", ".join(f"{typed(c)} AS {quote_ident(c.name)}" for c in spec.columns)
        self.version_try = "NULL::TIMESTAMP"  # the version's typed value (NULL if unparseable)
        if spec.version_column:
            version = next(c for c in spec.loaded_columns if c.name == spec.version_column)
            self.version_try = version.select_sql(try_cast=True)
        # a row's identity within the file: a hash of all its raw text (repeated keys only)
        raw = [*self.mapping, *self.extra_columns]
        self.row_hash = f"hash({', '.join(quote_ident(c) for c in raw)})"

    def numbered(self, where: str) -> str:
        """The rows whose ``__record`` passes ``where``; keys computed only for those."""
        return f"(SELECT *{self._keys} FROM {self._numbered_raw} WHERE {where})"


class _Validation:
    """Every row through the table's pandera schema, streamed in Arrow batches in file order.

    DuckDB parses the file (in parallel) and streams the rule-bearing columns, the row's key, a
    hash of the row's raw text and its version; a feeder thread fetches the next batch while
    pandera checks the current one (DuckDB releases the GIL while it parses). Record numbers are
    counted here (a streamed result keeps file order). Failures go to ``rejects``; every row's
    (key, row hash, record, version) goes to ``positions``, from which the repeated keys and the
    winning row of each are known before anything is written.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: TableSpec,
        source: _Source,
        settings: LoaderSettings,
    ):
        self.con = con
        self.spec = spec
        self.source = source
        self.settings = settings
        self.records = 0

    def _select(self) -> str:
        src = self.source
        cols = [quote_ident(c) for c in self.spec.ruled_columns]
        cols += [f"{src.key} AS __k", f"{src.row_hash} AS __h", f"{src.version_try} AS __v"]
        return f"SELECT {', '.join(cols)} FROM {src.plain}"

    def run(self) -> None:
        ruled = list(self.spec.ruled_columns)
        schema = self.spec.validation_schema
        batches: queue.Queue[pyarrow.RecordBatch | BaseException | None] = queue.Queue(2)
        stop = threading.Event()

        def feed(reader: pyarrow.RecordBatchReader) -> None:
            try:
                for batch in reader:
                    while not stop.is_set():
                        try:
                            batches.put(batch, timeout=0.5)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                batches.put(None)
            except BaseException as exc:  # re-raised in the caller's thread
                batches.put(exc)

        with self.con.cursor() as scan, self.con.cursor() as sink:
            reader = scan.sql(self._select()).to_arrow_reader(self.settings.validation_batch_rows)
            feeder = threading.Thread(target=feed, args=(reader,), name="csv-feed", daemon=True)
            feeder.start()
            seen = 0
            try:
                while (batch := batches.get()) is not None:
                    if isinstance(batch, BaseException):
                        raise batch
                    records = pyarrow.array(
                        np.arange(seen + 1, seen + batch.num_rows + 1, dtype=np.int64)
                    )
                    seen += batch.num_rows
                    pos = pyarrow.table(  # noqa: F841 - read by DuckDB below
                        {
                            "k": batch.column("__k"),
                            "h": batch.column("__h"),
                            "record": records,
                            "v": batch.column("__v"),
                        }
                    )
                    sink.execute("INSERT INTO positions SELECT k, h, record, v FROM pos")
                    frame = _arrow_to_pandas(batch.select(ruled))
                    frame.index = pd.RangeIndex(seen - batch.num_rows + 1, seen + 1)
                    try:
                        schema.validate(frame, lazy=True)
                    except pa.errors.SchemaErrors as errors:
                        failures = _failures_frame(errors)  # noqa: F841 - read by DuckDB
                        sink.execute("INSERT INTO rejects SELECT * FROM failures")
            finally:
                stop.set()
                feeder.join()
                reader.close()
            self.records = seen


def _check_key_unique(con: duckdb.DuckDBPyConnection, spec: TableSpec, keys_sql: str) -> None:
    """pandera: the key of the rows loaded (repeats dropped) is present and unique.

    Checked in hash buckets of at most 2 million keys, so memory stays bounded."""
    schema = pa.DataFrameSchema({"k": pa.Column(str, nullable=False, unique=True)})
    rows = _scalar(con, f"SELECT count(*) FROM ({keys_sql})")
    buckets = max(1, math.ceil(rows / 2_000_000))
    for bucket in range(buckets):
        batch = con.sql(
            f"SELECT k FROM ({keys_sql}) WHERE hash(k) % {buckets} = {bucket}"
        ).to_arrow_table()
        try:
            schema.validate(_arrow_to_pandas(batch), lazy=True)
        except pa.errors.SchemaErrors as errors:
            raise LoadError(
                f"{spec.qualified_name}: key {spec.key} not unique after dropping repeats: "
                f"{errors.failure_cases.head(5).to_dict('records')}"
            ) from None


class _Load:
    """One partition load: validate every row first, then write in one transaction.

    Validation (pandera over a streamed, parallel parse) also records each row's key, raw-text
    hash, record number and version; from those, ``key_counts``, ``repeated`` and ``winners``
    (each repeated key's winning row hash). A semi-join with the table gives ``decisions`` for
    the keys it already holds. Then, in one transaction: the old rows being replaced are deleted
    and the rows of keys seen once plus the winners are cast and inserted straight from the file
    (one parallel parse; the data is stored once). With rejects, the rejects (plus, within the
    tolerance, the valid rows, by record number) are written instead. Nothing written in the
    fast path is deleted in it again (unless a key repeats with byte-identical rows): DuckDB then
    keeps its optimistic writes and the commit is cheap.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: TableSpec,
        download: DownloadResult,
        result: LoadResult,
        settings: LoaderSettings,
        run_id: str,
        tolerance: float,
        column_sources: Mapping[str, str] | None = None,
    ):
        self.con = con
        self.spec = spec
        self.download = download
        self.result = result
        self.settings = settings
        self.run_id = run_id
        self.tolerance = tolerance
        self.column_sources = column_sources
        self.day = result.partition_date.isoformat()
        # the partition's rows in the table and in its rejects table
        self.partition = f"__file_date = DATE '{self.day}'"
        if spec.app_column:
            self.partition += (
                f" AND {quote_ident(spec.app_column)} = {quote_literal(result.app_id or '')}"
            )
        self._open = False

    def _newer_first(self, version: str | None, position: str) -> str:
        """ORDER BY for the rows of one key in one file: the winner first."""
        return f"{version} DESC NULLS LAST, {position} DESC" if version else f"{position} DESC"

    def _version_cases(self, old: str, new: str) -> str:
        """CASE arms deciding on the versions ``old`` (in the table) and ``new`` (incoming):
        the larger wins, a missing one loses; equal ones fall through to the file dates.
        An empty string for tables without a version column."""
        if not self.spec.version_column:
            return ""
        return (
            f"WHEN {old} > {new} OR ({old} IS NOT NULL AND {new} IS NULL) THEN 'older' "
            f"WHEN {old} < {new} OR ({old} IS NULL AND {new} IS NOT NULL) THEN 'update' "
        )

    def _version_of(self, alias: str) -> str:
        v = self.spec.version_column
        return f"{alias}.{quote_ident(v)}" if v else "NULL"

    def run(self, warehouse_path: str) -> None:
        source = _Source(
            self.spec,
            self.download,
            self.result.partition_date,
            self.result.app_id,
            self.column_sources,
        )
        self.result.extra_columns = source.extra_columns
        self.con.execute(
            'CREATE TABLE rejects (record BIGINT, "column" VARCHAR, rule VARCHAR, value VARCHAR)'
        )
        self._stage_tables(source)
        started = time.perf_counter()
        validation = _Validation(self.con, self.spec, source, self.settings)
        try:
            validation.run()
        except duckdb.Error as exc:
            if "CSV Error" in str(exc):
                raise BadFileError(
                    f"{self.download.remote.path}: the CSV could not be parsed: {_csv_error(exc)}"
                ) from None
            raise
        self.result.rows_read = validation.records
        self.result.timings["validate_s"] = time.perf_counter() - started
        started = time.perf_counter()
        self._stage_keys()
        self.result.timings["keys_s"] = time.perf_counter() - started
        _summarize_rejects(self.con, self.spec, source, self.result)
        with attached_warehouse(self.con, warehouse_path, self.settings.lock_wait_seconds) as wh:
            self._write(wh, source)

    def _stage_tables(self, source: _Source) -> None:
        """``positions``: each row's key, raw-text hash, record number and version."""
        self.con.execute(
            f"CREATE TABLE positions AS SELECT {source.key} AS k, {source.row_hash} AS h, "
            f"0::BIGINT AS record, {source.version_try} AS v FROM {source.plain} LIMIT 0"
        )

    def _stage_keys(self) -> None:
        """From ``positions`` (a hash aggregate): ``key_counts``, ``repeated`` (keys seen more
        than once) and ``winners`` (the row hash of each repeated key's winning row: the highest
        version, then the last row)."""
        con = self.con
        con.execute("CREATE TABLE key_counts AS SELECT k, count(*) AS n FROM positions GROUP BY k")
        con.execute("CREATE TABLE repeated AS SELECT k FROM key_counts WHERE n > 1")
        order = self._newer_first("v" if self.spec.version_column else None, "record")
        con.execute(
            "CREATE TABLE winners AS SELECT k, h FROM positions "
            "WHERE k IN (SELECT k FROM repeated) "
            f"QUALIFY row_number() OVER (PARTITION BY k ORDER BY {order}) = 1"
        )
        con.execute("DROP TABLE positions")

    # -- transaction -------------------------------------------------------------------------

    def _target(self, wh: str) -> str:
        return f"{wh}.{quote_ident(self.spec.schema)}.{quote_ident(self.spec.table)}"

    def _begin(self) -> None:
        self.con.execute("BEGIN TRANSACTION")
        self._open = True

    def _rollback(self) -> None:
        self.con.execute("ROLLBACK")
        self._open = False

    def _commit(self) -> None:
        self.con.execute("COMMIT")
        self._open = False

    def _write(self, wh: str, source: _Source) -> None:
        """Validation is done: write the valid rows in one transaction (or, with rejects, the
        rejects and, within the tolerance, the valid rows); roll back on any failure."""
        con, result = self.con, self.result
        started = time.perf_counter()
        try:
            if result.rows_rejected:
                self._reject_path(wh, source)
            else:
                self._fast_path(wh, source)
            started_commit = time.perf_counter()
            self._commit()
            result.timings["commit_s"] = time.perf_counter() - started_commit
        except duckdb.ConversionException as exc:
            if self._open:
                self._rollback()
            raise LoadError(
                f"{self.download.remote.path}: a value passed {self.spec.qualified_name}'s "
                "rules but does not convert to its column type (the spec's rules are too "
                f"loose): {exc}"
            ) from None
        except duckdb.Error as exc:
            if self._open:
                self._rollback()
            if "CSV Error" in str(exc):
                raise BadFileError(
                    f"{self.download.remote.path}: the CSV could not be parsed: {_csv_error(exc)}"
                ) from None
            raise
        except BaseException:
            if self._open:
                self._rollback()
            raise
        target = self._target(wh)
        result.partition_rows = _scalar(
            con, f"SELECT count(*) FROM {target} WHERE {self.partition}"
        )
        result.table_rows = _scalar(con, f"SELECT count(*) FROM {target}")
        result.timings["write_s"] = time.perf_counter() - started

    def _fast_path(self, wh: str, source: _Source) -> None:
        """Every row valid: insert, straight from the file, the rows of keys seen once and the
        winning row of each repeated key (known by its row hash), in one parallel parse."""
        con, spec, result = self.con, self.spec, self.result
        target = self._target(wh)
        key = quote_ident(spec.key)
        incoming = (
            f"SELECT {source.typed} FROM {source.plain} "
            f"WHERE {source.key} NOT IN (SELECT k FROM repeated) "
            f"OR {source.row_hash} IN (SELECT h FROM winners)"
        )
        started = time.perf_counter()
        counts = self._decide(wh, incoming)
        result.timings["decide_s"] = time.perf_counter() - started
        started = time.perf_counter()
        self._begin()
        self._prepare_tables(wh, with_rejects=False)
        con.execute(
            f"DELETE FROM {target} WHERE {key} IN (SELECT k FROM decisions WHERE action = 'update')"
        )
        names = ", ".join(quote_ident(c.name) for c in spec.columns)
        inserted = _scalar(
            con,
            f"INSERT INTO {target} SELECT {names}, DATE '{self.day}', ?, now()::TIMESTAMP "
            f"FROM ({incoming}) WHERE {key} NOT IN "
            "(SELECT k FROM decisions WHERE action IN ('unchanged', 'older'))",
            [self.download.remote.path],
        )
        result.timings["insert_s"] = time.perf_counter() - started
        keys, rows = con.execute("SELECT count(*), sum(n) FROM key_counts").fetchall()[0]
        kept = counts.get("unchanged", 0) + counts.get("older", 0)
        expected = int(keys) - kept  # every key written yields at least its winner's row
        if inserted != expected:
            # identical rows of one key share the winner's hash: keep one of them (rare; it
            # costs a slower commit). Then pandera checks that one row per key is left.
            new = f"{target} WHERE __loaded_at = now()"
            con.execute(
                f"DELETE FROM {target} WHERE rowid IN (SELECT rowid FROM {new} AND {key} IN "
                "(SELECT k FROM repeated) "
                f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY rowid DESC) > 1)"
            )
            _check_key_unique(con, spec, f"SELECT {key} AS k FROM {new}")
            if _scalar(con, f"SELECT count(*) FROM {new}") != expected:
                raise LoadError(f"{spec.qualified_name}: rows written do not match the keys")
        result.duplicates_dropped = int(rows or 0) - int(keys)
        result.rows_updated = counts.get("update", 0)
        result.rows_unchanged = counts.get("unchanged", 0)
        result.rows_skipped_older = kept - result.rows_unchanged
        result.rows_inserted = int(keys) - sum(counts.values())

    def _decide(self, wh: str, incoming: str) -> dict[str, int]:
        """``decisions``: what happens to each incoming key that the table already holds.

        ``update`` (a larger version, or at equal or no version a newer file, or the same file
        date with other content: the old row goes), ``unchanged`` (same date, same content: left
        alone, so a re-run changes nothing) or ``older`` (the table holds a larger version, or
        the key from a newer file: never overwritten). Other keys are inserts. We hold the
        warehouse's write lock: nothing changes before the transaction.
        """
        con, spec = self.con, self.spec
        target = self._target(wh)
        key = quote_ident(spec.key)
        by_version = self._version_cases(self._version_of("t"), self._version_of("i"))
        con.execute("CREATE OR REPLACE TABLE decisions (k VARCHAR, action VARCHAR)")
        exists = _scalar(
            con,
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? "
            "AND schema_name = ? AND table_name = ?",
            [wh, spec.schema, spec.table],
        )
        overlap = exists and _scalar(
            con, f"SELECT count(*) FROM {target} WHERE {key} IN (SELECT k FROM key_counts)"
        )
        if overlap:
            content = [quote_ident(c.name) for c in spec.columns if c.name != spec.key]
            differs = " OR ".join(f"t.{c} IS DISTINCT FROM i.{c}" for c in content) or "false"
            con.execute(
                f"""
                INSERT INTO decisions
                WITH existing AS (
                    SELECT * FROM {target} WHERE {key} IN (SELECT k FROM key_counts)
                ), incoming AS (
                    SELECT * FROM ({incoming}) WHERE {key} IN (SELECT {key} FROM existing)
                )
                SELECT i.{key}, CASE {by_version}
                    WHEN t.__file_date > DATE '{self.day}' THEN 'older'
                    WHEN t.__file_date < DATE '{self.day}' OR {differs} THEN 'update'
                    ELSE 'unchanged' END
                FROM existing t JOIN incoming i ON t.{key} = i.{key}
                """
            )
        return {
            action: int(n)
            for action, n in con.execute(
                "SELECT action, count(*) FROM decisions GROUP BY ALL"
            ).fetchall()
        }

    def _prepare_tables(self, wh: str, *, with_rejects: bool) -> None:
        """Create the tables if needed; replace the partition's rejects."""
        rejects = f"{wh}.{quote_ident(self.spec.schema)}.{quote_ident(self.spec.rejects_table)}"
        for ddl in table_ddl(self.spec, wh):
            self.con.execute(ddl)
        self.con.execute(f"DELETE FROM {rejects} WHERE {self.partition}")
        if with_rejects and self.result.reject_failures:
            app = "" if self.spec.app_column is None else f"{quote_literal(self.result.app_id)}, "
            self.con.execute(
                f"INSERT INTO {rejects} SELECT DATE '{self.day}', {app}?, line, \"column\", "
                'rule, value, ?, now()::TIMESTAMP FROM rejects ORDER BY line, "column"',
                [self.download.remote.path, self.run_id],
            )

    def _reject_path(self, wh: str, source: _Source) -> None:
        """Rejects found: write them; within the tolerance also the valid rows (by record
        number: a single-threaded parse, and a slower commit, on this rare path only)."""
        self._begin()
        self._prepare_tables(wh, with_rejects=True)
        if self.result.rejected_share <= self.tolerance:
            valid = "__record NOT IN (SELECT record FROM rejects)"
            self._load_rows(wh, f"SELECT {source.typed} FROM {source.numbered(valid)}")

    def _load_rows(self, wh: str, rows: str) -> None:
        """Insert ``rows`` (typed, file order), then resolve them in the open transaction."""
        con, spec, result = self.con, self.spec, self.result
        target = self._target(wh)
        key = quote_ident(spec.key)
        names = ", ".join(quote_ident(c.name) for c in spec.columns)
        inserted = con.execute(
            f"INSERT INTO {target} SELECT {names}, DATE '{self.day}', ?, now()::TIMESTAMP "
            f"FROM ({rows})",
            [self.download.remote.path],
        ).fetchall()[0][0]
        new = f"{target} WHERE __loaded_at = now()"
        # repeats within the file: the last row (highest row id = file order) wins, or the
        # highest version and then the last row
        version = quote_ident(spec.version_column) if spec.version_column else None
        order = self._newer_first(version, "rowid")
        result.duplicates_dropped = int(
            con.execute(
                f"""
                DELETE FROM {target} WHERE rowid IN (
                    WITH repeated AS (
                        SELECT {key} AS k FROM {new} GROUP BY ALL HAVING count(*) > 1
                    )
                    SELECT rowid FROM {new} AND {key} IN (SELECT k FROM repeated)
                    QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order}) > 1
                )
                """
            ).fetchall()[0][0]
        )
        counts = self._resolve(target, new)
        valid = int(inserted) - result.duplicates_dropped
        result.rows_updated = counts.get("update", 0)
        result.rows_unchanged = counts.get("unchanged", 0)
        result.rows_skipped_older = counts.get("older", 0)
        result.rows_inserted = valid - sum(counts.values())
        _check_key_unique(con, spec, f"SELECT {key} AS k FROM {new}")

    def _resolve(self, target: str, new: str) -> dict[str, int]:
        """New rows whose key the table already held: ``update`` (the file is newer, or the
        same date with other content: the old row goes), ``unchanged`` (same date, same content:
        the new row goes, so a re-run changes nothing) or ``older`` (the table holds the key
        from a newer file: the new row goes, never the newer one)."""
        con, spec = self.con, self.spec
        key = quote_ident(spec.key)
        old = f"{target} WHERE __loaded_at <> now()"
        version = quote_ident(spec.version_column) if spec.version_column else "NULL"
        pairs = con.sql(
            f"""
            SELECT n.rowid AS new_id, o.rowid AS old_id, n.__file_date AS new_date,
                   o.__file_date AS old_date, n.{key} AS k, n.__v AS new_v, o.__v AS old_v
            FROM (SELECT rowid, {key}, __file_date, {version} AS __v FROM {new}) n
            JOIN (SELECT rowid, {key}, __file_date, {version} AS __v FROM {old}) o
              ON n.{key} = o.{key}
            """
        ).to_arrow_table()
        if not pairs.num_rows:
            return {}
        content = [quote_ident(c.name) for c in spec.columns if c.name != spec.key]
        differs = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in content) or "false"
        same_day = f"DATE '{self.day}'"
        decided = con.sql(  # noqa: F841 - read by DuckDB below
            f"""
            SELECT p.new_id, p.old_id, CASE {self._version_cases("p.old_v", "p.new_v")}
                WHEN p.old_date > p.new_date THEN 'older'
                WHEN p.old_date < p.new_date THEN 'update'
                WHEN s.k IS NOT NULL THEN 'update'
                ELSE 'unchanged' END AS action
            FROM pairs p LEFT JOIN (
                SELECT n.{key} AS k FROM {target} n JOIN {target} o ON n.{key} = o.{key}
                WHERE n.__loaded_at = now() AND o.__loaded_at <> now()
                  AND o.__file_date = {same_day} AND ({differs})
            ) s ON s.k = p.k
            """
        ).to_arrow_table()
        con.execute(
            f"DELETE FROM {target} WHERE rowid IN "
            "(SELECT old_id FROM decided WHERE action = 'update')"
        )
        con.execute(
            f"DELETE FROM {target} WHERE rowid IN "
            "(SELECT new_id FROM decided WHERE action <> 'update')"
        )
        return {
            action: int(n)
            for action, n in con.sql("SELECT action, count(*) FROM decided GROUP BY ALL").fetchall()
        }


def _summarize_rejects(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, source: _Source, result: LoadResult
) -> None:
    result.reject_failures = _scalar(con, "SELECT count(*) FROM rejects")
    result.rows_rejected = _scalar(con, "SELECT count(DISTINCT record) FROM rejects")
    if not result.reject_failures:
        return
    _locate_rejects(con, source)
    result.failure_summary = [
        {"column": c, "rule": r, "rows": n}
        for c, r, n in con.execute(
            'SELECT "column", rule, count(DISTINCT record) n FROM rejects '
            "GROUP BY ALL ORDER BY n DESC, 1, 2"
        ).fetchall()
    ]
    result.failure_samples = [
        {"line": line, "column": c, "rule": r, "value": v}
        for line, c, r, v in con.execute(
            'SELECT line, "column", rule, value FROM rejects '
            'QUALIFY row_number() OVER (PARTITION BY "column", rule ORDER BY line) <= 3 '
            'ORDER BY line, "column" LIMIT 20'
        ).fetchall()
    ]


def _locate_rejects(con: duckdb.DuckDBPyConnection, source: _Source) -> None:
    """Physical line numbers of rejected records (header = line 1; quoted newlines counted)."""
    newlines = " + ".join(
        f"(length(coalesce({quote_ident(c)}, '')) - "
        f"length(replace(coalesce({quote_ident(c)}, ''), chr(10), '')))"
        for c in [*source.mapping, *source.extra_columns]
    )
    con.execute(
        f"""
        CREATE TABLE reject_lines AS
        WITH spans AS (
            SELECT __record AS record, 1 + {newlines} AS n FROM {source.sql}
        ), starts AS (
            SELECT record, 2 + coalesce(sum(n) OVER (
                ORDER BY record ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS line
            FROM spans
        )
        SELECT record, line FROM starts WHERE record IN (SELECT record FROM rejects)
        """
    )
    con.execute("ALTER TABLE rejects ADD COLUMN line BIGINT")
    con.execute(
        "UPDATE rejects SET line = reject_lines.line FROM reject_lines "
        "WHERE rejects.record = reject_lines.record"
    )


def _rejects_message(
    spec: TableSpec, download: DownloadResult, result: LoadResult, tolerance: float
) -> str:
    rules = "; ".join(
        f"column {f['column']!r} rule {f['rule']} ({f['rows']} rows)"
        for f in result.failure_summary[:10]
    )
    samples = "; ".join(
        f"line {s['line']} column {s['column']!r} rule {s['rule']} value {s['value']!r}"
        for s in result.failure_samples[:10]
    )
    return (
        f"{download.remote.path}: {result.rows_rejected} of {result.rows_read} rows failed "
        f"{spec.qualified_name}'s checks (tolerance {tolerance:.2%}); nothing was written to "
        f"{spec.qualified_name}. Failures: {rules}. Samples: {samples}. All failures are in "
        f"{spec.schema}.{spec.rejects_table}."
    )


__all__ = [
    "BadFileError",
    "LoadError",
    "LoadResult",
    "LoaderSettings",
    "RejectsExceeded",
    "RemoteFileMissing",
    "load_partition",
    "table_ddl",
]
