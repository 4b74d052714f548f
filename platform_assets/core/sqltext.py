"""Quoting for the SQL the platform writes (identifiers from specs, literals from settings and
rules): the one place these rules are stated."""


def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted (spec names are checked, this is belt and braces)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
