"""Load yesterday's Attentive files every morning (stopped by default; start it in the UI)."""

from platform_assets.defs.attentive.partitions import attentive_daily_partitions
from platform_assets.defs.attentive.tables import TABLES
from platform_assets.lib.automation import build_daily_schedule

attentive_daily_schedule = build_daily_schedule("attentive", TABLES, attentive_daily_partitions)
