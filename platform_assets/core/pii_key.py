"""The rule for ``PLATFORM_PII_KEY``, the secret of the keyed hash that hides phones, emails and
client ids in the marts. A module of its own, importing nothing heavy: the dbt process's plugin
(:mod:`platform_assets.models.pii`) applies it on its first connection, and importing the
settings there would cost each dbt invocation Dagster's import (~1.4 s)."""

from __future__ import annotations

from collections.abc import Mapping

from platform_assets.core.errors import SettingsError

PII_KEY = "PLATFORM_PII_KEY"
MIN_LENGTH = 16


def pii_key(env: Mapping[str, str]) -> bytes:
    """``PLATFORM_PII_KEY`` of ``env`` (read where it is used: the dbt process; never logged)."""
    key = env.get(PII_KEY, "")
    if len(key) < MIN_LENGTH:
        raise SettingsError(
            f"{PII_KEY} must be set to a secret of at least {MIN_LENGTH} characters (the key of "
            "the hash that hides phones, emails and client ids in the marts)"
        )
    return key.encode()
