"""The README's table list and the table specs agree; specs reject what they should."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandera.pandas as pa
import pytest

from platform_assets.core.specs import Column, TableSpec
from platform_assets.defs.attentive import CONVERSIONS, NOTIFICATIONS
from platform_assets.docs import all_specs, block

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_every_table_exactly_as_the_specs_say():
    assert block(all_specs()) in README.read_text(encoding="utf-8"), "run `make docs`"


def test_readme_opens_with_the_two_setup_commands():
    head = README.read_text(encoding="utf-8").split("\n## ")[0]
    assert "make demo" in head and "make test" in head


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("attentive_conversions_20261001.csv", dt.date(2026, 10, 1)),
        ("attentive_conversions_20261301.csv", None),  # no month 13
        ("attentive_conversions_2026101.csv", None),
        ("attentive_conversions_20261001.csv.gz.part", None),
        ("../attentive_conversions_20261001.csv", None),
        ("attentive_conversions_20261001.csv;DROP TABLE x", None),
        ("xattentive_conversions_20261001.csv", None),
    ],
)
def test_remote_names_must_match_the_pattern_exactly(name, expected):
    assert CONVERSIONS.file_date(name) == expected


def test_file_names_round_trip():
    day = dt.date(2026, 1, 9)
    assert NOTIFICATIONS.file_name(day) == "attentive_email_SMS_20260109.csv"
    assert NOTIFICATIONS.file_date(NOTIFICATIONS.file_name(day)) == day


def test_a_spec_refuses_unsafe_names_and_rules_gaps():
    schema = pa.DataFrameSchema({"a": pa.Column(str)})
    base = dict(
        source="s",
        schema="s",
        table="t",
        description="d",
        file_pattern="t_{YYYYMMDD}.csv",
        columns=(Column("a"),),
        key="a",
        row_schema=schema,
    )
    TableSpec(**base)
    with pytest.raises(ValueError, match="identifier"):
        TableSpec(**{**base, "table": 't"; DROP'})
    with pytest.raises(ValueError, match="YYYYMMDD"):
        TableSpec(**{**base, "file_pattern": "t.csv"})
    with pytest.raises(ValueError, match="no rule"):
        TableSpec(**{**base, "columns": (Column("a"), Column("b"))})


def test_nothing_in_the_package_or_its_tests_reads_the_steering_folder():
    """A user's clone has no ``../shared``: the vendor documents are cited by title, and what the
    platform needs of them is in the specs."""
    root = README.parent
    files = [
        *root.glob("platform_assets/**/*.py"),
        *root.glob("platform_assets_tests/**/*.py"),
        *root.glob("benchmarks/**/*.py"),
        root / "Makefile",
        root / ".ci" / "run",
    ]
    this = Path(__file__).resolve()
    readers = [
        str(f.relative_to(root))
        for f in files
        if f.resolve() != this and ("shared/seeds" in f.read_text() or "../shared" in f.read_text())
    ]
    assert len(files) > 50 and readers == []


def test_package_metadata_is_stated_once():
    """pyproject.toml's [project] holds the metadata; setup.cfg states none of it (setuptools
    warns at every install when both do)."""
    import configparser
    import tomllib

    root = README.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    cfg = configparser.ConfigParser()
    cfg.read(root / "setup.cfg")
    assert project["license"] == "Apache-2.0" and project["name"] == "platform-assets"
    stated_twice = {
        key
        for section in ("metadata", "options")
        if cfg.has_section(section)
        for key in cfg[section]
    }
    assert stated_twice == set()
