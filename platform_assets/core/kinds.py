"""The field vocabulary the vendor files share: each kind is a DuckDB type and the rule the text
must pass first. A vendor module declares its fields with these (``Column("amount", MONEY)``);
a kind only one vendor writes (Accengage's ``0``/``1`` flags) is a :class:`Kind` of its own."""

from __future__ import annotations

from dataclasses import dataclass

import pandera.pandas as pa

from platform_assets.core import checks


@dataclass(frozen=True)
class Kind:
    """A kind of CSV field: the DuckDB type its text is cast to, and the rule the text must pass
    first (None: any text). The shared ones follow."""

    type: str = "VARCHAR"
    rule: pa.Check | None = None
    utc_offset: str | None = None
    """For TIMESTAMP text without an offset: the vendor's fixed offset (e.g. ``+01:00``)."""
    decimal_comma: bool = False
    """Numbers written with a decimal comma (``48,869``)."""


TEXT = Kind()


__all__ = [
    "ANY_BOOLEAN",
    "EMAIL",
    "INTEGER",
    "MONEY",
    "NUMBER",
    "PHONE",
    "TEXT",
    "TIMESTAMP",
    "TRUE_FALSE",
    "UTC_TIMESTAMP",
    "Kind",
]

INTEGER = Kind("BIGINT", checks.integer())
"""A whole number that fits BIGINT."""
MONEY = Kind("DECIMAL(18,4)", checks.decimal(14, 4))
"""An amount, exact: at most 14 digits before the point and 4 after."""
NUMBER = Kind("DOUBLE", checks.number())
"""A measurement (not money): a decimal number, exponent form allowed."""
TIMESTAMP = Kind("TIMESTAMP", checks.iso_timestamp())
"""ISO 8601 date and time, any offset (none: UTC); stored as UTC."""
UTC_TIMESTAMP = Kind("TIMESTAMP", checks.utc_timestamp())
"""ISO 8601 date and time that says it is UTC (``Z`` or a zero offset)."""
TRUE_FALSE = Kind("BOOLEAN", checks.boolean("true", "false"))
"""Exactly ``true`` or ``false``."""
ANY_BOOLEAN = Kind("BOOLEAN", checks.boolean_any())
"""A warehouse export's boolean: true/false, t/f or 1/0, any case."""
PHONE = Kind("VARCHAR", checks.phone())
"""A phone number in E.164 form."""
EMAIL = Kind("VARCHAR", checks.email())
"""An email address."""
