"""A delivery's file, in four stages: select the partition's rows from the relation, make them
one row per key (identical rows collapsed and counted; rows of one key that differ refused: never
a row picked at random), write them as the vendor reads them (one DuckDB ``COPY``: streamed, no
per-row Python), and check the written bytes with pandera before anything is uploaded.

Values are written by their type in the relation: timestamps as the vendor's format (ASAPP: ISO
8601 UTC with ``Z``; Accengage: ``YYYY-MM-DD hh:mm:ss`` in GMT+1; a timestamp without a zone is
taken as UTC), booleans ``true``/``false``, dates ``YYYY-MM-DD``, numbers as DuckDB prints them,
text unchanged except that an empty text is a missing value and a formula-like value is escaped
(:mod:`platform_assets.core.formulas`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from platform_assets.core.csvfile import CsvFile
from platform_assets.core.deliveries import (
    APP_COLUMN,
    DAY_COLUMN,
    AppFile,
    ConfiguredDelivery,
    DeviceUpdates,
    Feed,
    FileStyle,
    StaticList,
)
from platform_assets.core.formulas import escaped_sql
from platform_assets.core.specs import quote_ident, quote_literal
from platform_assets.core.validation import Rejects, summarize_rejects, validate


class DeliveryRefused(Exception):
    """The relation cannot be delivered as it is (the message says why); nothing was uploaded."""


@dataclass(frozen=True)
class Plan:
    """The file of one partition (and app): its header and the query that yields its rows."""

    name: str
    header: list[str]
    query: str
    """The file's rows, each distinct (identical rows of the relation are one)."""
    rows: str
    """The same rows before identical ones are collapsed."""
    key: list[str]
    """The file's columns that name a row (the vendor takes one row per key)."""


# -- stage 1: the partition's rows ------------------------------------------------------------


def relation_types(con: duckdb.DuckDBPyConnection, relation: str, setting: str) -> dict[str, str]:
    """The relation's columns and DuckDB types; a missing relation is a clear refusal."""
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except duckdb.CatalogException:
        raise DeliveryRefused(
            f"the relation {relation} ({setting}) does not exist in the warehouse: build its dbt "
            f"model first, or set {setting} to a table that holds the delivery's rows"
        ) from None
    return {name: type_ for name, type_, *_ in rows}


def plan(
    con: duckdb.DuckDBPyConnection,
    delivery: ConfiguredDelivery,
    relation: str,
    day: dt.date,
    app: str | None,
) -> Plan:
    """The header and query of ``delivery``'s file for ``day`` (and ``app``) over ``relation``
    (the configured relation, as the connection names it)."""
    spec = delivery.spec
    types = relation_types(con, relation, spec.setting)
    wanted = [DAY_COLUMN, *([APP_COLUMN] if spec.per_app else []), *spec.required_columns()]
    missing = [c for c in wanted if c not in types]
    if missing:
        raise DeliveryRefused(
            f"{delivery.relation} ({spec.setting}) lacks the column(s) {missing} that "
            f"{spec.name} reads; it has {sorted(types)}"
        )
    where = _where(spec.per_app, app)
    style = spec.style
    name = spec.remote_name(day, app)
    if isinstance(spec, Feed):
        columns = [(c, _formatted(c, types[c], style)) for c in spec.required_columns()]
        rows = f"SELECT * FROM {relation} WHERE {where} AND {DAY_COLUMN} = {_date(day)}"
    elif isinstance(spec, StaticList):
        first = day - dt.timedelta(days=spec.window_days - 1)
        keys = ", ".join(quote_ident(k) for k in spec.keys)
        rows = (
            f"SELECT * FROM {relation} WHERE {where} AND {DAY_COLUMN} BETWEEN {_date(first)} "
            f"AND {_date(day)} QUALIFY rank() OVER (PARTITION BY {keys} "
            f"ORDER BY {DAY_COLUMN} DESC) = 1"  # every row of a key's latest day: see collapse()
        )
        columns = _app_columns(spec, types, delivery.member_headers.get(app or "", "member_id"))
        if spec.expiry_days is not None:
            expires = day + dt.timedelta(days=spec.expiry_days)
            columns.append(("expiry_date", quote_literal(f"{expires.isoformat()} 00:00:00")))
    elif isinstance(spec, DeviceUpdates):
        rows = f"SELECT * FROM {relation} WHERE {where} AND {DAY_COLUMN} = {_date(day)}"
        columns = _app_columns(spec, types, delivery.member_headers.get(app or "", "member_id"))
        columns = _present_columns(con, spec, name, rows, columns)
    else:
        raise TypeError(f"unknown delivery shape {type(spec).__name__}")
    null = quote_literal(style.null_text)
    select = ", ".join(
        f"{f'coalesce({expr}, {null})' if style.quote_all else expr} AS {quote_ident(h)}"
        for h, expr in columns
    )
    header = [h for h, _ in columns]
    raw = f"SELECT {select} FROM ({rows})"
    key = spec.file_key(header, delivery.member_headers.get(app or "", "member_id"))
    return Plan(name, header, f"SELECT DISTINCT * FROM ({raw})", raw, key)


