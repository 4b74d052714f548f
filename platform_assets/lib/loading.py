"""Load one partition (one remote file) of a table into the DuckDB warehouse.

The path a file takes, with no per-row Python anywhere:

1. **download** — streamed from SFTP into a private work folder (atomic rename, size checked,
   SHA-256 computed on the way);
2. **stage** — DuckDB's CSV reader parses it into a private in-memory DuckDB (which spills to the
   work folder past its memory limit), every value as text, columns found by header name;
3. **validate** — the table's pandera schema runs on every row, streamed in Arrow batches; failures
   become rejects (file, line, column, rule, value);
4. **type, key, dedupe** — DuckDB casts the validated text, computes the MD5 keys and keeps the last
   row of each key;
5. **write** — the warehouse file is attached only now, and the upsert (plus the partition's
   rejects) happens in one transaction: any failure rolls all of it back.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pandera.pandas as pa
import pyarrow as pyarrow

from platform_assets.lib.checks import ROW_RULE_COLUMNS
from platform_assets.lib.sftp import DownloadResult, SFTPFileNotFound, SFTPResource
from platform_assets.lib.specs import Column, Md5Key, TableSpec, quote_ident, quote_literal

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


# -- DDL -------------------------------------------------------------------------------------


def table_ddl(spec: TableSpec, catalog: str | None = None) -> list[str]:
    prefix = f"{quote_ident(catalog)}." if catalog else ""
    schema = f"{prefix}{quote_ident(spec.schema)}"
    cols = [f"{quote_ident(c.name)} {c.type}" for c in spec.columns]
    cols += [f"{quote_ident(n)} {t}" for n, t, _ in LINEAGE_COLUMNS]
    rejects = [f"{quote_ident(n)} {t}" for n, t in REJECT_COLUMNS]
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"CREATE TABLE IF NOT EXISTS {schema}.{quote_ident(spec.table)} ({', '.join(cols)})",
        f"CREATE TABLE IF NOT EXISTS {schema}.{quote_ident(spec.rejects_table)} "
        f"({', '.join(rejects)})",
    ]


# -- helpers ---------------------------------------------------------------------------------


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int:
    row = con.execute(sql, params or []).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _staging_connection(settings: LoaderSettings, work_dir: Path) -> duckdb.DuckDBPyConnection:
    """A private DuckDB file in the work folder: compressed, its pages evictable, so a 2 GB file
    stages within a bounded memory limit; it is deleted with the work folder."""
    con = duckdb.connect(
        str(work_dir / "staging.duckdb"),
        config={
            "memory_limit": settings.memory_limit,
            "threads": settings.threads,
            "temp_directory": str(work_dir / "duckdb_tmp"),
            "preserve_insertion_order": True,
            "checkpoint_threshold": "1GB",
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
    header: list[str], spec: TableSpec, display: str
) -> tuple[dict[str, str], list[str]]:
    """Map each CSV column the spec needs to the file's header (by name, case-insensitively)."""
    by_norm: dict[str, str] = {}
    for name in header:
        by_norm.setdefault(name.strip().lower(), name)
    mapping: dict[str, str] = {}
    missing = []
    for wanted in spec.csv_columns:
        found = by_norm.get(wanted.lower())
        if found is None:
            missing.append(wanted)
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
    """pandera's failure cases as (record, column, rule, value) rows."""
    fc = errors.failure_cases
    fc = fc[fc["index"].notna()]
    row_level = fc["schema_context"] == "DataFrameSchema"
    if row_level.any():
        wanted = fc["check"].map(lambda rule: ROW_RULE_COLUMNS.get(rule, ()))
        keep = [
            not is_row or not cols or col in cols
            for is_row, cols, col in zip(row_level, wanted, fc["column"], strict=True)
        ]
        fc = fc[keep]
    out = pd.DataFrame(
        {
            "record": fc["index"].astype("int64"),
            "column": fc["column"].astype("string"),
            "rule": fc["check"].astype("string"),
            "value": fc["failure_case"].map(lambda v: None if pd.isna(v) else str(v)),
        }
    )
    return out


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
) -> LoadResult:
    """Download, validate and upsert the file of ``partition_date`` into ``spec``'s table."""
    log = log or logging.getLogger(__name__)
    settings = settings or LoaderSettings()
    tolerance = spec.reject_tolerance if reject_tolerance is None else reject_tolerance
    name = spec.file_name(partition_date)
    if spec.file_date(name) != partition_date:  # the pattern must round-trip
        raise LoadError(f"{spec.qualified_name}: file pattern does not round-trip for {name!r}")

    if settings.work_dir:
        Path(settings.work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="load_", dir=settings.work_dir) as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        try:
            download = sftp.download(name, work / name)
        except SFTPFileNotFound as exc:
            raise RemoteFileMissing(
                f"{spec.qualified_name} partition {partition_date.isoformat()}: {exc}"
            ) from None
        result = LoadResult(spec, partition_date, download)
        result.timings["download_s"] = time.perf_counter() - started
        log.info(
            "downloaded %s (%d bytes) in %.2fs",
            download.remote.path,
            download.remote.size,
            result.timings["download_s"],
        )
        con = _staging_connection(settings, work)
        try:
            _stage(con, spec, download, result)
            # pandera validates in a thread while DuckDB finds the repeated keys (2 cores busy)
            validation = _Validation(con, spec, settings)
            validation.start()
            try:
                started = time.perf_counter()
                _find_duplicates(con, spec, exclude_rejects=False)
                result.timings["dedupe_s"] = time.perf_counter() - started
            finally:
                validation.join(result)
            _summarize_rejects(con, spec, result)
            failed = result.rows_rejected > 0 and result.rejected_share > tolerance
            if not failed:
                _define_incoming(con, spec, download, result)
            _write(con, spec, download, result, warehouse_path, run_id, failed, settings)
        finally:
            con.close()
    if result.rows_rejected > 0 and result.rejected_share > tolerance:
        raise RejectsExceeded(_rejects_message(spec, download, result, tolerance), result)
    return result


