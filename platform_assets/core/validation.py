"""Stage 3: every row through the table's pandera rules, executed by DuckDB where the data is,
and the failures turned into located rejects.

The rules are the spec's pandera schema (each field's checks, ``not_nullable`` for a required
field) and its row rules; :func:`rules` turns each into an SQL predicate with the statement the
check itself carries (:func:`platform_assets.core.checks.check_sql`), so pandera stays the one
statement of every rule, and the names it reports (the rejects' ``rule``) are the checks' names.

One parallel parse of the file fills the staging table ``positions``: each row's key, a hash of
its raw text, its version, its formula-like fields and, for a failing row only, its failures
(column, rule, value). A streamed scan into a table keeps file order, so a row's record number
is its ``rowid`` + 1 (:data:`RECORD`). The failures become ``rejects`` (record, column, rule,
value); :mod:`.keys` reads the repeated keys and their winners from ``positions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pandera.pandas as pa
import pyarrow

from platform_assets.core.checks import check_sql
from platform_assets.core.csvfile import CsvFile, parse_error
from platform_assets.core.masking import shown
from platform_assets.core.specs import TableSpec, quote_ident, quote_literal
from platform_assets.core.warehouse import ordered, scalar

_PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3

RECORD = "(rowid + 1)"
"""A row's record number in ``positions`` (1-based, file order: the table is filled in order)."""
NOT_NULLABLE = "not_nullable"
"""pandera's name for a required field's rule (present, not NULL)."""


def arrow_to_pandas(batch: pyarrow.RecordBatch | pyarrow.Table) -> pd.DataFrame:
    """Arrow strings as arrow-backed pandas strings (pandas 3's default ``str``; on pandas 2,
    ``string[pyarrow]``): pandera's string checks then run in Arrow's vectorized kernels."""
    if _PANDAS_3:
        return batch.to_pandas()
    return batch.to_pandas(types_mapper={pyarrow.string(): pd.StringDtype("pyarrow")}.get)


@dataclass(frozen=True)
class Rule:
    """One rule of a table in SQL: the fields a failure is reported under, its name, and the
    predicate a passing row meets."""

    columns: tuple[str, ...]
    name: str
    passes: str


def rules(spec: TableSpec) -> list[Rule]:
    """Every rule of ``spec``'s :attr:`~TableSpec.validation_schema` and row rules, in SQL over
    the CSV columns (by their documented names)."""
    schema = spec.validation_schema
    found: list[Rule] = []
    for name, column in schema.columns.items():
        value = quote_ident(name)
        if column.unique:
            raise TypeError(f"{schema.name}: column {name!r} is unique: no per-row rule says so")
        if not column.nullable:
            found.append(Rule((name,), NOT_NULLABLE, f"{value} IS NOT NULL"))
        found += [Rule((name,), c.name, check_sql(c, value)) for c in column.checks]
    for row_rule in spec.row_rules:
        values = [quote_ident(c) for c in row_rule.columns]
        found.append(Rule(row_rule.columns, row_rule.name, row_rule.sql(values)))
    return found


def _failures_sql(found: list[Rule]) -> str:
    """The failing row's failures as a list of (column, rule, value), NULL for a passing row."""
    if not found:
        return 'NULL::STRUCT("column" VARCHAR, rule VARCHAR, value VARCHAR)[]'
    items = [
        f"CASE WHEN NOT __ok{i} THEN {{'column': {quote_literal(c)}, "
        f"'rule': {quote_literal(r.name)}, 'value': {quote_ident(c)}::VARCHAR}} END"
        for i, r in enumerate(found)
        for c in r.columns
    ]
    every = " AND ".join(f"__ok{i}" for i in range(len(found)))
    listed = f"list_filter([{', '.join(items)}], lambda x: x IS NOT NULL)"
    return f"CASE WHEN NOT ({every}) THEN {listed} END"


