"""Accengage sends one file per app and day: partitions are (date, app).

The date is the vendor's GMT+1 day; the apps are ``ACCENGAGE_APP_IDS`` (comma-separated, read when
the code location loads; with none set the assets exist but have no partitions). One app's day
can be materialized or re-run on its own, and a backfill can select dates and apps.
"""

from platform_assets.defs.accengage.tables import PARTITION_TIMEZONE
from platform_assets.lib.partitions import app_file_partitions
from platform_assets.lib.settings import app_ids

accengage_partitions = app_file_partitions(app_ids("ACCENGAGE"), PARTITION_TIMEZONE)
