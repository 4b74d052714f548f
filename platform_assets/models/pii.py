"""Keyed hashing of personal identifiers (phone, email, client ids) for the dbt models.

A dbt-duckdb plugin (named in the dbt profile): on every connection dbt opens, it sets the DuckDB
variables ``platform_pii_ipad`` and ``platform_pii_opad`` (the HMAC-SHA256 pads of
``PLATFORM_PII_KEY``), so the ``pii_hash`` macro computes HMAC-SHA256 in SQL, vectorized, and the
key never appears in SQL text, compiled files or logs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from platform_assets.core.pii_key import pii_key

BLOCK = 64  # SHA-256's block size


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer pads of ``key`` (RFC 2104), for SHA-256."""
    if len(key) > BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def pii_hash(key: bytes, value: str) -> str:
    """The hex HMAC-SHA256 of ``value`` (what the ``pii_hash`` macro computes in SQL)."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


class Plugin(BasePlugin):
    """Sets the pads on each dbt connection and on each of its cursors (a DuckDB variable lives
    in one connection, and dbt-duckdb runs its statements on cursors). The key is read once, when
    dbt first connects: ``PLATFORM_PII_KEY`` of the dbt process's environment (the code
    location's, which dagster-dbt hands to dbt), checked by the platform's one rule for it
    (:mod:`platform_assets.core.pii_key`; importing the settings here would cost dbt
    Dagster's import)."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._pads: tuple[bytes, bytes] | None = None  # on the first connection (not on parse)

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        self.configure_cursor(conn)

    def configure_cursor(self, cursor: DuckDBPyConnection) -> None:
        if self._pads is None:
            self._pads = hmac_pads(pii_key(os.environ))
        inner, outer = self._pads
        cursor.execute("SET VARIABLE platform_pii_ipad = ?", [inner])
        cursor.execute("SET VARIABLE platform_pii_opad = ?", [outer])