def validate(con: duckdb.DuckDBPyConnection, spec: TableSpec, csv: CsvFile) -> tuple[int, int]:
    """Check every row; fill ``positions`` and ``rejects``; return the number of records and of
    formula-like fields (``CsvFile.formula_fields``)."""
    found = rules(spec)
    ordered(con)  # positions in file order: a row's record is its rowid + 1
    oks = "".join(f", coalesce({r.passes}, false) AS __ok{i}" for i, r in enumerate(found))
    try:
        con.execute(
            f"""
            CREATE TABLE positions AS
            SELECT {csv.key} AS k, {csv.row_hash} AS h, {csv.version} AS v,
                {csv.formula_fields} AS f, {_failures_sql(found)} AS failed
            FROM (SELECT *{oks} FROM {csv.plain})
            """
        )
    except duckdb.Error as exc:
        raise parse_error(exc, csv) from None
    con.execute(
        'CREATE TABLE rejects (record BIGINT, "column" VARCHAR, rule VARCHAR, value VARCHAR)'
    )
    con.execute(
        "INSERT INTO rejects SELECT record, u.column, u.rule, u.value FROM ("
        f"SELECT {RECORD} AS record, unnest(failed) AS u FROM positions WHERE failed IS NOT NULL)"
    )
    records, formulas = con.execute("SELECT count(*), sum(f) FROM positions").fetchall()[0]
    return int(records), int(formulas or 0)


def pandera_failures(
    errors: pa.errors.SchemaErrors, row_rules: Mapping[str, tuple[str, ...]]
) -> pd.DataFrame:
    """pandera's own failure cases as (record, column, rule, value) rows, as the loader reports
    them; ``row_rules``: each row rule's name -> the fields it reads. The reference the SQL
    execution of the rules is tested against."""
    fc = errors.failure_cases
    fc = fc[fc["index"].notna()]
    # a row-level rule is reported under every column of the frame: keep the ones it reads
    row_level = fc["schema_context"] == "DataFrameSchema"
    known = fc["check"].isin(list(row_rules))
    allowed = [(rule, col) for rule, cols in row_rules.items() for col in cols]
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


_failures_frame = pandera_failures  # the name the rule tests have always used


@dataclass
class Rejects:
    """The rejects of a file, located (physical lines) and summarized."""

    rows: int = 0
    failures: int = 0
    summary: list[dict] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)


def summarize_rejects(con: duckdb.DuckDBPyConnection, csv: CsvFile) -> Rejects:
    """Count the rejected rows; give each failure its physical line; summarize by rule."""
    rejects = Rejects(
        rows=scalar(con, "SELECT count(DISTINCT record) FROM rejects"),
        failures=scalar(con, "SELECT count(*) FROM rejects"),
    )
    if not rejects.failures:
        return rejects
    _locate(con, csv)
    rejects.summary = [
        {"column": c, "rule": r, "rows": n}
        for c, r, n in con.execute(
            'SELECT "column", rule, count(DISTINCT record) n FROM rejects '
            "GROUP BY ALL ORDER BY n DESC, 1, 2"
        ).fetchall()
    ]
    rejects.samples = [
        {"line": line, "column": c, "rule": r, "value": v}
        for line, c, r, v in con.execute(
            'SELECT line, "column", rule, value FROM rejects '
            'QUALIFY row_number() OVER (PARTITION BY "column", rule ORDER BY line) <= 3 '
            'ORDER BY line, "column" LIMIT 20'
        ).fetchall()
    ]
    return rejects


def _locate(con: duckdb.DuckDBPyConnection, csv: CsvFile) -> None:
    """Physical line numbers of rejected records (header = line 1; quoted newlines counted)."""
    newlines = " + ".join(
        f"(length(coalesce({quote_ident(c)}, '')) - "
        f"length(replace(coalesce({quote_ident(c)}, ''), chr(10), '')))"
        for c in csv.raw_columns
    )
    con.execute(
        f"""
        CREATE TABLE reject_lines AS
        WITH spans AS (
            SELECT __record AS record, 1 + {newlines} AS n FROM {csv.numbered()}
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


def rejects_message(
    spec: TableSpec, path: str, rows_read: int, rejects: Rejects, tolerance: float
) -> str:
    """The error of a partition whose rejects exceed the tolerance (file, rules, sample lines)."""
    rules = "; ".join(
        f"column {f['column']!r} rule {f['rule']} ({f['rows']} rows)" for f in rejects.summary[:10]
    )
    samples = "; ".join(
        f"line {s['line']} column {s['column']!r} rule {s['rule']} value "
        f"{shown(s['column'], s['value'])!r}"
        for s in rejects.samples[:10]
    )
    return (
        f"{path}: {rejects.rows} of {rows_read} rows failed {spec.qualified_name}'s checks "
        f"(tolerance {tolerance:.2%}); nothing was written to {spec.qualified_name}. "
        f"Failures: {rules}. Samples: {samples}. All failures are in "
        f"{spec.schema}.{spec.rejects_table}."
    )
