"""Postscript tables as assets: one per spec in ``tables.TABLES`` (file patterns as configured by
``POSTSCRIPT_<TABLE>_FILE_PATTERN``), plus the SFTP files they read."""

from platform_assets.defs.postscript import tables
from platform_assets.defs.postscript.partitions import postscript_daily_partitions
from platform_assets.lib.factory import build_source_assets
from platform_assets.lib.settings import configured_tables

TABLES = configured_tables("POSTSCRIPT", tables.TABLES)
assets = build_source_assets(TABLES, postscript_daily_partitions)
