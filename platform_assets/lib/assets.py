"""A configured vendor source's tables as Dagster assets: each table's asset with its blocking
pandera check, and the external assets that stand for the vendor's files on SFTP (lineage)."""

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from platform_assets.lib.files import FileSource
from platform_assets.lib.loader.model import (
    LoadError,
    LoaderSettings,
    LoadResult,
    RejectsExceeded,
    RemoteFileChanged,
    WarehouseBusy,
)
from platform_assets.lib.loader.partition import load_partition
from platform_assets.lib.loader.warehouse import LINEAGE_COLUMNS
from platform_assets.lib.partitions import parse_partition_key
from platform_assets.lib.sftp import SFTPError, SFTPTransientError
from platform_assets.lib.sources import ConfiguredSource
from platform_assets.lib.specs import (
    APP_TOKEN,
    DATE_TOKEN,
    PARTITION_FIELDS,
    Extras,
    Md5Key,
    TableSpec,
)

SCHEMA_CHECK = "pandera_schema"
VOLUME_CHECK = "file_volume"
WAREHOUSE_POOL = "duckdb_warehouse"
WAREHOUSE_RESOURCE = "duckdb"


class LoadConfig(dg.Config):
    """Run configuration of a table load (set it in the launchpad to override the spec)."""

    reject_tolerance: float | None = Field(
        default=None,
        ge=0.0,
        lt=1.0,
        description="Share of a file's rows that may be rejected without failing the partition "
        "(the valid rows load, the check warns). Default: the table spec's (0: none).",
    )


def remote_file_key(spec: TableSpec) -> dg.AssetKey:
    """The external asset that stands for the vendor's files on the SFTP server (lineage)."""
    stem = re.sub(r"\{[^}]*\}", "", spec.file_pattern.split(".")[0])
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_")
    return dg.AssetKey(["sftp", spec.source, stem])


def remote_file_spec(spec: TableSpec) -> dg.AssetSpec:
    pattern = spec.file_pattern.replace(DATE_TOKEN, "YYYYMMDD").replace(APP_TOKEN, "{app-id}")
    per = "app and day" if spec.has_app else "day"
    gz = " (or .gz)" if spec.gzip_variant else ""
    return dg.AssetSpec(
        key=remote_file_key(spec),
        description=(
            f"{spec.source} SFTP export {pattern}{gz}, one file per {per} in "
            f"{spec.source.upper()}_SFTP_REMOTE_DIR (external; read-only)."
        ),
        group_name=spec.source,
        kinds={"sftp", "csv"},
        owners=[f"team:{spec.source}"],
        metadata={"file_pattern": spec.file_pattern, "document": spec.document},
    )


def column_schema(spec: TableSpec) -> dg.TableSchema:
    cols = []
    for c in spec.columns:
        if isinstance(c, Md5Key):
            desc = f"{c.formula}. {c.description}".strip()
        elif isinstance(c, Extras) or c.csv_name in PARTITION_FIELDS:
            desc = c.description
        else:
            desc = f"CSV column {c.csv_name}. {c.description}".strip()
        cols.append(dg.TableColumn(c.name, c.type, description=desc))
    cols += [dg.TableColumn(n, t, description=d) for n, t, d in LINEAGE_COLUMNS]
    return dg.TableSchema(columns=cols)


def _materialization_metadata(
    spec: TableSpec, result: LoadResult, app_id: str | None
) -> dict[str, Any]:
    remote = result.download.remote
    return {
        "dagster/table_name": spec.qualified_name,
        "dagster/row_count": result.partition_rows,
        "dagster/column_schema": column_schema(spec),
        "source_path": remote.path,
        "source_size_bytes": remote.size,
        "source_mtime": dg.MetadataValue.timestamp(float(remote.mtime)),
        "source_sha256": result.download.sha256,
        "rows_read": result.rows_read,
        "rows_rejected": result.rows_rejected,
        "rows_deduplicated": result.duplicates_dropped,
        "rows_inserted": result.rows_inserted,
        "rows_updated": result.rows_updated,
        "rows_unchanged": result.rows_unchanged,
        "rows_skipped_newer_in_table": result.rows_skipped_older,
        "table_rows_total": result.table_rows,
        "extra_csv_columns": dg.MetadataValue.json(result.extra_columns),
        **({"app_id": app_id} if app_id else {}),
        **({"inflated_bytes": result.inflated_bytes} if result.inflated_bytes else {}),
        "loaded_from": "raw archive (the vendor no longer has the file)"
        if result.from_archive
        else "vendor",
        **({"archive_path": result.archive_path} if result.archive_path else {}),
        **{f"seconds_{k.removesuffix('_s')}": round(v, 3) for k, v in result.timings.items()},
    }


def _check_result(spec: TableSpec, result: LoadResult) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=spec.asset_key,
        check_name=SCHEMA_CHECK,
        passed=result.passed,
        # rejects within the table's tolerance are loaded without them, as a warning
        severity=dg.AssetCheckSeverity.WARN if result.accepted else dg.AssetCheckSeverity.ERROR,
        metadata={
            "source_path": result.download.remote.path,
            "rows_checked": result.rows_read,
            "rows_rejected": result.rows_rejected,
            "rejected_share": float(result.rejected_share),
            "tolerance": float(result.tolerance),
            "rejects_table": f"{spec.schema}.{spec.rejects_table}",
            "failures": dg.MetadataValue.json(result.failure_summary),
            "samples": dg.MetadataValue.json(result.failure_samples),
        },
    )


