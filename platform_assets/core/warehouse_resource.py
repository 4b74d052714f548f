"""The warehouse as a Dagster resource: dagster-duckdb's ``DuckDBResource`` (the DuckDB file),
or on a lake the catalog and data path instead (:meth:`Settings.warehouse
<platform_assets.core.settings.Settings.warehouse>` builds it from the environment), and where
its tables are for the loaders and writers (:func:`warehouse_of`)."""

from __future__ import annotations

from dagster_duckdb import DuckDBResource

from platform_assets.core.lake import LakeCatalog
from platform_assets.core.warehouse import Warehouse


class WarehouseResource(DuckDBResource):
    """The warehouse every flow writes: dagster-duckdb's resource (``database``: the DuckDB
    file), and on ``backend="ducklake"`` the lake's catalog and data path instead."""

    backend: str = "duckdb"
    lake_host: str | None = None
    lake_port: int = 5432
    lake_database: str | None = None
    lake_user: str | None = None
    lake_password: str | None = None
    lake_data_path: str | None = None

    def target(self) -> Warehouse:
        """Where the tables are, for the loaders and writers (:mod:`.warehouse`)."""
        if self.backend != "ducklake":
            return Warehouse(path=self.database)
        return Warehouse(
            lake=LakeCatalog(
                host=self.lake_host or "",
                port=self.lake_port,
                database=self.lake_database or "",
                user=self.lake_user or "",
                password=self.lake_password or "",
                data_path=self.lake_data_path or "",
            )
        )


def warehouse_of(resource: DuckDBResource) -> Warehouse:
    """Where ``resource``'s tables are: a :class:`WarehouseResource`'s target, or a plain
    ``DuckDBResource``'s file."""
    if isinstance(resource, WarehouseResource):
        return resource.target()
    return Warehouse(path=resource.database)
