"""Stage 2: the downloaded CSV as SQL. Its header is read with Python's csv module and the
documented columns are found by name; every later use is a fresh DuckDB parse of the file (parsing
is cheap and parallel; storing is what costs)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import duckdb

from platform_assets.core.errors import BadFileError
from platform_assets.core.formulas import is_formula_sql
from platform_assets.core.specs import (
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
from platform_assets.core.warehouse import MAX_LINE_BYTES


def read_header(
    path: Path, spec: TableSpec, display: str, opener: Callable[[], BinaryIO] | None = None
) -> list[str]:
    """The file's header record, read with Python's csv module from the file's first lines only
    (decoded line by line: a bad byte further down is that line's error, not the header's);
    ``opener``: how to open the file instead of ``path`` (a file still arriving)."""
    dialect = spec.dialect

    def lines() -> Iterator[str]:
        with opener() if opener else path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    yield raw.decode(dialect.python_encoding)
                except UnicodeDecodeError as exc:
                    raise BadFileError(
                        f"{display}: line {number}: byte {raw[exc.start : exc.start + 1]!r} at "
                        f"column {exc.start + 1} is not {dialect.encoding} (rule: encoding)"
                    ) from None

    try:
        reader = csv.reader(
            lines(),
            delimiter=dialect.delimiter,
            quotechar=dialect.quote,
            doublequote=dialect.escape == dialect.quote,
            escapechar=None if dialect.escape == dialect.quote else dialect.escape,
            strict=True,
        )
        header = next(reader, None)
    except csv.Error as exc:
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


def parse_error(exc: duckdb.Error, csv: CsvFile) -> Exception:
    """DuckDB's CSV error as a :class:`BadFileError` that names the file, the record's physical
    line (header = line 1, quoted newlines counted: DuckDB's own "Line" counts records) and what
    is wrong; any other DuckDB error unchanged."""
    text = str(exc)
    if "CSV Error" not in text:
        return exc
    reason = " ".join(text.split("Possible")[0].split("\n", 2)[-1].split()) or text
    offset = first_bad_utf8(csv.path) if "Invalid unicode" in text else None
    if offset is None:
        found = csv.first_parse_error()
        if found is not None:
            offset, reason = found
    if "maximum line size" in reason.lower():
        reason = (
            f"a record longer than the maximum of {csv.max_line_bytes:,} bytes "
            f"(PLATFORM_MAX_LINE_BYTES): {reason}"
        )
    where = f"line {physical_line(csv.path, offset)}" if offset is not None else "a record"
    return BadFileError(f"{csv.display}: {where} cannot be parsed: {reason} (rule: csv_format)")


SCAN_CHUNK = 1 << 22


def physical_line(path: Path, offset: int) -> int:
    """The 1-based line of byte ``offset``: newlines before it + 1 (counted in C, by chunk)."""
    lines, read = 1, 0
    with path.open("rb") as fh:
        while read < offset and (chunk := fh.read(min(SCAN_CHUNK, offset - read))):
            lines += chunk.count(b"\n")
            read += len(chunk)
    return lines


def first_bad_utf8(path: Path) -> int | None:
    """The byte offset of the first byte that is not UTF-8 (decoded by chunk, incrementally)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    read = 0
    with path.open("rb") as fh:
        while chunk := fh.read(SCAN_CHUNK):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return read - pending + exc.start
            read += len(chunk)
    return None


CSV_BUFFER_BYTES = 32 << 20


def csv_buffer_bytes(max_line_bytes: int) -> int:
    """The parser's buffer: room for two of the longest records, at least 32 MiB. DuckDB's
    default is 16 x the longest record (256 MiB for 16 MiB, per buffer in flight: the largest
    part of a load's memory); past 32 MiB a larger buffer parses no faster."""
    return max(CSV_BUFFER_BYTES, 2 * int(max_line_bytes))


class CsvFile:
    """The partition's file as SQL relations (each a fresh parse).

    ``plain``: the needed CSV columns under their documented names, the extra columns, the
    partition's constants and the derived keys; a parallel parse whose streamed result keeps file
    order. ``numbered(where)`` adds ``__record`` (1-based, file order) with DuckDB's streaming
    ``row_number() OVER ()``, which runs on one core: used only on the rare reject paths.
    """

    def __init__(
        self,
        path: Path,
        display: str,
        spec: TableSpec,
        *,
        day: dt.date | None = None,
        app_id: str | None = None,
        column_sources: Mapping[str, str] | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        scan: str | None = None,
        opener: Callable[[], BinaryIO] | None = None,
    ):
        """``path`` (a local file) read as ``spec``'s CSV; ``display`` names it in every message
        (the remote path); ``day`` and ``app_id`` are the partition's constants a key part can
        read; ``column_sources``: documented column -> its header in this file. ``scan`` and
        ``opener``: what DuckDB reads and how the header is read, instead of ``path`` (a file
        still arriving, see :mod:`platform_assets.core.transport.arrival`)."""
        self.display = display
        self.path = Path(path)
        self.max_line_bytes = max_line_bytes
        self.header = read_header(self.path, spec, self.display, opener)
        self.mapping, self.extra_columns = header_map(
            self.header, spec, self.display, column_sources or {}
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
        stamp = day.strftime("%Y%m%d") if day else ""
        extras += f", {quote_literal(app_id or '')} AS {quote_ident(APP_FIELD)}"
        extras += f", {quote_literal(stamp)} AS {quote_ident(DAY_FIELD)}"
        self._keys = "".join(f", {sql} AS {alias}" for sql, alias in aliases.items())
        self._options = (
            f"{spec.dialect.read_csv_options(self.header)}, max_line_size = {int(max_line_bytes)}, "
            f"buffer_size = {csv_buffer_bytes(max_line_bytes)}"
        )
        read = f"read_csv({quote_literal(scan or str(self.path))}, {self._options})"
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
        # fields a spreadsheet would run as a formula (=, +, -, @ first), numbers and phones
        # (+1 555 ...) aside: loaded unchanged, counted (per row here; summed per batch)
        self.formula_fields = (
            " + ".join(f"{is_formula_sql(quote_ident(c))}::INTEGER" for c in self.raw_columns)
            or "0"
        )

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

    def first_parse_error(self) -> tuple[int, str] | None:
        """Where the first record DuckDB cannot parse starts (a byte offset) and why: a parse of
        the file that stores its errors (DuckDB's ``store_rejects``), on the error path only."""
        with duckdb.connect(config={"threads": 1}) as con:
            con.execute(
                f"SELECT count(*) FROM read_csv({quote_literal(str(self.path))}, "
                f"{self._options}, store_rejects = true)"
            ).fetchall()  # fetched: the scan (and its error table) runs only when read
            first = con.execute(
                "SELECT line_byte_position, error_message FROM reject_errors ORDER BY line LIMIT 1"
            ).fetchone()
        if first is None:
            return None
        position, message = first
        # the record's first byte, or the one after it (DuckDB's position is 0- or 1-based by
        # error type): the newlines before either are the same
        return int(position), str(message)