def _where(per_app: bool, app: str | None) -> str:
    return f"{quote_ident(APP_COLUMN)} = {quote_literal(app or '')}" if per_app else "true"


def _date(day: dt.date) -> str:
    return f"DATE '{day.isoformat()}'"


def _app_columns(spec: AppFile, types: dict[str, str], member_header: str) -> list[tuple[str, str]]:
    """The matching key(s) (``member_id`` under the app's own header) and the custom fields."""
    headers = {"member_id": member_header}
    return [
        (headers.get(c, c), _formatted(c, types[c], spec.style))
        for c in (*spec.keys, *spec.custom_fields)
    ]


def _present_columns(
    con: duckdb.DuckDBPyConnection,
    spec: DeviceUpdates,
    name: str,
    rows: str,
    columns: list[tuple[str, str]],
) -> list[tuple[str, str]]:
    """Device updates: an empty value clears the field on Accengage's side, so the file carries
    only the columns every row has a value for. Columns no row has are left out; rows that
    differ in which columns they have are refused (one file a day cannot carry both)."""
    flags = ", ".join(f"({expr}) IS NOT NULL" for _, expr in columns)
    patterns = con.execute(
        f"SELECT [{flags}] AS has, count(*) FROM ({rows}) GROUP BY ALL ORDER BY 2 DESC"
    ).fetchall()
    if not patterns:
        return columns
    if len(patterns) > 1:
        groups = "; ".join(
            f"{n} rows without {[h for (h, _), ok in zip(columns, has, strict=True) if not ok]}"
            for has, n in patterns
            if not all(has)
        )
        raise DeliveryRefused(
            f"{name}: the rows do not all have the same columns ({groups}), and an empty value "
            f"would clear the field on Accengage's side; nothing was sent. Give every row of a "
            f"day the same columns (or split the relation into deliveries of their own)."
        )
    has = patterns[0][0]
    kept = [col for col, ok in zip(columns, has, strict=True) if ok]
    if not set(columns[: len(spec.keys)]) & set(kept):
        raise DeliveryRefused(f"{name}: no row has a matching key ({list(spec.keys)})")
    return kept


def _formatted(column: str, type_: str, style: FileStyle) -> str:
    """The text ``column`` (of DuckDB type ``type_``) is written as (NULL when missing)."""
    q = quote_ident(column)
    kind = type_.upper()
    if kind.startswith("TIMESTAMP"):
        instant = q if "TIME ZONE" in kind else f"timezone('UTC', {q}::TIMESTAMP)"
        if style.timestamp == "iso_utc":
            utc = f"timezone('UTC', {instant})"
            return (
                f"strftime({utc}, '%Y-%m-%dT%H:%M:%S') || CASE WHEN microsecond({utc}) "
                f"% 1000000 <> 0 THEN strftime({utc}, '.%f') ELSE '' END || 'Z'"
            )
        local = f"timezone({quote_literal(style.timezone)}, {instant})"
        return f"strftime({local}, '%Y-%m-%d %H:%M:%S')"
    if kind == "DATE":
        return f"strftime({q}, '%Y-%m-%d')"
    if kind == "BOOLEAN":
        return f"CASE WHEN {q} THEN 'true' WHEN NOT {q} THEN 'false' END"
    if kind == "VARCHAR":
        return escaped_sql(f"nullif({q}, '')")
    return f"CAST({q} AS VARCHAR)"


