"""Load each Attentive file as soon as it lands on the SFTP server (stopped by default)."""

from platform_assets.defs.attentive.partitions import attentive_daily_partitions
from platform_assets.defs.attentive.tables import TABLES
from platform_assets.lib.automation import build_new_file_sensor

attentive_new_files_sensor = build_new_file_sensor("attentive", TABLES, attentive_daily_partitions)
