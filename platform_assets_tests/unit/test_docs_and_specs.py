"""The docs and the code agree (generated tables, every setting, every link, a short README);
specs reject what they should."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest
from dagster._config.field_utils import IntEnvVar  # what dg.EnvVar.int makes

from platform_assets.compose import build_definitions
from platform_assets.core import checks
from platform_assets.core.kinds import INTEGER
from platform_assets.core.settings import Settings
from platform_assets.core.specs import Column, KeyPart, Md5Key, TableSpec
from platform_assets.core.validation import _failures_frame
from platform_assets.core.variables import VARIABLES
from platform_assets.defs import VENDOR_SOURCES
from platform_assets.defs.attentive import CONVERSIONS, NOTIFICATIONS
from platform_assets.docs import all_specs, block, config_block

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def _pages() -> list[Path]:
    """Every page of the documentation: the README, docs/ and the benchmarks' README."""
    return [README, *sorted(DOCS.glob("*.md")), ROOT / "benchmarks" / "README.md"]


def test_the_docs_list_every_table_exactly_as_the_specs_say():
    assert block(all_specs()) in (DOCS / "tables.md").read_text(encoding="utf-8"), "make docs"


def test_the_docs_list_every_setting_as_the_code_states_it():
    assert config_block() in (DOCS / "configuration.md").read_text(encoding="utf-8"), "make docs"


