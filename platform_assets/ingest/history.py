"""A vendor's one-off historical file as a job: ``<vendor>_history_job`` downloads the file once,
validates it whole, splits it by day and loads the days in order through the daily path, each
day its own transaction, reported as a materialization (and checks) of that day's partition.

Launch it from the UI (Jobs -> ``attentive_history_job`` -> Launchpad) or the CLI with::

    ops:
      load_attentive_history:
        config: {table: conversions, file_name: attentive_conversions_history_2024.csv}
"""

import dataclasses
from collections.abc import Iterator

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from platform_assets.core.errors import LoadError
from platform_assets.core.partitions import date_partitions
from platform_assets.core.sources import ConfiguredSource
from platform_assets.core.transport.failures import SFTPError
from platform_assets.core.transport.files import FileSource, LocalFolderResource
from platform_assets.core.warehouse import WAREHOUSE_POOL, WAREHOUSE_RESOURCE
from platform_assets.core.warehouse_resource import warehouse_of
from platform_assets.ingest.loader.history import prepared_history
from platform_assets.ingest.loader.model import LoadRequest
from platform_assets.ingest.loader.partition import load_partitions
from platform_assets.ingest.reporting import report_loads


class HistoryConfig(dg.Config):
    """What a history run loads."""

    table: str = Field(description="The table the historical file holds (e.g. conversions).")
    file_name: str = Field(
        description="The historical file's name in the source's SFTP folder (it starts like the "
        "table's daily files, e.g. attentive_conversions_history_2024.csv)."
    )


def build_history_job(source: ConfiguredSource) -> dg.JobDefinition | None:
    """The source's history job, or None when the vendor sends no historical files."""
    day_columns = dict(source.source.history_day_columns)
    if not day_columns:
        return None
    specs = {t.table: t for t in source.tables if t.table in day_columns}
    sftp_key = source.source.sftp_resource_key
    tables = tuple(specs)

    @dg.op(
        name=f"load_{source.name}_history",
        required_resource_keys={sftp_key, WAREHOUSE_RESOURCE},
        pool=WAREHOUSE_POOL,
        out={},  # what it does is reported as the table's materializations, day by day
        tags={"vendor": source.name},
        description=f"Load a {source.name} historical file (many days in one file) day by day.",
    )
    def _load_history(
        context: dg.OpExecutionContext, config: HistoryConfig
    ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
        if config.table not in specs:
            raise dg.Failure(
                f"table {config.table!r}: {source.name} sends historical files of "
                f"{list(tables)} only",
                allow_retries=False,
            )
        spec = specs[config.table]
        files: FileSource = getattr(context.resources, sftp_key)
        warehouse: DuckDBResource = getattr(context.resources, WAREHOUSE_RESOURCE)
        try:
            with prepared_history(
                spec,
                config.file_name,
                day_columns[config.table],
                source.source.timezone,
                files,
                source.loader,
            ) as history:
                known = set(date_partitions(source.partitions_def).get_partition_keys())
                outside = sorted(d.isoformat() for d in history.days if d.isoformat() not in known)
                if outside:
                    raise LoadError(
                        f"{history.download.remote.path}: rows of {len(outside)} days outside "
                        f"the partitions ({outside[0]} .. {outside[-1]}); set "
                        "PLATFORM_START_DATE earlier (nothing was loaded)"
                    )
                context.log.info(
                    "%s: %d rows over %d days (%s .. %s)",
                    history.download.remote.path,
                    history.rows,
                    len(history.days),
                    min(history.days, default="-"),
                    max(history.days, default="-"),
                )
                requests = [
                    LoadRequest(spec, day, run_id=context.run.run_id) for day in history.days
                ]
                results = load_partitions(
                    requests,
                    LocalFolderResource(remote_dir=str(history.folder)),
                    warehouse_of(warehouse),
                    # the days are parts of the archived historical file, not vendor files
                    settings=dataclasses.replace(source.loader, archive_dir=None),
                    log=context.log,
                )
                yield from report_loads(
                    context,
                    source,
                    spec,
                    requests,
                    results,
                    arrival=False,
                    metadata={"history_file": history.download.remote.path},
                )
        except (LoadError, SFTPError) as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None

    @dg.job(
        name=f"{source.name}_history_job",
        description=f"Load a {source.name} historical file (many days in one file): validated "
        "whole, split by day, each day loaded in its own transaction.",
        executor_def=dg.in_process_executor,
        tags={"vendor": source.name},
    )
    def _job() -> None:
        _load_history()

    return _job
