"""Load each Postscript file as soon as it lands on the SFTP server (stopped by default)."""

from platform_assets.defs.postscript.assets import TABLES
from platform_assets.defs.postscript.partitions import postscript_daily_partitions
from platform_assets.lib.automation import build_new_file_sensor

postscript_new_files_sensor = build_new_file_sensor(
    "postscript", TABLES, postscript_daily_partitions
)