class Recording(dict):
    """An environment that records every variable read from it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key, default=None):  # noqa: ANN001, ANN201
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        self.read.add(key)
        return super().__getitem__(key)


def _env_vars(value: object) -> Iterator[str]:
    """The names of the ``dg.EnvVar``s a resource holds (resolved at run time, not at load)."""
    if isinstance(value, dg.EnvVar | IntEnvVar):
        yield value.env_var_name
    elif isinstance(value, dg.ConfigurableResource):
        for field in vars(value).values():
            yield from _env_vars(field)


def test_every_variable_the_platform_reads_is_documented():
    """Everything configured (every vendor, apps, deliveries, loyalty): each variable read when
    the definitions load, and each one bound as a ``dg.EnvVar``, is in the documented list."""
    env = Recording(
        {
            "ACCENGAGE_APP_IDS": "ios,android",
            "ACCENGAGE_MEMBER_ID_COLUMNS": "android=client_ref",
            "ASAPP_DELIVERY_SFTP_USERNAME": "brand",
            "ACCENGAGE_DELIVERY_SFTP_USERNAME": "brand",
            "ATTENTIVE_API_TOKEN": "t" * 20,
            "ATTENTIVE_SFTP_PORT": "2222",
            "ASAPP_SFTP_PRIVATE_KEY_PATH": "/k",
            "PLATFORM_PII_KEY": "k" * 16,
        }
    )
    settings = Settings.from_env(env)
    defs = build_definitions(VENDOR_SOURCES, settings)
    assert settings.pii_key() == b"k" * 16  # read by the dbt process (models/pii.py)
    bound = {name for r in (defs.resources or {}).values() for name in _env_vars(r)}
    # and the warehouse on a lake (its catalog and data path)
    lake_env = Recording(
        {
            "PLATFORM_WAREHOUSE": "ducklake",
            "PLATFORM_LAKE_CATALOG_HOST": "catalog.internal",
            "PLATFORM_LAKE_CATALOG_PORT": "5433",
            "PLATFORM_LAKE_CATALOG_DB": "lake",
            "PLATFORM_LAKE_CATALOG_USER": "platform",
            "PLATFORM_LAKE_CATALOG_PASSWORD": "p" * 12,
            "PLATFORM_LAKE_DATA_PATH": "/shared/lake",
            # and its runs on Celery workers
            "PLATFORM_EXECUTOR": "celery",
            "PLATFORM_CELERY_BROKER": "redis://:secret@redis.internal:6379/0",
        }
    )
    on_lake = Settings.from_env(lake_env)
    bound |= set(_env_vars(on_lake.warehouse()))
    env.read |= lake_env.read
    prefixes = tuple(s.prefix for s in VENDOR_SOURCES)
    documented = [v.pattern(prefixes) for v in VARIABLES]
    names = env.read | bound
    undocumented = sorted(n for n in names if not any(p.fullmatch(n) for p in documented))
    assert len(env.read) > 40 and len(bound) > 10 and undocumented == []
    never_read = [
        v.names for v in VARIABLES if not any(v.pattern(prefixes).fullmatch(n) for n in names)
    ]
    assert never_read == [], "documented but never read"


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as ``-``."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_link_in_the_docs_resolves():
    pages = _pages()
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor:
                headings = re.findall(r"(?m)^#+ (.+)$", file.read_text(encoding="utf-8"))
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{page.name}: {target}")
    assert len(pages) >= 10 and broken == []


TEST_FILE = re.compile(r"\b(?:platform_assets_tests/[\w/]+/)?(test_\w+\.py)\b")


def test_every_test_file_the_docs_name_exists():
    """A page that names a test file (the README's promises, the docs' figures) names one that
    is there: a renamed test leaves no page pointing at nothing."""
    pages = _pages()
    tests = {p.name for p in (ROOT / "platform_assets_tests").rglob("test_*.py")}
    named = {
        (page.name, name)
        for page in pages
        for name in TEST_FILE.findall(page.read_text(encoding="utf-8"))
    }
    assert len(named) > 20 and sorted(n for n in named if n[1] not in tests) == []


def test_the_readme_is_short_and_links_every_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    linked = set(LINK.findall(text))
    assert {f"docs/{p.name}" for p in DOCS.glob("*.md")} <= linked


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


def test_a_spec_refuses_unsafe_names_and_undeclared_fields():
    base = dict(
        source="s",
        schema="s",
        table="t",
        description="d",
        file_pattern="t_{YYYYMMDD}.csv",
        columns=(Column("a", INTEGER, required=True), Column("b", source="B")),
        key="a",
    )
    assert TableSpec(**base).row_schema.columns["a"].nullable is False
    with pytest.raises(ValueError, match="identifier"):
        TableSpec(**{**base, "table": 't"; DROP'})
    with pytest.raises(ValueError, match="YYYYMMDD"):
        TableSpec(**{**base, "file_pattern": "t.csv"})
    with pytest.raises(ValueError, match="declared twice"):
        TableSpec(**{**base, "columns": (Column("a"), Column("c", source="a"))})
    with pytest.raises(ValueError, match="undeclared fields"):
        TableSpec(**{**base, "row_rules": (checks.one_of_present("a", "x"),)})
    with pytest.raises(ValueError, match="key parts"):
        TableSpec(**{**base, "columns": (*base["columns"], Md5Key("k", (KeyPart("z"),)))})


def test_a_field_declared_once_gives_its_column_and_its_rule():
    """The field's kind types the column and rules the text; required and extra rules join it;
    a row rule is reported under the fields it reads only."""
    spec = TableSpec(
        source="s",
        schema="s",
        table="t",
        description="d",
        file_pattern="t_{YYYYMMDD}.csv",
        columns=(
            Column("a", INTEGER, required=True),
            Column("b", source="B", rules=(checks.one_of("x", "y"),)),
            Column("c"),
            Column("d"),
        ),
        key="a",
        row_rules=(checks.one_of_present("c", "d"),),
    )
    assert [c.type for c in spec.loaded_columns] == ["BIGINT", "VARCHAR", "VARCHAR", "VARCHAR"]
    frame = pd.DataFrame(
        {"a": ["1", "x", None], "B": ["x", "z", "y"], "c": ["1", None, None], "d": [None] * 3},
        dtype="string[pyarrow]",
    )
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        spec.row_schema.validate(frame, lazy=True)
    failures = _failures_frame(caught.value, spec.row_rule_columns)
    got = sorted(zip(failures["record"], failures["column"], failures["rule"], strict=True))
    assert got == [
        (1, "B", "one_of(x,y)"),
        (1, "a", "integer"),
        (1, "c", "one_of_present(c,d)"),
        (1, "d", "one_of_present(c,d)"),
        (2, "a", "not_nullable"),
        (2, "c", "one_of_present(c,d)"),
        (2, "d", "one_of_present(c,d)"),
    ]
    assert spec.ruled_columns == ("a", "B", "c", "d")


def test_nothing_in_the_package_or_its_tests_reads_the_steering_folder():
    """A user's clone has no ``../shared``: the vendor documents are cited by title, and what the
    platform needs of them is in the specs."""
    root = ROOT
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

    root = ROOT
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
