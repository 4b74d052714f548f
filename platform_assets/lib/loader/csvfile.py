"""Stage 2: the downloaded CSV as SQL. Its header is read with Python's csv module and the
documented columns are found by name; every later use is a fresh DuckDB parse of the file (parsing
is cheap and parallel; storing is what costs)."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import duckdb

from platform_assets.lib.files import DownloadResult
from platform_assets.lib.loader.model import BadFileError, LoadRequest
from platform_assets.lib.specs import (
    APP_FIELD,
    DAY_FIELD,
    Column,
    Extras,
    Md5Key,
    TableColumn,
    TableSpec,
    quote_ident,
    quote_literal,
)


def read_header(path: Path, spec: TableSpec, display: str) -> list[str]:
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


def header_map(
    header: list[str], spec: TableSpec, display: str, renames: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Each CSV column the spec needs -> its header in the file (by name, case-insensitively),
    and the file's other columns. ``renames`` gives a documented column another header in this
    file (e.g. Accengage's client-id column, whose name is set per app)."""
    by_norm: dict[str, str] = {}
    for name in header:
        by_norm.setdefault(name.strip().lower(), name)
    mapping: dict[str, str] = {}
    missing = []
    for wanted in spec.csv_columns:
        expected = renames.get(wanted, wanted)
        found = by_norm.get(expected.lower())
        if found is None:
            missing.append(expected)
        else:
            mapping[wanted] = found
    if missing:
        raise BadFileError(
            f"{display}: line 1 (header): missing documented column(s) {missing} "
            f"(rule: column_in_file); header has {header}"
        )
    used = set(mapping.values())
    return mapping, [h for h in header if h not in used]


def parse_error(exc: duckdb.Error, display: str) -> Exception:
    """DuckDB's CSV error as a :class:`BadFileError` naming the file (its generic advice cut,
    its line number kept); any other DuckDB error unchanged."""
    if "CSV Error" not in str(exc):
        return exc
    text = " ".join(str(exc).split("Possible fixes:")[0].split())
    return BadFileError(f"{display}: the CSV could not be parsed: {text}")


class CsvFile:
    """The partition's file as SQL relations (each a fresh parse).

    ``plain``: the needed CSV columns under their documented names, the extra columns, the
    partition's constants and the derived keys; a parallel parse whose streamed result keeps file
    order. ``numbered(where)`` adds ``__record`` (1-based, file order) with DuckDB's streaming
    ``row_number() OVER ()``, which runs on one core: used only on the rare reject paths.
    """

    def __init__(self, request: LoadRequest, download: DownloadResult):
        spec = request.spec
        self.display = download.remote.path
        self.path = download.local_path
        self.header = read_header(self.path, spec, self.display)
        self.mapping, self.extra_columns = header_map(
            self.header, spec, self.display, request.column_sources
        )
        aliases: dict[str, str] = {}  # each distinct derived-key expression, computed once
        for col in spec.columns:
            if isinstance(col, Md5Key):
                aliases.setdefault(col.select_sql(), f"__key{len(aliases)}")
        self._aliases = aliases
        key_col = next(c for c in spec.columns if c.name == spec.key)
        if isinstance(key_col, Md5Key):
            self.key = aliases[key_col.select_sql()]
        elif isinstance(key_col, Column):
            self.key = quote_ident(key_col.csv_name)
        else:
            raise ValueError(f"{spec.qualified_name}: the key cannot be the extras column")
        cols = ", ".join(
            f"{quote_ident(actual)} AS {quote_ident(wanted)}"
            for wanted, actual in self.mapping.items()
        )
        extras = "".join(f", {quote_ident(e)}" for e in self.extra_columns)
        # the partition's values, as constant columns a key part or a column can read
        extras += f", {quote_literal(request.app_id or '')} AS {quote_ident(APP_FIELD)}"
        extras += f", {quote_literal(request.day.strftime('%Y%m%d'))} AS {quote_ident(DAY_FIELD)}"
        self._keys = "".join(f", {sql} AS {alias}" for sql, alias in aliases.items())
        read = (
            f"read_csv({quote_literal(str(self.path))}, "
            f"{spec.dialect.read_csv_options(self.header)})"
        )
        self._numbered = f"(SELECT row_number() OVER () AS __record, {cols}{extras} FROM {read})"
        # without record numbers the parse runs on every core (the streaming window does not)
        self.plain = f"(SELECT *{self._keys} FROM (SELECT {cols}{extras} FROM {read}))"
        self.typed = ", ".join(f"{self._typed(c)} AS {quote_ident(c.name)}" for c in spec.columns)
        self.version = "NULL::TIMESTAMP"  # the version's typed value (NULL if unparseable)
        if spec.version_column:
            column = next(c for c in spec.loaded_columns if c.name == spec.version_column)
            self.version = column.select_sql(try_cast=True)
        # a row's identity within the file: a hash of all its raw text (repeated keys only)
        self.raw_columns = [*self.mapping, *self.extra_columns]
        self.row_hash = f"hash({', '.join(quote_ident(c) for c in self.raw_columns)})"

    def _typed(self, col: TableColumn) -> str:
        if isinstance(col, Md5Key):
            return self._aliases[col.select_sql()]
        if isinstance(col, Extras):  # the undocumented columns, kept as one JSON object
            pairs = ", ".join(f"{quote_literal(e)}, {quote_ident(e)}" for e in self.extra_columns)
            return f"json_object({pairs})"
        return col.select_sql()

    def numbered(self, where: str = "true") -> str:
        """The rows (with ``__record``) that pass ``where``; keys computed only for those."""
        return f"(SELECT *{self._keys} FROM {self._numbered} WHERE {where})"
