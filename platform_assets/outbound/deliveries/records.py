"""What the deliveries leave in the warehouse's ``platform`` schema: ``deliveries`` (every file
sent: name, rows, bytes, SHA-256, when, by which run) and ``delivery_rejects`` (the rows a
delivery's rules refused, with the written file's line; replaced at each attempt of a partition).
"""

from __future__ import annotations

import datetime as dt

import duckdb

from platform_assets.core.transport.upload import UploadResult

DDL = (
    "CREATE SCHEMA IF NOT EXISTS {wh}.platform",
    "CREATE TABLE IF NOT EXISTS {wh}.platform.deliveries (delivery VARCHAR, delivery_date DATE, "
    "app_id VARCHAR, file_name VARCHAR, remote_path VARCHAR, rows BIGINT, bytes BIGINT, "
    "sha256 VARCHAR, marker VARCHAR, uploaded_at TIMESTAMP, run_id VARCHAR)",
    "CREATE TABLE IF NOT EXISTS {wh}.platform.delivery_rejects (delivery VARCHAR, "
    'delivery_date DATE, app_id VARCHAR, file_name VARCHAR, line BIGINT, "column" VARCHAR, '
    "rule VARCHAR, value VARCHAR, run_id VARCHAR, rejected_at TIMESTAMP)",
)


def _ddl(con: duckdb.DuckDBPyConnection, wh: str) -> None:
    for statement in DDL:
        con.execute(statement.format(wh=wh))


def record_rejects(
    con: duckdb.DuckDBPyConnection,
    wh: str,
    delivery: str,
    day: dt.date,
    app: str | None,
    file_name: str,
    run_id: str,
    located: bool,
) -> None:
    """Replace the partition's rejects with the staging table ``rejects`` when ``located`` (it
    has failures, with their lines), else with none."""
    _ddl(con, wh)
    params = {"delivery": delivery, "day": day, "app": app or "", "file": file_name, "run": run_id}
    con.execute("BEGIN")
    try:
        con.execute(
            f"DELETE FROM {wh}.platform.delivery_rejects WHERE delivery = $delivery "
            "AND delivery_date = $day AND app_id = $app",
            {k: params[k] for k in ("delivery", "day", "app")},
        )
        if located:
            con.execute(
                f"INSERT INTO {wh}.platform.delivery_rejects SELECT $delivery, $day, $app, $file, "
                'line, "column", rule, value, $run, now()::TIMESTAMP FROM rejects',
                params,
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def record_delivery(
    con: duckdb.DuckDBPyConnection,
    wh: str,
    delivery: str,
    day: dt.date,
    app: str | None,
    rows: int,
    upload: UploadResult,
    run_id: str,
) -> None:
    """One file sent."""
    _ddl(con, wh)
    con.execute(
        f"INSERT INTO {wh}.platform.deliveries VALUES ($delivery, $day, $app, $name, $path, "
        "$rows, $bytes, $sha, $marker, now()::TIMESTAMP, $run)",
        {
            "delivery": delivery,
            "day": day,
            "app": app or "",
            "name": upload.name,
            "path": upload.path,
            "rows": rows,
            "bytes": upload.size,
            "sha": upload.sha256,
            "marker": upload.marker,
            "run": run_id,
        },
    )
