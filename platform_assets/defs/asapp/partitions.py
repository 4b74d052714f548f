"""ASAPP's files are daily; a partition is the date in the file name."""

from platform_assets.lib.partitions import daily_file_partitions

asapp_daily_partitions = daily_file_partitions()