def _volume_result(
    spec: TableSpec, result: LoadResult, settings: LoaderSettings
) -> dg.AssetCheckResult:
    """Warns on a header-only file, or one far below the days before it."""
    average = result.trailing_rows
    floor = None if average is None else average * settings.volume_min_ratio
    if result.rows_read == 0:
        verdict = "header-only file: no rows"
    elif floor is not None and result.rows_read < floor:
        verdict = (
            f"{result.rows_read} rows, below {settings.volume_min_ratio:.0%} of the average "
            f"{average:.0f} of the previous {settings.volume_window} loaded days"
        )
    else:
        verdict = "as expected"
    return dg.AssetCheckResult(
        asset_key=spec.asset_key,
        check_name=VOLUME_CHECK,
        passed=verdict == "as expected",
        severity=dg.AssetCheckSeverity.WARN,
        description=verdict,
        metadata={
            "rows_read": result.rows_read,
            "trailing_average_rows": float(average) if average is not None else None,
            "window_days": settings.volume_window,
            "min_ratio": float(settings.volume_min_ratio),
        },
    )


def build_table_asset(source: ConfiguredSource, spec: TableSpec) -> dg.AssetsDefinition:
    """The asset that loads ``spec``'s daily files, with its pandera check (blocking)."""
    renames = {app: dict(cols) for app, cols in source.column_sources.items()}
    sftp_key = source.source.sftp_resource_key

    @dg.asset(
        key=spec.asset_key,
        description=spec.description,
        group_name=spec.source,
        owners=[f"team:{spec.source}"],
        kinds={"duckdb", "pandera", "sftp"},
        tags={"vendor": spec.source, "update_method": spec.update_method.value.lower()},
        partitions_def=source.partitions_def,
        deps=[remote_file_key(spec)],
        required_resource_keys={sftp_key, WAREHOUSE_RESOURCE},
        check_specs=[
            dg.AssetCheckSpec(
                SCHEMA_CHECK,
                asset=spec.asset_key,
                blocking=True,
                description=(
                    f"Every row of the partition's file passes the pandera schema "
                    f"{spec.row_schema.name}; failures are in {spec.schema}.{spec.rejects_table}."
                ),
            ),
            dg.AssetCheckSpec(
                VOLUME_CHECK,
                asset=spec.asset_key,
                description=(
                    "Warns when the day's file is header-only, or has fewer rows than "
                    "PLATFORM_VOLUME_MIN_RATIO of the average of the previous "
                    "PLATFORM_VOLUME_WINDOW loaded days."
                ),
            ),
        ],
        metadata={
            "dagster/table_name": spec.qualified_name,
            "dagster/column_schema": column_schema(spec),
            "file_pattern": spec.file_pattern,
            "key": spec.key,
            "update_method": spec.update_method.value,
            **({"version_column": spec.version_column} if spec.version_column else {}),
            **({"column_names_by_app": dg.MetadataValue.json(renames)} if renames else {}),
            "document": spec.document,
        },
        pool=WAREHOUSE_POOL,
        # overdue when not loaded in the 24 hours before the day's arrival deadline
        freshness_policy=dg.FreshnessPolicy.cron(
            deadline_cron=source.arrival_cron,
            lower_bound_delta=dt.timedelta(hours=24),
            timezone=source.source.timezone,
        ),
        # transient failures only (dg.Failure(allow_retries=True)): 30 s, 60 s, with jitter
        retry_policy=dg.RetryPolicy(
            max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
    )
    def _load(
        context: dg.AssetExecutionContext, config: LoadConfig
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        files: FileSource = getattr(context.resources, sftp_key)
        warehouse: DuckDBResource = getattr(context.resources, WAREHOUSE_RESOURCE)
        day, app = parse_partition_key(context.partition_key)
        tolerance = (
            spec.reject_tolerance if config.reject_tolerance is None else config.reject_tolerance
        )
        try:
            result = load_partition(
                spec,
                day,
                files,
                warehouse.database,
                settings=source.loader,
                app_id=app,
                column_sources=renames.get(app or ""),
                reject_tolerance=tolerance,
                run_id=context.run.run_id,
                log=context.log,
            )
        except RejectsExceeded as exc:
            yield _check_result(spec, exc.result)
            raise dg.Failure(
                description=str(exc),
                metadata={
                    "rows_read": exc.result.rows_read,
                    "rows_rejected": exc.result.rows_rejected,
                    "rejects_table": f"{spec.schema}.{spec.rejects_table}",
                },
                allow_retries=False,
            ) from None
        except (LoadError, SFTPError) as exc:
            raise dg.Failure(
                description=str(exc)
                if isinstance(exc, LoadError)
                else f"{spec.qualified_name} partition {context.partition_key}: {exc}",
                allow_retries=isinstance(
                    exc, SFTPTransientError | WarehouseBusy | RemoteFileChanged
                ),
            ) from None
        yield dg.MaterializeResult(
            asset_key=spec.asset_key,
            metadata=_materialization_metadata(spec, result, app),
            check_results=[
                _check_result(spec, result),
                _volume_result(spec, result, source.loader),
            ],
        )

    return _load


def build_source_assets(source: ConfiguredSource) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    """Table assets plus the external SFTP-file assets that feed them."""
    return [
        *(remote_file_spec(s) for s in source.tables),
        *(build_table_asset(source, s) for s in source.tables),
    ]
