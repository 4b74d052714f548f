"""Declarative table specs: everything that differs between vendor tables, and nothing else.

A :class:`TableSpec` names the warehouse table (``schema.table``, which is also the asset key),
the remote file pattern, the CSV dialect, the mapping from CSV headers to database columns with
their DuckDB types, derived columns (the documented MD5 keys), the pandera schema that every row
must pass, the key and the update method. :mod:`platform_assets.lib.factory` turns specs into
assets; :mod:`platform_assets.lib.loading` loads a partition for any spec.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum

import dagster as dg
import pandera.pandas as pa

from platform_assets.lib.checks import ROW_RULE_COLUMNS

DATE_TOKEN = "{YYYYMMDD}"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted (spec names are checked, this is belt and braces)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class UpdateMethod(StrEnum):
    """How a partition's rows reach the table (the vendor documents' "Update method")."""

    UPSERT = "UPSERT"


@dataclass(frozen=True)
class CsvDialect:
    """How the vendor writes its CSV files (passed to DuckDB's ``read_csv``)."""

    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    null_values: tuple[str, ...] = ("",)
    encoding: str = "utf-8"

    @property
    def python_encoding(self) -> str:
        """The encoding for Python's csv module (a UTF-8 BOM is skipped, as DuckDB does)."""
        return (
            "utf-8-sig"
            if self.encoding.lower().replace("_", "-") in ("utf-8", "utf8")
            else (self.encoding)
        )

    def read_csv_options(self, header: list[str]) -> str:
        """DuckDB ``read_csv`` options: no sniffing, every column of ``header`` as text."""
        nulls = ", ".join(quote_literal(v) for v in self.null_values)
        columns = ", ".join(f"{quote_literal(h)}: 'VARCHAR'" for h in header)
        return (
            f"header = true, auto_detect = false, columns = {{{columns}}}, strict_mode = true, "
            f"delim = {quote_literal(self.delimiter)}, quote = {quote_literal(self.quote)}, "
            f"escape = {quote_literal(self.escape)}, nullstr = [{nulls}], "
            f"encoding = {quote_literal(self.encoding)}"
        )


@dataclass(frozen=True)
class Column:
    """A database column loaded from one CSV column.

    ``source`` is the CSV header (matched by name, case-insensitively, never by position);
    ``type`` the DuckDB type the validated text is cast to.
    """

    name: str
    type: str = "VARCHAR"
    source: str | None = None
    description: str = ""

    @property
    def csv_name(self) -> str:
        return self.source or self.name

    def select_sql(self) -> str:
        src = quote_ident(self.csv_name)
        kind = self.type.upper()
        if kind == "VARCHAR":
            return src
        if kind == "TIMESTAMP":
            # ISO 8601 with or without an offset; stored as UTC (the connection runs in UTC)
            return f"CAST(CAST({src} AS TIMESTAMPTZ) AS TIMESTAMP)"
        return f"CAST({src} AS {self.type})"


@dataclass(frozen=True)
class KeyPart:
    """One input of an MD5 key: a CSV column, optionally its first ``length`` characters."""

    source: str
    length: int | None = None

    def sql(self) -> str:
        value = f"coalesce({quote_ident(self.source)}, '')"
        return f"substr({value}, 1, {self.length})" if self.length else value


@dataclass(frozen=True)
class Md5Key:
    """A derived column: ``md5(part1 + sep + part2 ...)`` in hex, a missing part counting as ''.

    Computed by DuckDB over the raw CSV text (vectorized), as the vendor documents define it.
    """

    name: str
    parts: tuple[KeyPart, ...]
    separator: str = ":"
    description: str = ""
    type: str = field(default="VARCHAR", init=False)

    def select_sql(self) -> str:
        sep = f" || {quote_literal(self.separator)} || "
        return f"md5({sep.join(p.sql() for p in self.parts)})"

    @property
    def formula(self) -> str:
        parts = [
            f"SUBSTRING({p.source},1,{p.length})" if p.length else p.source for p in self.parts
        ]
        return "MD5(" + f" + '{self.separator}' + ".join(parts) + ")"


TableColumn = Column | Md5Key


@dataclass(frozen=True)
class TableSpec:
    """One vendor table, loaded daily from one remote file per day."""

    source: str
    """The vendor source (Dagster group, owner team, settings prefix ``<SOURCE>_SFTP_*``)."""
    schema: str
    table: str
    description: str
    file_pattern: str
    """Remote file name with ``{YYYYMMDD}`` where the file's date stands."""
    columns: tuple[TableColumn, ...]
    """Database columns in table order (loaded and derived)."""
    key: str
    row_schema: pa.DataFrameSchema
    """Rules every CSV row must pass, over the CSV column names, on the raw text."""
    update_method: UpdateMethod = UpdateMethod.UPSERT
    dialect: CsvDialect = CsvDialect()
    reject_tolerance: float = 0.0
    """Share of a file's rows that may be rejected before the partition fails (0 = none)."""
    document: str = ""

    def __post_init__(self) -> None:
        for name in (self.schema, self.table, *(c.name for c in self.columns)):
            if not _IDENTIFIER.match(name):
                raise ValueError(f"{self.table}: {name!r} is not a plain SQL identifier")
        if self.file_pattern.count(DATE_TOKEN) != 1:
            raise ValueError(f"{self.table}: file_pattern needs exactly one {DATE_TOKEN}")
        if self.key not in {c.name for c in self.columns}:
            raise ValueError(f"{self.table}: key {self.key!r} is not a column")
        if not 0.0 <= self.reject_tolerance < 1.0:
            raise ValueError(f"{self.table}: reject_tolerance must be in [0, 1)")
        missing = set(self.csv_columns) - set(self.row_schema.columns)
        if missing:
            raise ValueError(f"{self.table}: row_schema has no rule for {sorted(missing)}")

    # -- names ------------------------------------------------------------------------------

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.schema, self.table])

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def rejects_table(self) -> str:
        return f"{self.table}__rejects"

    @property
    def file_regex(self) -> re.Pattern[str]:
        head, tail = self.file_pattern.split(DATE_TOKEN)
        return re.compile(rf"^{re.escape(head)}(?P<date>\d{{8}}){re.escape(tail)}$")

    def file_name(self, day: dt.date) -> str:
        return self.file_pattern.replace(DATE_TOKEN, day.strftime("%Y%m%d"))

    def file_date(self, name: str) -> dt.date | None:
        """The date in a remote file name, or None when the name is not this table's file."""
        match = self.file_regex.match(name)
        if not match:
            return None
        try:
            return dt.datetime.strptime(match["date"], "%Y%m%d").date()
        except ValueError:
            return None

    # -- columns ----------------------------------------------------------------------------

    @property
    def ruled_columns(self) -> tuple[str, ...]:
        """CSV columns that carry a rule (required, a check, unique, or read by a row rule).

        Every value arrives as text, so a column with no rule cannot fail: validation reads
        only these columns (every row of them)."""
        wanted: set[str] = set()
        for check in self.row_schema.checks:
            wanted.update(ROW_RULE_COLUMNS.get(check.name, self.row_schema.columns))
        for name, column in self.row_schema.columns.items():
            if not column.nullable or column.checks or column.unique:
                wanted.add(name)
        return tuple(c for c in self.csv_columns if c in wanted)

    @property
    def validation_schema(self) -> pa.DataFrameSchema:
        """``row_schema`` restricted to :attr:`ruled_columns` (same rules, same names)."""
        return self.row_schema.select_columns(list(self.ruled_columns))

    @property
    def loaded_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if isinstance(c, Column))

    @property
    def csv_columns(self) -> tuple[str, ...]:
        """Every CSV column the table needs (loaded or used by a key), in first-use order."""
        names: dict[str, None] = {}
        for col in self.columns:
            if isinstance(col, Column):
                names[col.csv_name] = None
            else:
                for part in col.parts:
                    names[part.source] = None
        return tuple(names)
