"""Load each ASAPP file as soon as it lands on the SFTP server (stopped by default)."""

from platform_assets.defs.asapp.assets import TABLES
from platform_assets.defs.asapp.partitions import asapp_daily_partitions
from platform_assets.lib.automation import build_new_file_sensor

asapp_new_files_sensor = build_new_file_sensor("asapp", TABLES, asapp_daily_partitions)
