"""ASAPP tables as assets: one per spec in ``tables.TABLES`` (file patterns as configured by
``ASAPP_<TABLE>_FILE_PATTERN``), plus the SFTP files they read."""

from platform_assets.defs.asapp import tables
from platform_assets.defs.asapp.partitions import asapp_daily_partitions
from platform_assets.lib.factory import build_source_assets
from platform_assets.lib.settings import configured_tables

TABLES = configured_tables("ASAPP", tables.TABLES)
assets = build_source_assets(TABLES, asapp_daily_partitions)
