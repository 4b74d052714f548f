"""Stage 4: the keys of the file, from the validation's ``positions`` (a hash aggregate).

``key_counts`` (each key and how often it occurs), ``repeated`` (keys seen more than once) and
``winners`` (the raw-row hash of each repeated key's winning row). The winner is the rule of
:func:`newer_first`: the highest version (tables with a version column), then the last row of the
file. Rejected records take no part when the tolerated rows load.
"""

from __future__ import annotations

import math

import duckdb
import pandera.pandas as pa

from platform_assets.core.errors import LoadError
from platform_assets.core.specs import TableSpec
from platform_assets.core.validation import RECORD, arrow_to_pandas
from platform_assets.core.warehouse import scalar

UNIQUE_CHECK_BUCKET = 2_000_000


def newer_first(version: str | None, position: str) -> str:
    """ORDER BY for the rows of one key in one file: the winner first."""
    return f"{version} DESC NULLS LAST, {position} DESC" if version else f"{position} DESC"


def stage_keys(con: duckdb.DuckDBPyConnection, spec: TableSpec, *, without_rejects: bool) -> None:
    """``key_counts``, ``repeated`` and ``winners`` from ``positions`` (then dropped)."""
    where = "WHERE record NOT IN (SELECT record FROM rejects)" if without_rejects else ""
    rows = f"(SELECT k, h, v, record FROM (SELECT *, {RECORD} AS record FROM positions) {where})"
    con.execute(f"CREATE TABLE key_counts AS SELECT k, count(*) AS n FROM {rows} GROUP BY k")
    con.execute("CREATE TABLE repeated AS SELECT k FROM key_counts WHERE n > 1")
    order = newer_first("v" if spec.version_column else None, "record")
    con.execute(
        f"CREATE TABLE winners AS SELECT k, h FROM {rows} "
        "WHERE k IN (SELECT k FROM repeated) "
        f"QUALIFY row_number() OVER (PARTITION BY k ORDER BY {order}) = 1"
    )
    con.execute("DROP TABLE positions")


def check_key_unique(con: duckdb.DuckDBPyConnection, spec: TableSpec, keys_sql: str) -> None:
    """pandera: the keys ``keys_sql`` selects (as ``k``) are present and unique.

    Checked in hash buckets of at most 2 million keys, so memory stays bounded."""
    schema = pa.DataFrameSchema({"k": pa.Column(str, nullable=False, unique=True)})
    rows = scalar(con, f"SELECT count(*) FROM ({keys_sql})")
    buckets = max(1, math.ceil(rows / UNIQUE_CHECK_BUCKET))
    for bucket in range(buckets):
        batch = con.sql(
            f"SELECT k FROM ({keys_sql}) WHERE hash(k) % {buckets} = {bucket}"
        ).to_arrow_table()
        try:
            schema.validate(arrow_to_pandas(batch), lazy=True)
        except pa.errors.SchemaErrors as errors:
            raise LoadError(
                f"{spec.qualified_name}: key {spec.key} not unique after dropping repeats: "
                f"{errors.failure_cases.head(5).to_dict('records')}"
            ) from None
