"""Reusable pandera building blocks for rules on raw CSV text.

Each rule is stated once, as data on its pandera check (``statistics``: the pattern a value must
match, whether its first ten characters must be a real date, the allowed values), and executed
two ways from that statement: in pandas (pandera's own ``validate``, vectorized: regular
expressions in Arrow's RE2 kernel, date arithmetic in numpy) and in SQL (:func:`check_sql`,
DuckDB's RE2 and casts), which is how the loader runs it: where the data is. A rule's name is what
the rejects table and the run's error show, so names say the rule in words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc

from platform_assets.core.sqltext import quote_literal

ISO_TIMESTAMP = (
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)?"
)
PHONE = r"\+?[1-9]\d{6,14}"
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _arrow(series: pd.Series) -> pa_arrow.Array:
    """The column's Arrow string array (zero-copy for arrow-backed strings)."""
    values = series.array
    if hasattr(values, "__arrow_array__"):
        arr = values.__arrow_array__()
        arr = arr.combine_chunks() if isinstance(arr, pa_arrow.ChunkedArray) else arr
    else:  # object strings (pandas 2 without arrow dtypes)
        arr = pa_arrow.array(series, type=pa_arrow.large_string(), from_pandas=True)
    if not (pa_arrow.types.is_string(arr.type) or pa_arrow.types.is_large_string(arr.type)):
        arr = arr.cast(pa_arrow.large_string())
    return arr


def _matches(series: pd.Series, pattern: str) -> np.ndarray:
    """Whether each value matches ``pattern`` (anchored), as numpy booleans (NULL: False)."""
    hit = pc.match_substring_regex(_arrow(series), f"^(?:{pattern})$")
    return hit.fill_null(False).to_numpy(zero_copy_only=False)


def regex(pattern: str, name: str, *, ignore_case: bool = False) -> pa.Check:
    """The whole value matches ``pattern`` (RE2 syntax), run in Arrow's regex kernel."""
    full = f"(?i){pattern}" if ignore_case else pattern

    def _check(series: pd.Series) -> pd.Series:
        return pd.Series(_matches(series, full), index=series.index)

    return pa.Check(_check, name=name, error=name, statistics={"pattern": full})


def _date_exists(arr: pa_arrow.Array, shape_ok: np.ndarray) -> np.ndarray:
    """For values whose first 10 characters are ``YYYY-MM-DD`` digits (``shape_ok``): whether
    that day exists (leap years included). Reads the digits straight from the Arrow buffers."""
    if not shape_ok.any():
        return shape_ok
    width = np.int64 if pa_arrow.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    starts = np.where(shape_ok, offsets[:-1], 0)
    top = data.size - 1

    def digit(position: int) -> np.ndarray:
        return data[np.minimum(starts + position, top)].astype(np.int16) - 48

    year = digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3)
    month = np.clip(digit(5) * 10 + digit(6), 0, 12)
    day = digit(8) * 10 + digit(9)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    last_day = _DAYS_IN_MONTH[month] + ((month == 2) & leap)
    return shape_ok & (day <= last_day)


def _valid_timestamp(series: pd.Series, pattern: str = ISO_TIMESTAMP) -> pd.Series:
    """The ISO shape (regex, in Arrow's kernel), then whether the day exists in its month."""
    arr = _arrow(series)
    shape_ok = (
        pc.match_substring_regex(arr, f"^(?:{pattern})$")
        .fill_null(False)
        .to_numpy(zero_copy_only=False)
    )
    return pd.Series(_date_exists(arr, shape_ok), index=series.index)


def _timestamp_check(pattern: str, name: str) -> pa.Check:
    """The value matches ``pattern`` and its first ten characters are a day that exists."""
    return pa.Check(
        lambda series: _valid_timestamp(series, pattern),
        name=name,
        error=name,
        statistics={"pattern": pattern, "real_date": True},
    )


def iso_timestamp() -> pa.Check:
    """ISO 8601 date and time (``T`` or space), optional fraction and UTC offset, a real date."""
    return _timestamp_check(ISO_TIMESTAMP, "iso8601_timestamp")


_ISO_DATE_TIME = ISO_TIMESTAMP.split("(Z|")[0]  # date, time and fraction, no offset
_UTC_TIMESTAMP = _ISO_DATE_TIME + r"(Z|[+-]00:?00)"


def utc_timestamp() -> pa.Check:
    """ISO 8601 date and time that says it is UTC (``Z`` or a zero offset), a real date."""
    return _timestamp_check(_UTC_TIMESTAMP, "iso8601_utc_timestamp")


def local_timestamp() -> pa.Check:
    """A date and time without an offset (``2014-11-13 18:30:00``): the vendor's own clock."""
    return _timestamp_check(_ISO_DATE_TIME, "local_timestamp_no_offset")


def integer() -> pa.Check:
    """A whole number that fits BIGINT (at most 18 digits)."""
    return regex(r"[+-]?\d{1,18}", "integer")


def non_negative_integer() -> pa.Check:
    return regex(r"\+?\d{1,18}", "non_negative_integer")


