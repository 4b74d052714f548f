"""dbt on the DuckDB file: a dbt-duckdb plugin, named by the profile's default target, that
attaches the warehouse file as ``warehouse`` to every connection dbt opens.

The file's path comes from the dbt process's environment (:data:`WAREHOUSE_ENV`, which the models'
assets set for each invocation), never from the profile's text or dbt's vars: dbt hashes both
into its partial-parse state, so a path there made each new warehouse path (a new data folder, a
benchmark's temporary one) parse the whole project again. With the path here the profile and vars
are the same for every warehouse, and so is the parse.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

WAREHOUSE_ENV = "PLATFORM_DBT_WAREHOUSE"
"""The warehouse file's absolute path, in the environment of each dbt process."""
DBT_ALIAS = "warehouse"
"""The name dbt knows the warehouse by (the profile's ``database``): the same for every file."""
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "data" / "warehouse.duckdb"
"""Without :data:`WAREHOUSE_ENV` (``dbt build`` run by hand in the project): the demo's file."""


class Plugin(BasePlugin):
    """Attaches the file on dbt's connection (its cursors share the attachment)."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._path = Path(os.environ.get(WAREHOUSE_ENV) or DEFAULT_FILE)

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        path = str(self._path).replace("'", "''")
        conn.execute(f"ATTACH IF NOT EXISTS '{path}' AS {DBT_ALIAS}")
