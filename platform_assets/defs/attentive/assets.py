"""Attentive tables as assets: one per spec in ``tables.TABLES``, plus the SFTP files they read."""

from platform_assets.defs.attentive.partitions import attentive_daily_partitions
from platform_assets.defs.attentive.tables import TABLES
from platform_assets.lib.factory import build_source_assets

assets = build_source_assets(TABLES, attentive_daily_partitions)
