"""What the loads leave in the warehouse's ``platform`` schema, written in each load's
transaction: ``raw_files`` (each archived file version) and ``loads`` (each partition load: rows
read and rejected, the file's identity), from which a day's volume is compared with the days
before it."""

import datetime as dt
from pathlib import Path

import duckdb

from platform_assets.core.warehouse import (
    Warehouse,
    as_warehouse,
    attached_warehouse,
    table_exists,
)
from platform_assets.ingest.loader.model import LoadRequest, LoadResult

PLATFORM_DDL = (
    "CREATE SCHEMA IF NOT EXISTS {wh}.platform",
    "CREATE TABLE IF NOT EXISTS {wh}.platform.raw_files (source VARCHAR, table_name VARCHAR, "
    "file_date DATE, app_id VARCHAR, file_name VARCHAR, remote_path VARCHAR, "
    "archive_path VARCHAR, size BIGINT, mtime BIGINT, sha256 VARCHAR, archived_at TIMESTAMP)",
    # loaded: whether the rows were written (a load refused for its rejects wrote only those)
    "CREATE TABLE IF NOT EXISTS {wh}.platform.loads (source VARCHAR, table_name VARCHAR, "
    "file_date DATE, app_id VARCHAR, rows_read BIGINT, rows_rejected BIGINT, "
    "source_path VARCHAR, sha256 VARCHAR, from_archive BOOLEAN, run_id VARCHAR, "
    "loaded_at TIMESTAMP, loaded BOOLEAN)",
)
LOADED_COLUMN = "ALTER TABLE {wh}.platform.loads ADD COLUMN loaded BOOLEAN DEFAULT true"
"""A warehouse from before the ``loaded`` column gets it (its rows were all loaded). Only when it
is missing: DuckLake refuses this statement even as ``IF NOT EXISTS`` (a column default)."""


def record(
    con: duckdb.DuckDBPyConnection, wh: str, request: LoadRequest, result: LoadResult
) -> None:
    """This load (and the archived file, once per version), in the open transaction."""
    for ddl in PLATFORM_DDL:
        con.execute(ddl.format(wh=wh))
    if not con.execute(
        "SELECT 1 FROM duckdb_columns() WHERE database_name = $wh AND schema_name = 'platform' "
        "AND table_name = 'loads' AND column_name = 'loaded'",
        {"wh": wh},
    ).fetchall():
        con.execute(LOADED_COLUMN.format(wh=wh))
    remote = result.download.remote
    partition = {
        "source": request.spec.source,
        "table": request.spec.qualified_name,
        "day": request.day,
        "app": request.app_id,
    }
    con.execute(
        f"INSERT INTO {wh}.platform.loads SELECT $source, $table, $day, $app, $rows, $rejected, "
        "$path, $sha, $from_archive, $run_id, now()::TIMESTAMP, $loaded",
        {
            **partition,
            "rows": result.rows_read,
            "rejected": result.rows_rejected,
            "path": remote.path,
            "sha": result.download.sha256,
            "from_archive": result.from_archive,
            "run_id": request.run_id,
            "loaded": result.accepted,
        },
    )
    if result.archive_path is None or result.from_archive:
        return
    con.execute(
        f"INSERT INTO {wh}.platform.raw_files SELECT $source, $table, $day, $app, $name, "
        "$remote, $archive, $size, $mtime, $sha, now()::TIMESTAMP WHERE NOT EXISTS (SELECT 1 "
        f"FROM {wh}.platform.raw_files WHERE archive_path = $archive AND sha256 = $sha)",
        {
            **partition,
            "name": remote.name,
            "remote": remote.path,
            "archive": result.archive_path,
            "size": remote.size,
            "mtime": remote.mtime,
            "sha": result.download.sha256,
        },
    )


def trailing_rows(
    con: duckdb.DuckDBPyConnection, wh: str, request: LoadRequest, window: int
) -> float | None:
    """The average rows read of the partition's ``window`` previous loaded days (the latest
    load of each), or None without any."""
    rows = con.execute(
        f"""
        SELECT avg(rows_read) FROM (
            SELECT file_date, arg_max(rows_read, loaded_at) AS rows_read
            FROM {wh}.platform.loads
            WHERE table_name = $table AND coalesce(app_id, '') = $app AND file_date < $day
                AND loaded
            GROUP BY file_date ORDER BY file_date DESC LIMIT $window
        )
        """,
        {
            "table": request.spec.qualified_name,
            "app": request.app_id or "",
            "day": request.day,
            "window": window,
        },
    ).fetchall()
    return float(rows[0][0]) if rows and rows[0][0] is not None else None


def committed_partitions(
    warehouse: str | Warehouse, table: str, run_ids: list[str], wait_seconds: float
) -> set[tuple[dt.date, str | None]]:
    """The (day, app) partitions of ``table`` whose rows runs ``run_ids`` committed (a retried
    range run resumes after them)."""
    target = as_warehouse(warehouse)
    if not run_ids or (target.lake is None and not Path(target.path).exists()):
        return set()
    con = duckdb.connect(":memory:")
    try:
        with attached_warehouse(con, target, wait_seconds) as wh:
            if not table_exists(con, wh, "platform", "loads"):
                return set()
            rows = con.execute(
                f"SELECT DISTINCT file_date, app_id FROM {wh}.platform.loads "
                "WHERE table_name = $table AND list_contains($runs, run_id) AND loaded",
                {"table": table, "runs": run_ids},
            ).fetchall()
    finally:
        con.close()
    return {(day, app) for day, app in rows}
