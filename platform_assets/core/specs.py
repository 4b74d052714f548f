"""Declarative table specs: everything that differs between vendor tables, and nothing else.

A :class:`TableSpec` names the warehouse table (``schema.table``, which is also the asset key),
the remote file pattern, the CSV dialect, its fields (each :class:`Column` is declared once
with its :class:`Kind`, whether it is required and any further rule: that gives both the
database column and its pandera rule), row rules over several fields, derived columns (the
documented MD5 keys), the key and the update method. ``ingest/`` turns specs into assets and
loads a partition for any spec; the shared kinds are in :mod:`platform_assets.core.kinds`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Literal

import dagster as dg
import pandera.pandas as pa

from platform_assets.core import checks
from platform_assets.core.checks import RowRule
from platform_assets.core.kinds import TEXT, Kind
from platform_assets.core.sqltext import quote_ident as quote_ident  # re-exported
from platform_assets.core.sqltext import quote_literal as quote_literal

DATE_TOKEN = "{YYYYMMDD}"
APP_TOKEN = "{APP_ID}"
APP_FIELD = "__app_id"
"""A ``source`` (or key part) holding the partition's app id, for sources with several apps."""
DAY_FIELD = "__file_day"
"""A ``source`` (or key part) holding the partition's file date as ``YYYYMMDD`` text."""
PARTITION_FIELDS = (APP_FIELD, DAY_FIELD)
APP_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
"""What an app id may look like: it stands in file names between underscores."""
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


UpdateMethod = Literal["UPSERT"]
"""How a partition's rows reach the table: every vendor document says "Update method: UPSERT"
(a row replaces the row of its key, see ``ingest/loader/upsert.py``); no other is documented."""


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
    """A field of the vendor's file, declared once: the database column it loads into and the
    rule its text must pass.

    ``source`` is the CSV header (matched by name, case-insensitively, never by position;
    default: ``name``); ``kind`` gives the DuckDB type and the kind's rule; ``required`` means
    present and not NULL/empty; ``rules`` are further rules on this field (e.g. ``one_of``).
    """

    name: str
    kind: Kind = TEXT
    source: str | None = None
    description: str = ""
    required: bool = False
    rules: tuple[pa.Check, ...] = ()

    @property
    def csv_name(self) -> str:
        return self.source or self.name

    @property
    def type(self) -> str:
        return self.kind.type

    @property
    def utc_offset(self) -> str | None:
        return self.kind.utc_offset

    @property
    def decimal_comma(self) -> bool:
        return self.kind.decimal_comma

    def pandera_column(self) -> pa.Column:
        """The pandera rule of this field's raw text."""
        kind_rule = (self.kind.rule,) if self.kind.rule is not None else ()
        return checks.text(*kind_rule, *self.rules, required=self.required)

    def select_sql(self, try_cast: bool = False) -> str:
        """The typed value from the CSV text (``try_cast``: NULL where it does not convert)."""
        cast = "TRY_CAST" if try_cast else "CAST"
        src = quote_ident(self.csv_name)
        kind = self.type.upper()
        if self.decimal_comma:
            src = f"replace({src}, ',', '.')"
        if kind == "VARCHAR":
            return src
        if kind == "TIMESTAMP":
            # ISO 8601 with or without an offset; stored as UTC (the connection runs in UTC)
            if self.utc_offset:
                src = f"({src} || {quote_literal(self.utc_offset)})"
            return f"{cast}({cast}({src} AS TIMESTAMPTZ) AS TIMESTAMP)"
        return f"{cast}({src} AS {self.type})"


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
        names = {APP_FIELD: "{app-id}", DAY_FIELD: "{YYYYMMDD}"}
        parts = [
            f"SUBSTRING({names.get(p.source, p.source)},1,{p.length})"
            if p.length
            else names.get(p.source, p.source)
            for p in self.parts
        ]
        return "MD5(" + f" + '{self.separator}' + ".join(parts) + ")"


@dataclass(frozen=True)
class Extras:
    """A JSON column holding the file's columns that the document does not list (custom fields
    a vendor adds per customer): ``{"header": "value", ...}``, ``{}`` when there are none."""

    name: str
    description: str = ""
    type: str = field(default="JSON", init=False)


TableColumn = Column | Md5Key | Extras


@dataclass(frozen=True)
class FileRef:
    """What a remote file name says: the partition's date, app (if any), and compression."""

    day: dt.date
    app: str | None = None
    gzip: bool = False


