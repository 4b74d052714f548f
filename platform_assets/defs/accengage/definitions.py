"""Everything the Accengage source contributes to the code location."""

import dagster as dg

from platform_assets.defs.accengage.assets import assets
from platform_assets.defs.accengage.resources import resources
from platform_assets.defs.accengage.schedules import accengage_daily_schedule
from platform_assets.defs.accengage.sensors import accengage_new_files_sensor

defs = dg.Definitions(
    assets=assets,
    schedules=[accengage_daily_schedule],
    sensors=[accengage_new_files_sensor],
    resources=resources,
)
