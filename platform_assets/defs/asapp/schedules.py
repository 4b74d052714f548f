"""Load yesterday's ASAPP files every morning (stopped by default; start it in the UI)."""

from platform_assets.defs.asapp.assets import TABLES
from platform_assets.defs.asapp.partitions import asapp_daily_partitions
from platform_assets.lib.automation import build_daily_schedule

asapp_daily_schedule = build_daily_schedule("asapp", TABLES, asapp_daily_partitions)