def number(decimal_comma: bool = False) -> pa.Check:
    """A decimal number (optionally in exponent form); ``decimal_comma``: ``48,869``."""
    if decimal_comma:
        return regex(r"[+-]?\d{1,15}(,\d{1,15})?", "decimal_comma_number")
    return regex(r"[+-]?(\d{1,15}(\.\d{0,15})?|\.\d{1,15})([eE][+-]?\d{1,3})?", "number")


def boolean(true: str = "true", false: str = "false", *, case_sensitive: bool = True) -> pa.Check:
    """Exactly the vendor's two spellings of a boolean (e.g. ``true``/``false`` or ``1``/``0``)."""
    rule = f"boolean({true}/{false})"
    return regex(f"{re.escape(true)}|{re.escape(false)}", rule, ignore_case=not case_sensitive)


def boolean_any() -> pa.Check:
    """A boolean as a warehouse export writes it: true/false, t/f or 1/0, any case."""
    return regex("true|false|t|f|1|0", "boolean(true/false/t/f/1/0)", ignore_case=True)


def one_of(*values: str) -> pa.Check:
    """One of a documented set of values (case-sensitive)."""
    rule = "one_of(" + ",".join(values) + ")"
    return pa.Check.isin(list(values), name=rule, error=rule)


def phone() -> pa.Check:
    """A phone number in E.164 form: optional ``+``, 7 to 15 digits, no leading zero."""
    return regex(PHONE, "e164_phone")


def email() -> pa.Check:
    return regex(EMAIL, "email_address")


def decimal(integer_digits: int, scale: int) -> pa.Check:
    """A plain decimal number that fits ``DECIMAL(integer_digits + scale, scale)``."""
    rule = f"decimal({integer_digits + scale},{scale})"
    return regex(rf"-?\d{{1,{integer_digits}}}(\.\d{{1,{scale}}})?", rule)


def check_sql(check: pa.Check, value: str) -> str:
    """The SQL predicate of a field rule on the text ``value`` (an SQL expression): true when
    the value passes. NULL passes, as in pandera (a field's rules ignore missing values; being
    present is the ``not_nullable`` rule's)."""
    stats = check.statistics or {}
    if "pattern" in stats:
        test = f"regexp_full_match({value}, {quote_literal(stats['pattern'])})"
        if stats.get("real_date"):
            test += f" AND TRY_CAST(left({value}, 10) AS DATE) IS NOT NULL"
    elif "allowed_values" in stats:
        test = f"{value} IN ({', '.join(quote_literal(str(v)) for v in stats['allowed_values'])})"
    else:
        raise TypeError(f"rule {check.name!r} states no pattern or values: it has no SQL form")
    return f"({value} IS NULL OR ({test}))"


@dataclass(frozen=True)
class RowRule:
    """A rule over several fields of a row: its name (what the rejects show), the fields it
    reads (pandera reports a failing row under every column of the frame; the loader keeps
    these), its vectorized test in pandas and the same test in SQL (True: the row passes)."""

    name: str
    columns: tuple[str, ...]
    test: Callable[[pd.DataFrame], pd.Series]
    sql_test: Callable[..., str]
    """The SQL predicate, given the SQL expressions of ``columns`` in their order."""

    def check(self) -> pa.Check:
        return pa.Check(self.test, name=self.name, error=self.name, ignore_na=False)

    def sql(self, values: Sequence[str]) -> str:
        """The predicate over ``values``, the SQL expressions of :attr:`columns`."""
        return f"({self.sql_test(*values)})"


def one_of_present(*columns: str) -> RowRule:
    """At least one of ``columns`` is present (not NULL)."""

    def _test(frame: pd.DataFrame) -> pd.Series:
        return frame[list(columns)].notna().any(axis=1)

    def _sql(*values: str) -> str:
        return " OR ".join(f"{v} IS NOT NULL" for v in values)

    return RowRule("one_of_present(" + ",".join(columns) + ")", tuple(columns), _test, _sql)


def text(*checks: pa.Check, required: bool = False) -> pa.Column:
    """A CSV column of text: ``required`` means present and not NULL/empty."""
    return pa.Column(str, checks=list(checks), nullable=not required, coerce=False)


def not_before(later: str, earlier: str) -> RowRule:
    """Timestamp ``later`` is not before ``earlier``. Only ISO 8601 timestamps of real days
    (:func:`iso_timestamp`'s rule; no offset: UTC) are judged: a missing value or another text
    is the fields' own rules' to report (and the two executors' parsers differ outside it)."""

    def _instants(series: pd.Series) -> pd.Series:
        valid = _valid_timestamp(series)
        parsed = pd.to_datetime(series.where(valid), utc=True, errors="coerce", format="ISO8601")
        return parsed.where(valid)

    def _test(frame: pd.DataFrame) -> pd.Series:
        return ~(_instants(frame[later]) < _instants(frame[earlier])).fillna(False).astype(bool)

    def _instant_sql(value: str) -> str:  # the loader's connections run in UTC
        valid = check_sql(iso_timestamp(), value)
        return (
            f"CASE WHEN {value} IS NOT NULL AND {valid} THEN TRY_CAST({value} AS TIMESTAMPTZ) END"
        )

    def _sql(a: str, b: str) -> str:
        return f"NOT coalesce({_instant_sql(a)} < {_instant_sql(b)}, false)"

    return RowRule(f"{later}_not_before_{earlier}", (later, earlier), _test, _sql)
