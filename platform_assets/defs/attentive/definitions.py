"""Everything the Attentive source contributes to the code location."""

import dagster as dg

from platform_assets.defs.attentive.assets import assets
from platform_assets.defs.attentive.resources import resources
from platform_assets.defs.attentive.schedules import attentive_daily_schedule
from platform_assets.defs.attentive.sensors import attentive_new_files_sensor

defs = dg.Definitions(
    assets=assets,
    schedules=[attentive_daily_schedule],
    sensors=[attentive_new_files_sensor],
    resources=resources,
)
