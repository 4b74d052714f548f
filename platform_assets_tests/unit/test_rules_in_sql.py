"""The rules run by DuckDB (the loader's way) give the verdicts pandera gives (the reference):
every field rule and row rule of every spec and delivery, on the same values, failure by
failure (record, column, rule, value)."""

from __future__ import annotations

import calendar
import random
import string

import duckdb
import pandas as pd
import pandera.pandas as pa
import pytest

from platform_assets.core import checks
from platform_assets.core.specs import TableSpec, quote_ident
from platform_assets.core.validation import pandera_failures, rules
from platform_assets.defs import accengage, asapp, attentive, postscript

SEED = 20261202
SPECS: list[TableSpec] = [
    s
    for module in (attentive, postscript, asapp, accengage)
    for s in vars(module).values()
    if isinstance(s, TableSpec)
]

# values chosen at the edges of the rules (shapes, calendars, offsets, cases, spaces)
EDGES = [
    None,
    "0",
    "1",
    "-1",
    "+1",
    "01",
    "1.5",
    "-1.25",
    "1.",
    ".5",
    "1e5",
    "1E-3",
    "6,5",
    "48,869",
    "12,50",
    "1 000",
    " 1",
    "1 ",
    "١٢٣",
    "123456789012345678",
    "1234567890123456789",
    "12345678901234.1234",
    "123456789012345.1",
    "1.12345",
    "true",
    "True",
    "TRUE",
    "false",
    "t",
    "F",
    "yes",
    "N",
    "0.0",
    "agent",
    "Agent",
    "bot",
    "customer",
    "system",
    "2026-10-01T10:00:00Z",
    "2026-10-01 10:00:00",
    "2026-10-01T10:00:00.123456789Z",
    "2026-10-01T10:00:00.1234567890Z",
    "2026-10-01T10:00:00+02:00",
    "2026-10-01T10:00:00+0200",
    "2026-10-01T10:00:00-00:00",
    "2026-10-01T10:00:00+00:00",
    "2026-10-01T10:00:00+0000",
    "2026-10-01T24:00:00Z",
    "2026-10-01T10:60:00Z",
    "2026-13-01T10:00:00Z",
    "2026-00-10 10:00:00",
    "2026-02-29 10:00:00",
    "2024-02-29 10:00:00",
    "1900-02-29T00:00:00Z",
    "2000-02-29T00:00:00Z",
    "2026-04-31 10:00:00",
    "2026-10-01",
    "2026-10-01T10:00Z",
    "2026-10-01t10:00:00z",
    "2014-11-13 18:30:00",
    "2014-11-13 18:30:00+01:00",
    "+15551230000",
    "15551230000",
    "015551230000",
    "+1555123",
    "+1234567890123456",
    "555-123-0000",
    "a@b.co",
    "a@b",
    "@b.co",
    "a b@c.de",
    "a@b@c.de",
    "user.name+tag@example.com",
    "x\ny",
    "a\nb@c.de",
    "",
    "NULL",
    "x" * 255,
    "x" * 256,
    "é" * 300,
]


def _random_values(count: int) -> list[str]:
    """Values drawn from the characters the rules speak of (digits, signs, separators)."""
    rng = random.Random(SEED)
    alphabet = string.digits * 3 + "-+:.,eETZ tf@ab\n"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 26))) for _ in range(count)]


def _timestamps(count: int) -> list[str]:
    """Well-formed timestamps with random days (real or not), times and offsets."""
    rng = random.Random(SEED + 1)
    out = []
    for _ in range(count):
        year, month = rng.choice([1900, 2000, 2023, 2024, 2026]), rng.randint(1, 12)
        day = rng.randint(calendar.monthrange(year, month)[1] - 2, 31)
        sep, offset = rng.choice("T "), rng.choice(["", "Z", "+00:00", "+02:00", "-0530"])
        out.append(f"{year:04d}-{month:02d}-{day:02d}{sep}{rng.randint(0, 23):02d}:07:08{offset}")
    return out


VALUES = EDGES + _random_values(1500) + _timestamps(500)


