"""Stage 3: every row through the table's pandera schema, streamed in file order, and the
failures turned into located rejects.

DuckDB parses the file (in parallel) and streams Arrow batches of the rule-bearing columns, each
row's key, a hash of its raw text and its version; a feeder thread fetches the next batch while
pandera checks the current one (DuckDB releases the GIL while it parses). Record numbers are
counted here (a streamed result keeps file order). Failures go to the staging table ``rejects``
(record, column, rule, value); every row's (key, row hash, record, version) goes to ``positions``,
from which :mod:`.keys` knows the repeated keys and their winners before anything is written.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from platform_assets.core.csvfile import CsvFile, parse_error
from platform_assets.core.masking import shown
from platform_assets.core.specs import TableSpec, quote_ident
from platform_assets.core.warehouse import scalar

_PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3


def arrow_to_pandas(batch: pyarrow.RecordBatch | pyarrow.Table) -> pd.DataFrame:
    """Arrow strings as arrow-backed pandas strings (pandas 3's default ``str``; on pandas 2,
    ``string[pyarrow]``): pandera's string checks then run in Arrow's vectorized kernels."""
    if _PANDAS_3:
        return batch.to_pandas()
    return batch.to_pandas(types_mapper={pyarrow.string(): pd.StringDtype("pyarrow")}.get)


def _failures_frame(
    errors: pa.errors.SchemaErrors, row_rules: Mapping[str, tuple[str, ...]]
) -> pd.DataFrame:
    """pandera's failure cases as (record, column, rule, value) rows (vectorized);
    ``row_rules``: each row rule's name -> the fields it reads."""
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


def _stream(reader: pyarrow.RecordBatchReader, batches: queue.Queue, stop: threading.Event) -> None:
    """The feeder thread: put each batch (then None, or the exception) on the bounded queue."""
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


def validate(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, csv: CsvFile, batch_rows: int
) -> tuple[int, int]:
    """Check every row; fill ``positions`` and ``rejects``; return the number of records and of
    formula-like fields (``CsvFile.formula_fields``)."""
    con.execute(
        'CREATE TABLE rejects (record BIGINT, "column" VARCHAR, rule VARCHAR, value VARCHAR)'
    )
    con.execute(  # typed by DuckDB from the expressions (no rows are parsed)
        f"CREATE TABLE positions AS SELECT {csv.key} AS k, {csv.row_hash} AS h, "
        f"0::BIGINT AS record, {csv.version} AS v FROM {csv.plain} LIMIT 0"
    )
    ruled = list(spec.ruled_columns)
    schema = spec.validation_schema
    select = [quote_ident(c) for c in ruled]
    select += [f"{csv.key} AS __k", f"{csv.row_hash} AS __h", f"{csv.version} AS __v"]
    select += [f"{csv.formula_fields} AS __f"]
    formulas = 0
    batches: queue.Queue[pyarrow.RecordBatch | BaseException | None] = queue.Queue(2)
    stop = threading.Event()
    seen = 0
    with con.cursor() as scan, con.cursor() as sink:
        try:
            reader = scan.sql(f"SELECT {', '.join(select)} FROM {csv.plain}").to_arrow_reader(
                batch_rows
            )
        except duckdb.Error as exc:
            raise parse_error(exc, csv) from None
        feeder = threading.Thread(
            target=_stream, args=(reader, batches, stop), name="csv-feed", daemon=True
        )
        feeder.start()
        try:
            while (batch := batches.get()) is not None:
                if isinstance(batch, duckdb.Error):
                    raise parse_error(batch, csv) from None
                if isinstance(batch, BaseException):
                    raise batch
                first, seen = seen + 1, seen + batch.num_rows
                formulas += pc.sum(batch.column("__f")).as_py() or 0
                records = pyarrow.array(np.arange(first, seen + 1, dtype=np.int64))
                positions = pyarrow.table(
                    {
                        "k": batch.column("__k"),
                        "h": batch.column("__h"),
                        "record": records,
                        "v": batch.column("__v"),
                    }
                )
                sink.from_arrow(positions).insert_into("positions")
                frame = arrow_to_pandas(batch.select(ruled))
                frame.index = pd.RangeIndex(first, seen + 1)
                try:
                    schema.validate(frame, lazy=True)
                except pa.errors.SchemaErrors as errors:
                    sink.from_df(_failures_frame(errors, spec.row_rule_columns)).insert_into(
                        "rejects"
                    )
        finally:
            stop.set()
            feeder.join()
            reader.close()
    return seen, formulas


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
