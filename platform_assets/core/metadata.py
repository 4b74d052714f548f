"""Rows as Dagster table metadata (shown as a table in the UI): one statement for every flow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

Cell = str | int | float | None


def table_metadata(
    rows: Sequence[Mapping[str, Cell]], columns: Sequence[tuple[str, str]]
) -> dg.MetadataValue:
    """``rows`` (dicts) as a table of ``columns`` (name, Dagster type: ``string``, ``int``...)."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord({name: row[name] for name, _ in columns}) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns]),
    )