def _key_aliases(spec: TableSpec) -> dict[str, str]:
    """Each distinct derived-key expression, computed once while parsing, by its staging alias."""
    aliases: dict[str, str] = {}
    for col in spec.columns:
        if isinstance(col, Md5Key):
            aliases.setdefault(col.select_sql(), f"__key{len(aliases)}")
    return aliases


def _stage(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, download: DownloadResult, result: LoadResult
) -> None:
    """Parse the file once into ``raw``: the needed CSV columns as text, extras, derived keys."""
    started = time.perf_counter()
    display = download.remote.path
    header = _read_header(download.local_path, spec, display)
    mapping, result.extra_columns = _header_map(header, spec, display)
    cols = ", ".join(
        f"{quote_ident(actual)} AS {quote_ident(wanted)}" for wanted, actual in mapping.items()
    )
    extras = "".join(f", {quote_ident(e)}" for e in result.extra_columns)
    keys = "".join(f", {sql} AS {alias}" for sql, alias in _key_aliases(spec).items())
    # the key expressions read the canonical (renamed) names: compute them over a subquery
    try:
        con.execute(
            f"CREATE TABLE raw AS SELECT *{keys} FROM (SELECT {cols}{extras} "
            f"FROM read_csv(?, {spec.dialect.read_csv_options(header)}))",
            [str(download.local_path)],
        )
    except duckdb.Error as exc:
        raise BadFileError(f"{display}: the CSV could not be parsed: {_csv_error(exc)}") from None
    result.rows_read = _scalar(con, "SELECT count(*) FROM raw")
    result.timings["parse_s"] = time.perf_counter() - started