def _field_rules() -> dict[str, tuple[pa.Check, bool]]:
    """Every distinct field rule (by name) of the specs and deliveries' shared building blocks,
    and whether it is a required field's."""
    found: dict[str, tuple[pa.Check, bool]] = {}
    for spec in SPECS:
        for column in spec.row_schema.columns.values():
            for check in column.checks:
                found.setdefault(check.name, (check, False))
    found.setdefault("max_255_characters", (checks.regex(r"(?s).{0,255}", "m"), False))
    return found


FIELD_RULES = _field_rules()


def _sql_verdicts(con: duckdb.DuckDBPyConnection, predicate: str, columns: dict) -> list[bool]:
    frame = pd.DataFrame(columns, dtype="string")
    con.register("frame", frame)
    try:
        return [bool(v) for (v,) in con.execute(f"SELECT {predicate} FROM frame").fetchall()]
    finally:
        con.unregister("frame")


@pytest.fixture(scope="module")
def con():
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")  # as the loader's staging connection
        yield connection


def test_the_field_rules_are_the_ones_the_specs_use():
    assert len(FIELD_RULES) >= 12  # the kinds, one_of, and Accengage's own
    assert len(VALUES) > 2000


@pytest.mark.parametrize("name", sorted(FIELD_RULES))
def test_a_field_rule_in_sql_gives_pandera_s_verdict(name, con):
    check, _ = FIELD_RULES[name]
    schema = pa.DataFrameSchema({"v": checks.text(check)})
    frame = pd.DataFrame({"v": VALUES}, dtype="string[pyarrow]")
    try:
        schema.validate(frame, lazy=True)
        failing: set[int] = set()
    except pa.errors.SchemaErrors as errors:
        failing = set(pandera_failures(errors, {})["record"].tolist())
    verdicts = _sql_verdicts(con, checks.check_sql(check, "v"), {"v": VALUES})
    sql_failing = {i for i, ok in enumerate(verdicts) if not ok}
    disagree = sorted(failing ^ sql_failing)
    assert not disagree, [(VALUES[i], i in failing) for i in disagree[:10]]
    assert 0 < len(failing) < len(VALUES)  # the values tell passing from failing


ROW_RULES = {r.name: r for spec in SPECS for r in spec.row_rules}


@pytest.mark.parametrize("name", sorted(ROW_RULES))
def test_a_row_rule_in_sql_gives_pandera_s_verdict(name, con):
    rule = ROW_RULES[name]
    rng = random.Random(SEED + 2)
    stamps = [v for v in EDGES if v and v[:2] in ("19", "20")]
    pool = [*[None] * 80, *stamps, *_timestamps(200)]
    columns = {c: [rng.choice(pool) for _ in range(3000)] for c in rule.columns}
    schema = pa.DataFrameSchema({c: checks.text() for c in rule.columns}, checks=[rule.check()])
    try:
        schema.validate(pd.DataFrame(columns, dtype="string[pyarrow]"), lazy=True)
        failing: set[int] = set()
    except pa.errors.SchemaErrors as errors:
        failing = set(pandera_failures(errors, {rule.name: rule.columns})["record"].tolist())
    verdicts = _sql_verdicts(con, rule.sql([quote_ident(c) for c in rule.columns]), columns)
    sql_failing = {i for i, ok in enumerate(verdicts) if not ok}
    disagree = sorted(failing ^ sql_failing)
    assert not disagree, [({c: columns[c][i] for c in columns}, i in failing) for i in disagree[:5]]
    assert 0 < len(failing) < 3000


@pytest.mark.parametrize("spec", SPECS, ids=[s.qualified_name for s in SPECS])
def test_every_rule_of_a_spec_has_its_sql(spec):
    """Each field's rules, its required rule and its row rules, and nothing else."""
    got = {(r.columns, r.name) for r in rules(spec)}
    expected = set()
    for name, column in spec.validation_schema.columns.items():
        if not column.nullable:
            expected.add(((name,), "not_nullable"))
        expected |= {((name,), c.name) for c in column.checks}
    expected |= {(r.columns, r.name) for r in spec.row_rules}
    assert got == expected and got


def test_a_rule_that_states_nothing_has_no_sql():
    with pytest.raises(TypeError, match="no SQL form"):
        checks.check_sql(pa.Check(lambda s: s.str.len() > 1, name="opaque"), "v")
