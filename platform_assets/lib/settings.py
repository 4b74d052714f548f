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
