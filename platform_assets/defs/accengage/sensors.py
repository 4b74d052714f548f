"""Load each Accengage file (any configured app, plain or gzipped) as soon as it lands."""

from platform_assets.defs.accengage.assets import TABLES
from platform_assets.defs.accengage.partitions import accengage_partitions
from platform_assets.lib.automation import build_new_file_sensor

accengage_new_files_sensor = build_new_file_sensor("accengage", TABLES, accengage_partitions)
