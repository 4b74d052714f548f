"""Load every app's files of the previous GMT+1 day at 06:00 GMT+1 (Accengage exports between
01:00 and 04:00 GMT+1); stopped by default."""

from platform_assets.defs.accengage.assets import TABLES
from platform_assets.defs.accengage.partitions import accengage_partitions
from platform_assets.lib.automation import build_daily_schedule

accengage_daily_schedule = build_daily_schedule(
    "accengage", TABLES, accengage_partitions, cron="0 6 * * *"
)
