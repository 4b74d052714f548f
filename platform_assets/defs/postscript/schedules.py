"""Load yesterday's Postscript files every morning (stopped by default; start it in the UI)."""

from platform_assets.defs.postscript.assets import TABLES
from platform_assets.defs.postscript.partitions import postscript_daily_partitions
from platform_assets.lib.automation import build_daily_schedule

postscript_daily_schedule = build_daily_schedule("postscript", TABLES, postscript_daily_partitions)