class _Validation:
    """Every row through the table's pandera schema, streamed in Arrow batches, in a thread.

    It reads ``raw`` through its own cursor and writes failures to ``rejects`` through another,
    so DuckDB work on the main connection proceeds meanwhile.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, spec: TableSpec, settings: LoaderSettings):
        self.con = con
        self.spec = spec
        self.settings = settings
        self.error: BaseException | None = None
        self.seconds = 0.0
        con.execute(
            'CREATE TABLE rejects (record BIGINT, "column" VARCHAR, rule VARCHAR, value VARCHAR)'
        )
        self.thread = threading.Thread(target=self._run, name="pandera-validation", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        started = time.perf_counter()
        cols = ", ".join(quote_ident(c) for c in self.spec.csv_columns)
        try:
            with self.con.cursor() as scan, self.con.cursor() as sink:
                reader = scan.sql(f"SELECT rowid + 1 AS __record, {cols} FROM raw").to_arrow_reader(
                    self.settings.validation_batch_rows
                )
                for batch in reader:
                    frame = _arrow_to_pandas(batch).set_index("__record")
                    try:
                        self.spec.row_schema.validate(frame, lazy=True)
                    except pa.errors.SchemaErrors as errors:
                        failures = _failures_frame(errors)  # noqa: F841 - read by DuckDB
                        sink.execute("INSERT INTO rejects SELECT * FROM failures")
                reader.close()
        except BaseException as exc:  # re-raised in the caller's thread by join()
            self.error = exc
        self.seconds = time.perf_counter() - started

    def join(self, result: LoadResult) -> None:
        self.thread.join()
        result.timings["validate_s"] = self.seconds
        if self.error is not None:
            raise self.error


def _summarize_rejects(con: duckdb.DuckDBPyConnection, spec: TableSpec, result: LoadResult) -> None:
    result.reject_failures = _scalar(con, "SELECT count(*) FROM rejects")
    result.rows_rejected = _scalar(con, "SELECT count(DISTINCT record) FROM rejects")
    if not result.reject_failures:
        return
    _locate_rejects(con, spec)
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


def _locate_rejects(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """Physical line numbers of rejected records (header = line 1; quoted newlines counted)."""
    text_cols = [
        row[0] for row in con.execute("DESCRIBE raw").fetchall() if not row[0].startswith("__key")
    ]
    newlines = " + ".join(
        f"(length(coalesce({quote_ident(c)}, '')) - "
        f"length(replace(coalesce({quote_ident(c)}, ''), chr(10), '')))"
        for c in text_cols
    )
    con.execute(
        f"""
        CREATE TABLE reject_lines AS
        WITH spans AS (
            SELECT rowid + 1 AS record, 1 + {newlines} AS n FROM raw
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


def _staged_key(spec: TableSpec) -> str:
    """The staging column that holds the table's key."""
    key_col = next(c for c in spec.columns if c.name == spec.key)
    if isinstance(key_col, Md5Key):
        return _key_aliases(spec)[key_col.select_sql()]
    return quote_ident(key_col.csv_name)


def _find_duplicates(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, *, exclude_rejects: bool
) -> None:
    """``dups``: every record of a repeated key but its last (the last row wins).

    A hash aggregate finds the repeated keys; no sort and no copy of the rows. With
    ``exclude_rejects`` the rejected records take no part (the last *valid* row wins).
    """
    key = _staged_key(spec)
    valid = "rowid + 1 NOT IN (SELECT record FROM rejects)" if exclude_rejects else "true"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE dups AS
        SELECT r.rowid + 1 AS record FROM raw r JOIN (
            SELECT {key} AS k, max(rowid) AS keep FROM raw WHERE {valid}
            GROUP BY ALL HAVING count(*) > 1
        ) d ON r.{key} = d.k
        WHERE r.rowid <> d.keep AND {valid.replace("rowid", "r.rowid")}
        """
    )


def _define_incoming(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, download: DownloadResult, result: LoadResult
) -> None:
    """Views over ``raw``: ``incoming`` (valid, last row per key, typed) and its keys."""
    started = time.perf_counter()
    if result.rows_rejected:  # tolerated rejects: the last *valid* row of a key wins
        _find_duplicates(con, spec, exclude_rejects=True)
    con.execute("CREATE TABLE skip AS SELECT record FROM dups UNION SELECT record FROM rejects")
    result.duplicates_dropped = _scalar(con, "SELECT count(*) FROM dups")
    aliases = _key_aliases(spec)
    selects = []
    for col in spec.columns:
        expr = aliases[col.select_sql()] if isinstance(col, Md5Key) else col.select_sql()
        selects.append(f"{expr} AS {quote_ident(col.name)}")
    valid = "rowid + 1 NOT IN (SELECT record FROM skip)"
    con.execute(f"CREATE VIEW incoming AS SELECT {', '.join(selects)} FROM raw WHERE {valid}")
    con.execute(
        f"CREATE VIEW incoming_keys AS SELECT {_staged_key(spec)} AS k FROM raw WHERE {valid}"
    )
    _check_key_unique(con, spec, download)
    result.timings["dedupe_s"] = result.timings.get("dedupe_s", 0.0) + (
        time.perf_counter() - started
    )


def _check_key_unique(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, download: DownloadResult
) -> None:
    """The key column after dedupe, checked by pandera (unique, present), in hash buckets."""
    schema = pa.DataFrameSchema({"k": pa.Column(str, nullable=False, unique=True)})
    rows = _scalar(con, "SELECT count(*) FROM incoming_keys")
    buckets = max(1, math.ceil(rows / 2_000_000))
    for bucket in range(buckets):
        with con.cursor() as scan:
            batch = scan.sql(
                f"SELECT k FROM incoming_keys WHERE hash(k) % {buckets} = {bucket}"
            ).to_arrow_table()
        try:
            schema.validate(_arrow_to_pandas(batch), lazy=True)
        except pa.errors.SchemaErrors as errors:
            raise LoadError(
                f"{download.remote.path}: key {spec.key} not unique after dedupe: "
                f"{errors.failure_cases.head(5).to_dict('records')}"
            ) from None


def _write(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    download: DownloadResult,
    result: LoadResult,
    warehouse_path: str,
    run_id: str,
    failed: bool,
    settings: LoaderSettings,
) -> None:
    """Upsert ``incoming`` and replace the partition's rejects, in one transaction.

    When the partition ``failed`` its checks, only the rejects are written."""
    started = time.perf_counter()
    day = result.partition_date.isoformat()
    source = download.remote.path
    with attached_warehouse(con, warehouse_path, settings.lock_wait_seconds) as wh:
        target = f"{wh}.{quote_ident(spec.schema)}.{quote_ident(spec.table)}"
        rejects = f"{wh}.{quote_ident(spec.schema)}.{quote_ident(spec.rejects_table)}"
        key = quote_ident(spec.key)
        if not failed:
            _decide(con, spec, wh, target, day, result)
        names = ", ".join(quote_ident(c.name) for c in spec.columns)
        con.execute("BEGIN TRANSACTION")
        try:
            for ddl in table_ddl(spec, wh):
                con.execute(ddl)
            con.execute(f"DELETE FROM {rejects} WHERE __file_date = DATE '{day}'")
            if result.reject_failures:
                con.execute(
                    f"INSERT INTO {rejects} SELECT DATE '{day}', ?, line, \"column\", rule, "
                    'value, ?, now()::TIMESTAMP FROM rejects ORDER BY line, "column"',
                    [source, run_id],
                )
            if not failed:
                con.execute(
                    f"DELETE FROM {target} WHERE {key} IN "
                    "(SELECT k FROM decisions WHERE action = 'update')"
                )
                con.execute(
                    f"INSERT INTO {target} SELECT {names}, DATE '{day}', ?, now()::TIMESTAMP "
                    f"FROM incoming WHERE {key} NOT IN "
                    "(SELECT k FROM decisions WHERE action IN ('unchanged', 'older'))",
                    [source],
                )
            con.execute("COMMIT")
        except duckdb.ConversionException as exc:
            con.execute("ROLLBACK")
            raise LoadError(
                f"{source}: a value passed {spec.qualified_name}'s rules but does not convert "
                f"to its column type (the spec's rules are too loose): {exc}"
            ) from None
        except BaseException:
            con.execute("ROLLBACK")
            raise
        result.partition_rows = _scalar(
            con, f"SELECT count(*) FROM {target} WHERE __file_date = DATE '{day}'"
        )
        result.table_rows = _scalar(con, f"SELECT count(*) FROM {target}")
    result.timings["write_s"] = time.perf_counter() - started


def _decide(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    wh: str,
    target: str,
    day: str,
    result: LoadResult,
) -> None:
    """What happens to each incoming key that the table already holds (usually few keys).

    ``decisions`` gets one row per such key: ``update`` (the file is newer, or the same date with
    other content), ``unchanged`` (same date, same content: left alone, so re-runs change
    nothing) or ``older`` (the table holds the key from a newer file: never overwritten). Keys not
    in the table are inserts. We hold the warehouse's write lock, so nothing changes between
    this read and the transaction that follows.
    """
    key = quote_ident(spec.key)
    exists = _scalar(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? "
        "AND schema_name = ? AND table_name = ?",
        [wh, spec.schema, spec.table],
    )
    if not exists:
        con.execute("CREATE TABLE decisions (k VARCHAR, action VARCHAR)")
    else:
        content = [quote_ident(c.name) for c in spec.columns if c.name != spec.key]
        differs = " OR ".join(f"t.{c} IS DISTINCT FROM i.{c}" for c in content) or "false"
        con.execute(
            f"""
            CREATE TABLE decisions AS
            WITH existing AS (
                SELECT * FROM {target} WHERE {key} IN (SELECT k FROM incoming_keys)
            )
            SELECT i.{key} AS k, CASE
                WHEN t.__file_date > DATE '{day}' THEN 'older'
                WHEN t.__file_date < DATE '{day}' OR {differs} THEN 'update'
                ELSE 'unchanged' END AS action
            FROM existing t JOIN (
                SELECT * FROM incoming WHERE {key} IN (SELECT {key} FROM existing)
            ) i ON t.{key} = i.{key}
            """
        )
    counts = dict(con.execute("SELECT action, count(*) FROM decisions GROUP BY ALL").fetchall())
    valid = result.rows_read - result.rows_rejected - result.duplicates_dropped
    result.rows_updated = int(counts.get("update", 0))
    result.rows_unchanged = int(counts.get("unchanged", 0))
    result.rows_skipped_older = int(counts.get("older", 0))
    result.rows_inserted = valid - sum(int(n) for n in counts.values())


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
    "Column",
    "LoadError",
    "LoadResult",
    "LoaderSettings",
    "RejectsExceeded",
    "RemoteFileMissing",
    "load_partition",
    "table_ddl",
]
