"""Stage 5: the partition's valid rows into the table, in one transaction (the one upsert
algorithm, for every file: all rows valid, or rejects within the tolerance).

The rules, stated once (:func:`_decide`). For each key of the file, its winning row (the only row
of a key seen once, else the winner :mod:`.keys` chose) meets the table:

- the key is new: **insert**;
- the table holds a larger version (tables with a version column), or at equal or no version the
  key from a **newer** file date: **older**, never overwritten;
- the incoming version is larger, or the table's row is from an older file date, or from the same
  file date with other content: **update** (the old row is replaced);
- same file date, same content: **unchanged**, left alone (a re-run leaves the table identical,
  ``__loaded_at`` included).

Then, in one transaction on the warehouse: the partition's rejects are replaced, the rows being
updated deleted, and the winning rows cast and inserted straight from the file (one parallel
parse; the data is stored once). The rows written must equal the keys; when a key repeats with
byte-identical rows (they share the winner's hash) the extra copies are removed and pandera
checks that one row per key is left. On any failure the transaction rolls back and the table is
as it was. Decisions are made before the transaction (DuckDB writes one database per transaction,
and they live in the staging one); we hold the warehouse's write lock, so nothing changes between.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass

import duckdb

from platform_assets.core.csvfile import CsvFile, parse_error
from platform_assets.core.errors import LoadError
from platform_assets.core.lake import CommitConflict, is_conflict
from platform_assets.core.specs import quote_ident
from platform_assets.core.warehouse import (
    rejects_table_name,
    scalar,
    table_ddl,
    table_exists,
    table_name,
    unordered,
)
from platform_assets.ingest.loader import records
from platform_assets.ingest.loader.keys import check_key_unique
from platform_assets.ingest.loader.model import LoadRequest, LoadResult


@dataclass(frozen=True)
class _Target:
    """The table being written and the SQL naming its parts."""

    table: str
    rejects: str
    key: str
    columns: str
    version: str | None


def write_partition(
    con: duckdb.DuckDBPyConnection,
    wh: str,
    request: LoadRequest,
    csv: CsvFile,
    result: LoadResult,
    volume_window: int,
) -> None:
    """Write the partition (rejects, and the valid rows when the result is accepted) and its
    load record; then read the trailing volume of the ``volume_window`` days before it."""
    spec = request.spec
    target = _Target(
        table=table_name(spec, wh),
        rejects=rejects_table_name(spec, wh),
        key=quote_ident(spec.key),
        columns=", ".join(quote_ident(c.name) for c in spec.columns),
        version=quote_ident(spec.version_column) if spec.version_column else None,
    )
    # the valid rows: every row, or (rejects within the tolerance) all but the rejected records
    rows = (
        csv.plain if result.passed else csv.numbered("__record NOT IN (SELECT record FROM rejects)")
    )
    incoming = f"SELECT {csv.typed} FROM {rows}"
    if scalar(con, "SELECT count(*) FROM repeated"):  # else every row is its key's winner
        incoming += (
            f" WHERE {csv.key} NOT IN (SELECT k FROM repeated) "
            f"OR {csv.row_hash} IN (SELECT h FROM winners)"
        )
    started = time.perf_counter()
    try:
        counts = _decide(con, wh, request, target, incoming) if result.accepted else {}
        result.timings["decide_s"] = time.perf_counter() - started
        con.execute("BEGIN TRANSACTION")
        try:
            for ddl in table_ddl(spec, wh):
                con.execute(ddl)
            _replace_rejects(con, request, target, csv.display, not result.passed)
            records.record(con, wh, request, result)
            if result.accepted:
                _upsert(con, request, target, incoming, counts, csv.display, result)
            commit_started = time.perf_counter()
            con.execute("COMMIT")
            result.timings["commit_s"] = time.perf_counter() - commit_started
        except BaseException:
            with suppress(duckdb.TransactionException):  # a failed COMMIT rolled back already
                con.execute("ROLLBACK")
            raise
    except duckdb.ConversionException as exc:
        raise LoadError(
            f"{csv.display}: a value passed {spec.qualified_name}'s rules but does not convert "
            f"to its column type (the spec's rules are too loose): {exc}"
        ) from None
    except duckdb.Error as exc:
        if is_conflict(exc):
            raise CommitConflict(
                f"{csv.display}: another writer of {spec.qualified_name} committed first ({exc})"
            ) from None
        raise parse_error(exc, csv) from None
    # one scan for both counts (on a lake each statement is a round trip to its catalog)
    partition_rows, table_rows = con.execute(
        f"SELECT count(*) FILTER (WHERE {request.partition_filter}), count(*) FROM {target.table}"
    ).fetchall()[0]
    result.partition_rows, result.table_rows = int(partition_rows), int(table_rows)
    result.trailing_rows = records.trailing_rows(con, wh, request, volume_window)
    result.timings["write_s"] = time.perf_counter() - started


def _version_cases(old: str, new: str) -> str:
    """CASE arms deciding on the versions ``old`` (in the table) and ``new`` (incoming): the
    larger wins, a missing one loses; equal ones fall through to the file dates."""
    return (
        f"WHEN {old} > {new} OR ({old} IS NOT NULL AND {new} IS NULL) THEN 'older' "
        f"WHEN {old} < {new} OR ({old} IS NULL AND {new} IS NOT NULL) THEN 'update' "
    )


def _decide(
    con: duckdb.DuckDBPyConnection, wh: str, request: LoadRequest, target: _Target, incoming: str
) -> dict[str, int]:
    """``decisions`` (key, action) for the incoming keys the table already holds; the counts."""
    spec, key = request.spec, target.key
    con.execute("CREATE OR REPLACE TABLE decisions (k VARCHAR, action VARCHAR)")
    exists = table_exists(con, wh, spec.schema, spec.table)
    overlap = exists and scalar(
        con, f"SELECT count(*) FROM {target.table} WHERE {key} IN (SELECT k FROM key_counts)"
    )
    if overlap:
        content = [quote_ident(c.name) for c in spec.columns if c.name != spec.key]
        differs = " OR ".join(f"t.{c} IS DISTINCT FROM i.{c}" for c in content) or "false"
        by_version = (
            _version_cases(f"t.{target.version}", f"i.{target.version}") if target.version else ""
        )
        con.execute(
            f"""
            INSERT INTO decisions
            WITH existing AS (
                SELECT * FROM {target.table} WHERE {key} IN (SELECT k FROM key_counts)
            ), incoming AS (
                SELECT * FROM ({incoming}) WHERE {key} IN (SELECT {key} FROM existing)
            )
            SELECT i.{key}, CASE {by_version}
                WHEN t.__file_date > $day THEN 'older'
                WHEN t.__file_date < $day OR {differs} THEN 'update'
                ELSE 'unchanged' END
            FROM existing t JOIN incoming i ON t.{key} = i.{key}
            """,
            {"day": request.day},
        )
    return {
        action: int(n)
        for action, n in con.execute(
            "SELECT action, count(*) FROM decisions GROUP BY ALL"
        ).fetchall()
    }


def _replace_rejects(
    con: duckdb.DuckDBPyConnection,
    request: LoadRequest,
    target: _Target,
    path: str,
    rejected: bool,
) -> None:
    """The partition's rejects in the warehouse become this file's (none when it passed)."""
    con.execute(f"DELETE FROM {target.rejects} WHERE {request.partition_filter}")
    if not rejected:
        return
    params: dict[str, object] = {"day": request.day, "path": path, "run_id": request.run_id}
    app = ""
    if request.spec.app_column:  # the rejects table's second column (warehouse.reject_columns)
        app, params["app"] = ", $app", request.app_id or ""
    con.execute(
        f'INSERT INTO {target.rejects} SELECT $day{app}, $path, line, "column", rule, value, '
        '$run_id, now()::TIMESTAMP FROM rejects ORDER BY line, "column"',
        params,
    )


def _upsert(
    con: duckdb.DuckDBPyConnection,
    request: LoadRequest,
    target: _Target,
    incoming: str,
    counts: dict[str, int],
    path: str,
    result: LoadResult,
) -> None:
    """Delete the rows being updated; insert the winners that are new or updates."""
    started = time.perf_counter()
    key, table = target.key, target.table
    if counts.get("update", 0):  # (a no-op DELETE still costs a lake ~6 ms)
        con.execute(
            f"DELETE FROM {table} WHERE {key} IN (SELECT k FROM decisions WHERE action = 'update')"
        )
    kept = counts.get("unchanged", 0) + counts.get("older", 0)
    keep = (
        f" WHERE {key} NOT IN (SELECT k FROM decisions WHERE action IN ('unchanged', 'older'))"
        if kept
        else ""
    )
    with unordered(con):  # a table's rows have no order: the insert streams
        inserted = scalar(
            con,
            f"INSERT INTO {table} SELECT {target.columns}, $day, $path, now()::TIMESTAMP "
            f"FROM ({incoming}){keep}",
            {"day": request.day, "path": path},
        )
    result.timings["insert_s"] = time.perf_counter() - started
    keys, rows = con.execute("SELECT count(*), coalesce(sum(n), 0) FROM key_counts").fetchall()[0]
    expected = int(keys) - kept  # every key written yields at least its winner's row
    if inserted != expected:
        # identical rows of one key share the winner's hash: keep one of them (rare; it costs
        # a slower commit). Then pandera checks that one row per key is left.
        new = f"{table} WHERE __loaded_at = now()"
        con.execute(
            f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {new} AND {key} IN "
            "(SELECT k FROM repeated) "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY rowid DESC) > 1)"
        )
        check_key_unique(con, request.spec, f"SELECT {key} AS k FROM {new}")
        if scalar(con, f"SELECT count(*) FROM {new}") != expected:
            raise LoadError(f"{request.spec.qualified_name}: rows written do not match the keys")
    result.duplicates_dropped = int(rows) - int(keys)
    result.rows_updated = counts.get("update", 0)
    result.rows_unchanged = counts.get("unchanged", 0)
    result.rows_skipped_older = counts.get("older", 0)
    result.rows_inserted = int(keys) - sum(counts.values())
