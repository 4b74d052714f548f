"""Daily partitions keyed by the date in a vendor file's name (``YYYY-MM-DD``)."""

from __future__ import annotations

import dagster as dg

from platform_assets.lib.settings import start_date


def daily_file_partitions() -> dg.DailyPartitionsDefinition:
    """One partition per file date from ``PLATFORM_START_DATE`` up to and including today (UTC).

    Today is included (``end_offset=1``) because vendors drop a day's file during that day; the
    new-file sensor loads it as soon as it lands.
    """
    return dg.DailyPartitionsDefinition(start_date=start_date(), end_offset=1, timezone="UTC")
