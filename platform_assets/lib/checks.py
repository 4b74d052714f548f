"""Reusable pandera building blocks for rules on raw CSV text.

Every rule runs vectorized on a pandas column of strings (arrow-backed). A rule's name is what the
rejects table and the run's error show, so names say the rule in words.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc

ISO_TIMESTAMP = (
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)?"
)
PHONE = r"\+?[1-9]\d{6,14}"
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _valid_timestamp(series: pd.Series) -> pd.Series:
    """The ISO shape (regex, in Arrow's kernels), then whether the day exists in its month."""
    shape_ok = series.str.fullmatch(ISO_TIMESTAMP).fillna(False).to_numpy(dtype=bool)
    text = pa_arrow.array(series.where(shape_ok, "2000-01-01"), type=pa_arrow.large_string())
    year, month, day = (
        pc.cast(pc.utf8_slice_codeunits(text, a, b), pa_arrow.int32()).to_numpy()
        for a, b in ((0, 4), (5, 7), (8, 10))
    )
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    last_day = _DAYS_IN_MONTH[month] + ((month == 2) & leap)
    return pd.Series(shape_ok & (day <= last_day), index=series.index)


def iso_timestamp() -> pa.Check:
    """ISO 8601 date and time (``T`` or space), optional fraction and UTC offset, a real date."""
    return pa.Check(_valid_timestamp, name="iso8601_timestamp", error="iso8601_timestamp")


_UTC_DESIGNATOR = r".*(Z|[+-]00:?00)"
_NO_OFFSET = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?"


def utc_timestamp() -> pa.Check:
    """ISO 8601 date and time that says it is UTC (``Z`` or a zero offset), a real date."""

    def _check(series: pd.Series) -> pd.Series:
        utc = series.str.fullmatch(_UTC_DESIGNATOR).fillna(False).to_numpy(dtype=bool)
        return _valid_timestamp(series) & utc

    return pa.Check(_check, name="iso8601_utc_timestamp", error="iso8601_utc_timestamp")


def local_timestamp() -> pa.Check:
    """A date and time without an offset (``2014-11-13 18:30:00``): the vendor's own clock."""

    def _check(series: pd.Series) -> pd.Series:
        bare = series.str.fullmatch(_NO_OFFSET).fillna(False).to_numpy(dtype=bool)
        return _valid_timestamp(series) & bare

    return pa.Check(_check, name="local_timestamp_no_offset", error="local_timestamp_no_offset")


def integer() -> pa.Check:
    """A whole number that fits BIGINT (at most 18 digits)."""
    return pa.Check.str_matches(r"^[+-]?\d{1,18}$", name="integer", error="integer")


def non_negative_integer() -> pa.Check:
    return pa.Check.str_matches(
        r"^\+?\d{1,18}$", name="non_negative_integer", error="non_negative_integer"
    )


def number(decimal_comma: bool = False) -> pa.Check:
    """A decimal number (optionally in exponent form); ``decimal_comma``: ``48,869``."""
    if decimal_comma:
        return pa.Check.str_matches(
            r"^[+-]?\d{1,15}(,\d{1,15})?$",
            name="decimal_comma_number",
            error="decimal_comma_number",
        )
    return pa.Check.str_matches(
        r"^[+-]?(\d{1,15}(\.\d{0,15})?|\.\d{1,15})([eE][+-]?\d{1,3})?$",
        name="number",
        error="number",
    )


def boolean(true: str = "true", false: str = "false", *, case_sensitive: bool = True) -> pa.Check:
    """Exactly the vendor's two spellings of a boolean (e.g. ``true``/``false`` or ``1``/``0``)."""
    rule = f"boolean({true}/{false})"
    flags = "" if case_sensitive else "(?i)"
    return pa.Check.str_matches(
        rf"{flags}^({re.escape(true)}|{re.escape(false)})$", name=rule, error=rule
    )


def boolean_any() -> pa.Check:
    """A boolean as a warehouse export writes it: true/false, t/f or 1/0, any case."""
    return pa.Check.str_matches(
        r"(?i)^(true|false|t|f|1|0)$",
        name="boolean(true/false/t/f/1/0)",
        error="boolean(true/false/t/f/1/0)",
    )


def one_of(*values: str) -> pa.Check:
    """One of a documented set of values (case-sensitive)."""
    rule = "one_of(" + ",".join(values) + ")"
    return pa.Check.isin(list(values), name=rule, error=rule)


def phone() -> pa.Check:
    """A phone number in E.164 form: optional ``+``, 7 to 15 digits, no leading zero."""
    return pa.Check.str_matches(rf"^{PHONE}$", name="e164_phone", error="e164_phone")


def email() -> pa.Check:
    return pa.Check.str_matches(rf"^{EMAIL}$", name="email_address", error="email_address")


def decimal(integer_digits: int, scale: int) -> pa.Check:
    """A plain decimal number that fits ``DECIMAL(integer_digits + scale, scale)``."""
    rule = f"decimal({integer_digits + scale},{scale})"
    return pa.Check.str_matches(
        rf"^-?\d{{1,{integer_digits}}}(\.\d{{1,{scale}}})?$", name=rule, error=rule
    )


# Row-level (DataFrame) rules and the columns they read: pandera reports a failing row under
# every column of the frame, the loader keeps only these.
ROW_RULE_COLUMNS: dict[str, tuple[str, ...]] = {}


def one_of_present(*columns: str) -> pa.Check:
    """A row-level rule: at least one of ``columns`` is present (not NULL)."""
    rule = "one_of_present(" + ",".join(columns) + ")"
    ROW_RULE_COLUMNS[rule] = tuple(columns)

    def _check(frame: pd.DataFrame) -> pd.Series:
        present = frame[list(columns)].notna()
        return present.any(axis=1)

    return pa.Check(_check, name=rule, error=rule, ignore_na=False)


def text(*checks: pa.Check, required: bool = False) -> pa.Column:
    """A CSV column of text: ``required`` means present and not NULL/empty."""
    return pa.Column(str, checks=list(checks), nullable=not required, coerce=False)


def not_before(later: str, earlier: str) -> pa.Check:
    """A row-level rule: timestamp ``later`` is not before ``earlier`` (either missing or not a
    timestamp: not judged here, the columns' own rules do that)."""
    rule = f"{later}_not_before_{earlier}"
    ROW_RULE_COLUMNS[rule] = (later, earlier)

    def _check(frame: pd.DataFrame) -> pd.Series:
        a = pd.to_datetime(frame[later], utc=True, errors="coerce", format="ISO8601")
        b = pd.to_datetime(frame[earlier], utc=True, errors="coerce", format="ISO8601")
        return ~(a < b).fillna(False).astype(bool)

    return pa.Check(_check, name=rule, error=rule, ignore_na=False)
