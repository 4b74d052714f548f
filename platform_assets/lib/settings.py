"""The configuration contract: environment variables, read through ``dg.EnvVar``.

Required settings are always bound as ``dg.EnvVar`` so a run that needs one that is unset fails
with Dagster's message naming the variable. Optional settings (password *or* key, passphrase,
port) are bound as ``dg.EnvVar`` when present in the code location's environment and fall back to
their defaults otherwise; their values are resolved at run time and never shown in the UI.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from platform_assets.lib.sftp import SFTPResource
from platform_assets.lib.specs import APP_ID, TableSpec

VENDOR_PREFIXES = ("ATTENTIVE", "POSTSCRIPT", "ASAPP", "ACCENGAGE")
DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"
DEFAULT_START_DATE = "2024-01-01"


def _optional(name: str) -> dg.EnvVar | None:
    return dg.EnvVar(name) if os.environ.get(name) else None


def sftp_from_env(prefix: str) -> SFTPResource:
    """The SFTP resource of one vendor source from ``<prefix>_SFTP_*`` variables."""
    port = dg.EnvVar.int(f"{prefix}_SFTP_PORT") if os.environ.get(f"{prefix}_SFTP_PORT") else 22
    policy = os.environ.get(f"{prefix}_SFTP_HOST_KEY_POLICY", "strict")
    return SFTPResource(
        host=dg.EnvVar(f"{prefix}_SFTP_HOST"),
        port=port,
        username=dg.EnvVar(f"{prefix}_SFTP_USERNAME"),
        password=_optional(f"{prefix}_SFTP_PASSWORD"),
        private_key_path=_optional(f"{prefix}_SFTP_PRIVATE_KEY_PATH"),
        private_key_passphrase=_optional(f"{prefix}_SFTP_PRIVATE_KEY_PASSPHRASE"),
        known_hosts=_optional(f"{prefix}_SFTP_KNOWN_HOSTS"),
        host_key_policy=policy,  # type: ignore[arg-type]  # validated by pydantic
        remote_dir=_optional(f"{prefix}_SFTP_REMOTE_DIR") or ".",
        env_prefix=prefix,
    )


def duckdb_path() -> str:
    return os.environ.get("DUCKDB_PATH") or DEFAULT_DUCKDB_PATH


def warehouse_from_env() -> DuckDBResource:
    """The DuckDB warehouse file (``DUCKDB_PATH``, default ``data/warehouse.duckdb``)."""
    if os.environ.get("DUCKDB_PATH"):
        return DuckDBResource(database=dg.EnvVar("DUCKDB_PATH"))
    Path(DEFAULT_DUCKDB_PATH).parent.mkdir(parents=True, exist_ok=True)
    return DuckDBResource(database=DEFAULT_DUCKDB_PATH)


def start_date() -> str:
    """First daily partition (``PLATFORM_START_DATE``, ``YYYY-MM-DD``, default 2024-01-01)."""
    value = os.environ.get("PLATFORM_START_DATE") or DEFAULT_START_DATE
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"PLATFORM_START_DATE must be a date as YYYY-MM-DD, got {value!r}"
        ) from None
    return value


def app_ids(prefix: str) -> list[str]:
    """The vendor's app ids (``<prefix>_APP_IDS``, comma-separated), checked: an app id stands
    in remote file names, so only letters, digits and ``-`` are accepted."""
    raw = os.environ.get(f"{prefix}_APP_IDS", "")
    ids = [a.strip() for a in raw.split(",") if a.strip()]
    bad = [a for a in ids if not APP_ID.match(a)]
    if bad:
        raise ValueError(f"{prefix}_APP_IDS: {bad} are not app ids (letters, digits, '-')")
    return list(dict.fromkeys(ids))


def column_names_by_app(prefix: str, column: str) -> dict[str, dict[str, str]]:
    """Per-app header of a documented column (``<prefix>_<COLUMN>_COLUMNS``, ``app=header,...``),
    e.g. ``ACCENGAGE_MEMBER_ID_COLUMNS="6=member_id,7=customer_ref"``."""
    variable = f"{prefix}_{column.upper()}_COLUMNS"
    result: dict[str, dict[str, str]] = {}
    for item in filter(None, (i.strip() for i in os.environ.get(variable, "").split(","))):
        app, sep, header = (p.strip() for p in item.partition("="))
        if not sep or not APP_ID.match(app) or not header:
            raise ValueError(f"{variable}: {item!r} is not app=header")
        result[app] = {column: header}
    return result


def file_pattern(prefix: str, table: str) -> str | None:
    """A table's file pattern override (``<prefix>_<TABLE>_FILE_PATTERN``), if set."""
    return os.environ.get(f"{prefix}_{table.upper()}_FILE_PATTERN") or None


def configured_tables(prefix: str, tables: tuple[TableSpec, ...]) -> tuple[TableSpec, ...]:
    """The source's table specs with their file patterns as configured (per-table setting)."""
    return tuple(t.with_file_pattern(file_pattern(prefix, t.table)) for t in tables)
