"""Everything the ASAPP source contributes to the code location."""

import dagster as dg

from platform_assets.defs.asapp.assets import assets
from platform_assets.defs.asapp.resources import resources
from platform_assets.defs.asapp.schedules import asapp_daily_schedule
from platform_assets.defs.asapp.sensors import asapp_new_files_sensor

defs = dg.Definitions(
    assets=assets,
    schedules=[asapp_daily_schedule],
    sensors=[asapp_new_files_sensor],
    resources=resources,
)
