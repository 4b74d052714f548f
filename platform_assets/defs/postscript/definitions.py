"""Everything the Postscript source contributes to the code location."""

import dagster as dg

from platform_assets.defs.postscript.assets import assets
from platform_assets.defs.postscript.resources import resources
from platform_assets.defs.postscript.schedules import postscript_daily_schedule
from platform_assets.defs.postscript.sensors import postscript_new_files_sensor

defs = dg.Definitions(
    assets=assets,
    schedules=[postscript_daily_schedule],
    sensors=[postscript_new_files_sensor],
    resources=resources,
)
