"""Accengage tables as assets, partitioned by (date, app), plus the SFTP files they read.

File patterns: ``ACCENGAGE_<TABLE>_FILE_PATTERN`` (with ``{APP_ID}`` and ``{YYYYMMDD}``); the
client-id column of each app: ``ACCENGAGE_MEMBER_ID_COLUMNS`` (``app=header,...``).
"""

from platform_assets.defs.accengage import tables
from platform_assets.defs.accengage.partitions import accengage_partitions
from platform_assets.lib.factory import build_source_assets
from platform_assets.lib.settings import column_names_by_app, configured_tables

TABLES = configured_tables("ACCENGAGE", tables.TABLES)
MEMBER_ID_COLUMNS = column_names_by_app("ACCENGAGE", tables.MEMBER_ID)
assets = build_source_assets(TABLES, accengage_partitions, MEMBER_ID_COLUMNS)