# -- stage 2: one row per key -----------------------------------------------------------------


def collapse(con: duckdb.DuckDBPyConnection, plan: Plan) -> int:
    """How many of the relation's rows were identical to another (written once); rows that
    share the file's key but differ are refused with a clear error (which row the vendor should
    get is the relation's to say, not a random pick)."""
    key = ", ".join(quote_ident(k) for k in (plan.key or plan.header) if k in plan.header)
    row = con.execute(  # one pass over the relation: its distinct rows and how often each came
        f"WITH g AS MATERIALIZED (SELECT *, count(*) AS __copies FROM ({plan.rows}) GROUP BY ALL) "
        "SELECT coalesce(sum(__copies), 0), count(*), (SELECT count(*) FROM "
        f"(SELECT {key} FROM g GROUP BY ALL HAVING count(*) > 1)) FROM g"
    ).fetchone()
    assert row is not None
    total, distinct, conflicting = (int(v) for v in row)
    if conflicting:
        raise DeliveryRefused(
            f"{plan.name}: {conflicting} key(s) ({', '.join(plan.key)}) have rows that differ "
            f"in the relation, and the vendor takes one row per key; nothing was sent. Make the "
            f"relation (or its model) hold one row per key and day"
        )
    return total - distinct


# -- stage 3: the file ------------------------------------------------------------------------


def write(
    con: duckdb.DuckDBPyConnection, plan: Plan, style: FileStyle, folder: Path
) -> tuple[Path, int]:
    """Write the plan's file into ``folder`` in one streamed DuckDB ``COPY``: the header as the
    first record (so it is quoted like the fields: every one for Accengage), then the rows in
    the order of their text (the same rows make the same bytes); return its path and the number
    of rows."""
    columns = ", ".join(quote_ident(h) for h in plan.header)
    header = ", ".join(f"{quote_literal(h)} AS {quote_ident(h)}" for h in plan.header)
    query = (
        f"SELECT {columns} FROM (SELECT 0 AS __line, {header} UNION ALL "
        f"SELECT 1, * FROM ({plan.query})) ORDER BY __line, {columns}"
    )
    options = [
        "FORMAT csv",
        "HEADER false",
        f"DELIMITER {quote_literal(style.delimiter)}",
        "QUOTE '\"'",
        "ESCAPE '\"'",
        f"NULLSTR {quote_literal(style.null_text)}",
    ]
    if style.quote_all:
        options.append("FORCE_QUOTE *")
    path = folder / plan.name
    copied = con.execute(f"COPY ({query}) TO {quote_literal(str(path))} ({', '.join(options)})")
    return path, int(copied.fetchone()[0]) - 1  # type: ignore[index]


# -- stage 4: the written bytes checked ---------------------------------------------------------


def check(
    con: duckdb.DuckDBPyConnection,
    delivery: ConfiguredDelivery,
    plan: Plan,
    path: Path,
    day: dt.date,
) -> Rejects:
    """The written file through the delivery's pandera rules, as the loader checks an inbound
    file (the same code: rules, physical lines); ``rejects`` holds the failures."""
    rules = delivery.spec.file_rules(plan.header)
    csv_file = CsvFile(path, plan.name, rules, day=day)
    con.execute("DROP TABLE IF EXISTS rejects")
    con.execute("DROP TABLE IF EXISTS positions")
    validate(con, rules, csv_file)
    return summarize_rejects(con, csv_file)
