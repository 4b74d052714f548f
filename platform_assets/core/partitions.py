"""Partitions keyed by the date in a vendor file's name (``YYYY-MM-DD``), and by the app for
vendors that send one file per app (a second, static dimension)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import dagster as dg

DATE_DIMENSION = "date"
APP_DIMENSION = "app"


def daily_file_partitions(start_date: str, timezone: str = "UTC") -> dg.DailyPartitionsDefinition:
    """One partition per file date from ``start_date`` up to and including today.

    Today is included (``end_offset=1``) because vendors drop a day's file during that day; the
    new-file sensor loads it as soon as it lands. ``timezone`` is the vendor's day.
    """
    return dg.DailyPartitionsDefinition(start_date=start_date, end_offset=1, timezone=timezone)


def app_file_partitions(
    app_ids: Sequence[str], start_date: str, timezone: str = "UTC"
) -> dg.MultiPartitionsDefinition:
    """(date, app) partitions: one file per app and day, so one app's day can be re-run alone."""
    return dg.MultiPartitionsDefinition(
        {
            DATE_DIMENSION: daily_file_partitions(start_date, timezone),
            APP_DIMENSION: dg.StaticPartitionsDefinition(list(app_ids)),
        }
    )


def date_partitions(partitions_def: dg.PartitionsDefinition) -> dg.PartitionsDefinition:
    """The date dimension of a (date, app) partitions definition, or the definition itself."""
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return partitions_def.get_partitions_def_for_dimension(DATE_DIMENSION)
    return partitions_def


def partition_key_for(day: dt.date, app: str | None) -> str | dg.MultiPartitionKey:
    if app is None:
        return day.isoformat()
    return dg.MultiPartitionKey({DATE_DIMENSION: day.isoformat(), APP_DIMENSION: app})


def parse_partition_key(key: str) -> tuple[dt.date, str | None]:
    """The file date and app of a partition key (``2026-10-01`` or a multi-partition key)."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return dt.date.fromisoformat(dims[DATE_DIMENSION]), dims[APP_DIMENSION]
    if "|" in key:  # a multi-partition key as a string: dimensions in name order (app|date)
        app, day = key.split("|", 1)
        return dt.date.fromisoformat(day), app
    return dt.date.fromisoformat(key), None
