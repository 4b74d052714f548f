"""dbt on the lake: a dbt-duckdb plugin, named by the profile's ``lake`` target, that attaches
the lake to every connection dbt opens, the way the loads attach it (:mod:`platform_assets.core
.lake`: the extensions from their wheels, the catalog's password in a DuckDB secret, never in SQL
text dbt logs). dbt-duckdb calls plugins before its own ``attach:`` list, so the profile's entry
for the alias (there for dbt-duckdb to know the database is a DuckLake) finds it attached.

The lake is the one the ``PLATFORM_LAKE_*`` variables of dbt's environment name: the code
location's, which dagster-dbt hands to dbt.
"""

from __future__ import annotations

import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from platform_assets.core import lake


class Plugin(BasePlugin):
    """Attaches the lake as ``lake`` (:data:`~platform_assets.core.lake.DBT_ALIAS`) on each
    connection; the variables are read when dbt first connects (``dbt parse`` never does)."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._catalog: lake.LakeCatalog | None = None

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        if self._catalog is None:
            self._catalog = lake.catalog_from_env(os.environ)
        lake.attach(conn, self._catalog, lake.DBT_ALIAS)
