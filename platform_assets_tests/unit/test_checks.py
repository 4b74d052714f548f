"""The pandera building blocks, on values whose verdict is known from the calendar and the
formats' definitions (not from the implementation)."""

from __future__ import annotations

import calendar
import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from platform_assets.core import checks


def run(check, values: list[str | None], *, sliced: bool = False) -> list[bool]:
    arr = pa.array(["pad", *values] if sliced else values, type=pa.string())
    if sliced:  # an Arrow array with a non-zero offset, as a batch slice is
        arr = arr.slice(1)
    series = arr.to_pandas()
    out = check(series)
    return [bool(v) for v in out.check_output.tolist()]


@pytest.mark.parametrize("sliced", [False, True])
def test_timestamps_accept_exactly_the_days_that_exist(sliced):
    days = []
    for year in (1900, 2000, 2023, 2024):
        for month in range(1, 13):
            for day in (28, 29, 30, 31):
                days.append((year, month, day))
    values = [f"{y:04d}-{m:02d}-{d:02d}T10:11:12Z" for y, m, d in days]
    expected = [d <= calendar.monthrange(y, m)[1] for y, m, d in days]
    assert run(checks.iso_timestamp(), values, sliced=sliced) == expected


def test_timestamp_shapes():
    good = [
        "2026-10-01T10:00:00Z",
        "2026-10-01 10:00:00",
        "2026-10-01T10:00:00.123456789+02:00",
        "2026-10-01T23:59:59-0500",
    ]
    bad = ["2026-10-01", "2026-13-01T10:00:00Z", "2026-10-01T24:00:00Z", "01/10/2026 10:00", ""]
    assert run(checks.iso_timestamp(), good + bad) == [True] * 4 + [False] * 5
    utc = ["2026-10-01T10:00:00Z", "2026-10-01T10:00:00+00:00", "2026-10-01T10:00:00+01:00"]
    assert run(checks.utc_timestamp(), utc + ["2026-10-01T10:00:00"]) == [True, True, False, False]
    local = ["2014-11-13 18:30:00", "2014-11-13 18:30:00+01:00", "2014-02-29 18:30:00"]
    assert run(checks.local_timestamp(), local) == [True, False, False]


def test_regex_rules_match_whole_values():
    assert run(checks.phone(), ["+15551230001", "15551230001", "+0155512300", "+1555 123"]) == [
        True,
        True,
        False,
        False,
    ]
    assert run(checks.email(), ["a@b.co", "a@b", "a b@c.de", "x@y.z "]) == [
        True,
        False,
        False,
        False,
    ]
    assert run(checks.integer(), ["12", "-3", "1.0", "1e3", "9" * 19]) == [True, True] + [False] * 3
    assert run(checks.number(), ["1.5", "-.5", "2e10", "1,5"]) == [True, True, True, False]
    assert run(checks.number(decimal_comma=True), ["48,869", "-2", "48.869"]) == [
        True,
        True,
        False,
    ]
    assert run(checks.boolean("1", "0"), ["1", "0", "true", "10"]) == [True, True, False, False]
    assert run(checks.boolean_any(), ["TRUE", "f", "0", "yes"]) == [True, True, True, False]
    assert run(checks.decimal(14, 4), ["129.45", "1.23456", "12,5"]) == [True, False, False]


def test_not_before_compares_instants_not_text():
    frame = pd.DataFrame(
        {
            "end": ["2020-01-03T21:00:00+01:00", "2020-01-03T20:00:00Z", None],
            "start": ["2020-01-03T20:00:00Z", "2020-01-03T20:00:01Z", "2020-01-03T20:00:00Z"],
        }
    )
    # 21:00+01:00 is 20:00Z: not before; the second ends before it starts; a missing end passes
    out = checks.not_before("end", "start").check()(frame).check_output.tolist()
    assert out == [True, False, True]
    assert dt.datetime.fromisoformat("2020-01-03T21:00:00+01:00") == dt.datetime(
        2020, 1, 3, 20, tzinfo=dt.UTC
    )