@dataclass(frozen=True)
class VendorDocument:
    """The vendor document a table, a delivery or a source follows, cited by its title (and the
    vendor's public page where one exists). Nothing reads the document at run time: what the
    platform needs of it is in the specs."""

    title: str
    url: str = ""

    def metadata(self) -> dict[str, dg.MetadataValue]:
        """``document`` (the title) and, where there is one, ``document_url`` for the UI."""
        meta: dict[str, dg.MetadataValue] = {"document": dg.MetadataValue.text(self.title)}
        if self.url:
            meta["document_url"] = dg.MetadataValue.url(self.url)
        return meta


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
    row_rules: tuple[RowRule, ...] = ()
    """Rules over several fields of a row (the fields' own rules are in :attr:`columns`)."""
    update_method: UpdateMethod = "UPSERT"
    version_column: str | None = None
    """UPSERT by version: of two rows with one key, the larger value of this (typed) column wins,
    whatever order files arrive in; equal versions fall back to the newer file, then the later
    row. None: the newer file wins, then the later row in a file."""
    dialect: CsvDialect = CsvDialect()
    gzip_variant: bool = False
    """The file may arrive as ``<name>.gz`` instead (loaded whichever is there, never both)."""
    reject_tolerance: float = 0.0
    """Share of a file's rows that may be rejected before the partition fails (0 = none)."""
    document: VendorDocument | None = None

    def __post_init__(self) -> None:
        for name in (self.schema, self.table, *(c.name for c in self.columns)):
            if not _IDENTIFIER.match(name):
                raise ValueError(f"{self.table}: {name!r} is not a plain SQL identifier")
        if self.file_pattern.count(DATE_TOKEN) != 1:
            raise ValueError(f"{self.table}: file_pattern needs exactly one {DATE_TOKEN}")
        if self.file_pattern.count(APP_TOKEN) > 1 or "/" in self.file_pattern:
            raise ValueError(f"{self.table}: file_pattern is a file name with at most one app id")
        names = {c.name for c in self.columns}
        if self.key not in names:
            raise ValueError(f"{self.table}: key {self.key!r} is not a column")
        if self.version_column is not None and self.version_column not in {
            c.name for c in self.loaded_columns
        }:
            raise ValueError(f"{self.table}: version column {self.version_column!r} not loaded")
        uses_app = any(isinstance(c, Column) and c.csv_name == APP_FIELD for c in self.columns)
        if uses_app != self.has_app:
            raise ValueError(
                f"{self.table}: an app-partitioned table ({APP_TOKEN} in the file pattern) "
                f"stores the app id in a column with source {APP_FIELD!r}, and only it"
            )
        if not 0.0 <= self.reject_tolerance < 1.0:
            raise ValueError(f"{self.table}: reject_tolerance must be in [0, 1)")
        loaded = [c.csv_name for c in self.loaded_columns if c.csv_name not in PARTITION_FIELDS]
        if len(set(loaded)) != len(loaded):
            raise ValueError(f"{self.table}: a CSV field is declared twice")
        unknown = sorted({c for r in self.row_rules for c in r.columns} - set(loaded))
        if unknown:
            raise ValueError(f"{self.table}: row rules read undeclared fields {unknown}")
        key_only = sorted(set(self.csv_columns) - set(loaded))
        if key_only:
            raise ValueError(f"{self.table}: key parts {key_only} are not declared fields")

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
    def has_app(self) -> bool:
        """Partitioned by (date, app): one file per app and day."""
        return APP_TOKEN in self.file_pattern

    @property
    def app_column(self) -> str | None:
        for col in self.loaded_columns:
            if col.csv_name == APP_FIELD:
                return col.name
        return None

    @property
    def extras_column(self) -> str | None:
        return next((c.name for c in self.columns if isinstance(c, Extras)), None)

    @property
    def file_regex(self) -> re.Pattern[str]:
        pattern = re.escape(self.file_pattern)
        pattern = pattern.replace(re.escape(DATE_TOKEN), r"(?P<date>[0-9]{8})")
        pattern = pattern.replace(re.escape(APP_TOKEN), r"(?P<app>[A-Za-z0-9-]{1,64})")
        gzip = r"(?P<gzip>\.gz)?" if self.gzip_variant else ""
        # the whole name, ASCII only: "$" would accept a trailing newline, "\d" other digits
        return re.compile(rf"{pattern}{gzip}", re.ASCII)

    def file_name(self, day: dt.date, app: str | None = None) -> str:
        """The remote file name of one partition (uncompressed)."""
        if self.has_app and (app is None or not APP_ID.match(app)):
            raise ValueError(f"{self.qualified_name}: app id {app!r} is not valid")
        name = self.file_pattern.replace(DATE_TOKEN, day.strftime("%Y%m%d"))
        return name.replace(APP_TOKEN, app or "")

    def parse_file_name(self, name: str) -> FileRef | None:
        """What a remote file name says, or None when it is not one of this table's files."""
        match = self.file_regex.fullmatch(name)
        if not match:
            return None
        try:
            day = dt.datetime.strptime(match["date"], "%Y%m%d").date()
        except ValueError:
            return None
        groups = match.groupdict()
        return FileRef(day=day, app=groups.get("app"), gzip=bool(groups.get("gzip")))

    def file_date(self, name: str) -> dt.date | None:
        """The date in a remote file name, or None when the name is not this table's file."""
        ref = self.parse_file_name(name)
        return ref.day if ref else None

    def with_file_pattern(self, pattern: str | None) -> TableSpec:
        """This spec reading files named by ``pattern`` (a per-table setting)."""
        return dataclasses.replace(self, file_pattern=pattern) if pattern else self

    # -- columns ----------------------------------------------------------------------------

    @functools.cached_property
    def row_schema(self) -> pa.DataFrameSchema:
        """Rules every CSV row must pass, over the CSV column names, on the raw text: each
        field's (from its declaration) and the row rules."""
        return pa.DataFrameSchema(
            {
                c.csv_name: c.pandera_column()
                for c in self.loaded_columns
                if c.csv_name not in PARTITION_FIELDS
            },
            checks=[r.check() for r in self.row_rules],
            name=f"{self.source}_{self.table}_csv",
        )

    @property
    def row_rule_columns(self) -> dict[str, tuple[str, ...]]:
        """Each row rule's name -> the fields it reads (a failing row is reported under these)."""
        return {r.name: r.columns for r in self.row_rules}

    @property
    def ruled_columns(self) -> tuple[str, ...]:
        """CSV columns that carry a rule (required, a check, unique, or read by a row rule).

        Every value arrives as text, so a column with no rule cannot fail: validation reads
        only these columns (every row of them)."""
        wanted: set[str] = {c for r in self.row_rules for c in r.columns}
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
            elif isinstance(col, Md5Key):
                for part in col.parts:
                    names[part.source] = None
        return tuple(n for n in names if n not in PARTITION_FIELDS)
