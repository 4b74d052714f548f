"""A configured vendor source's tables as Dagster assets: each table's asset with its blocking
pandera check, and the external assets that stand for the vendor's files on SFTP (lineage)."""

import datetime as dt
import re
import warnings
from collections.abc import Iterator

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from platform_assets.core.partitions import parse_partition_key
from platform_assets.core.sources import ConfiguredSource
from platform_assets.core.specs import (
    APP_TOKEN,
    DATE_TOKEN,
    TableSpec,
)
from platform_assets.core.transport.files import FileSource
from platform_assets.core.warehouse import WAREHOUSE_RESOURCE, LoaderSettings, writer_pool
from platform_assets.core.warehouse_resource import warehouse_of
from platform_assets.ingest.arrival import arrival_check_spec
from platform_assets.ingest.loader.ahead import one_ahead
from platform_assets.ingest.loader.model import LoadRequest
from platform_assets.ingest.loader.partition import load_partitions
from platform_assets.ingest.loader.records import committed_partitions
from platform_assets.ingest.reporting import (
    SCHEMA_CHECK,
    VOLUME_CHECK,
    column_schema,
    rejects_spec,
    report_loads,
)


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


def remote_file_spec(source: ConfiguredSource, spec: TableSpec) -> dg.AssetSpec:
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
        owners=list(source.owners),
        metadata={"file_pattern": spec.file_pattern, **_document(spec)},
    )


def build_table_asset(source: ConfiguredSource, spec: TableSpec) -> dg.AssetsDefinition:
    """The asset that loads ``spec``'s daily files, with its pandera check (blocking)."""
    with warnings.catch_warnings():  # two features Dagster 1.13 still labels, adopted knowingly
        warnings.filterwarnings("ignore", "Specifying a partitions_def", dg.PreviewWarning)
        warnings.filterwarnings("ignore", "Parameter `backfill_policy`", dg.BetaWarning)
        return _table_asset(source, spec)


def _table_asset(source: ConfiguredSource, spec: TableSpec) -> dg.AssetsDefinition:
    renames = {app: dict(cols) for app, cols in source.column_sources.items()}
    sftp_key = source.source.sftp_resource_key

    @dg.asset(
        key=spec.asset_key,
        description=spec.description,
        group_name=spec.source,
        owners=list(source.owners),
        kinds={"duckdb", "pandera", "sftp"},
        tags={"vendor": spec.source, "update_method": spec.update_method.lower()},
        partitions_def=source.partitions_def,
        deps=[remote_file_key(spec)],
        required_resource_keys={sftp_key, WAREHOUSE_RESOURCE},
        check_specs=[
            dg.AssetCheckSpec(
                SCHEMA_CHECK,
                asset=spec.asset_key,
                partitions_def=source.partitions_def,
                blocking=True,
                description=(
                    f"Every row of the partition's file passes the pandera schema "
                    f"{spec.row_schema.name}; failures are in {spec.schema}.{spec.rejects_table}."
                ),
            ),
            arrival_check_spec(source, spec),
            dg.AssetCheckSpec(
                VOLUME_CHECK,
                asset=spec.asset_key,
                partitions_def=source.partitions_def,
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
            "update_method": spec.update_method,
            **({"version_column": spec.version_column} if spec.version_column else {}),
            **({"column_names_by_app": dg.MetadataValue.json(renames)} if renames else {}),
            **_document(spec),
        },
        pool=writer_pool(spec, source.loader),  # the warehouse's one; a lake: the table's
        # a backfill runs as few runs: each loads a range of days, day after day (see _load_range)
        backfill_policy=dg.BackfillPolicy.multi_run(source.backfill_partitions_per_run),
        output_required=False,  # each day's materialization is reported as it commits
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
    ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation | dg.Output]:
        tolerance = (
            spec.reject_tolerance if config.reject_tolerance is None else config.reject_tolerance
        )
        requests = []
        for key in context.partition_keys:
            day, app = parse_partition_key(key)
            requests.append(
                LoadRequest(
                    spec, day, app, renames.get(app or "", {}), tolerance, context.run.run_id
                )
            )
        requests.sort(key=lambda r: (r.app_id or "", r.day))
        yield from _load_range(
            context,
            source,
            spec,
            requests,
            getattr(context.resources, sftp_key),
            getattr(context.resources, WAREHOUSE_RESOURCE),
            source.loader,
        )

    return _load


def _load_range(
    context: dg.AssetExecutionContext,
    source: ConfiguredSource,
    spec: TableSpec,
    requests: list[LoadRequest],
    files: FileSource,
    warehouse: DuckDBResource,
    settings: LoaderSettings,
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation | dg.Output]:
    """Load the run's partitions in order, each day its own transaction, reporting each day's
    materialization and checks as it commits. A day that fails ends the run: the days before it
    stay committed, and a retry of the run (or of its step) resumes from the failed day."""
    done = committed_partitions(
        warehouse_of(warehouse),
        spec.qualified_name,
        _earlier_attempts(context),
        settings.lock_wait_seconds,
    )
    todo = [r for r in requests if (r.day, r.app_id) not in done]
    if len(todo) < len(requests):
        context.log.info(
            "%d of %d partitions were committed by an earlier attempt of this run; resuming at %s",
            len(requests) - len(todo),
            len(requests),
            todo[0].label if todo else "nothing (all committed)",
        )
    results = load_partitions(
        todo, files, warehouse_of(warehouse), settings=settings, log=context.log
    )
    if len(todo) > 1:  # a range: the next day loads while this one is reported
        results = one_ahead(results)
    yield from report_loads(context, source, spec, todo, results)
    # the checks' outputs, once per step (their results were reported per partition above)
    for name, check_spec in context.assets_def.check_specs_by_output_name.items():
        if check_spec.key in context.selected_asset_check_keys:
            yield dg.Output(None, output_name=name)


def _earlier_attempts(context: dg.AssetExecutionContext) -> list[str]:
    """This run (a retried step) and the runs it re-executes: what they committed is done.
    None on a first attempt (nothing to look up: the warehouse is not opened for it)."""
    if context.retry_number == 0 and not context.run.parent_run_id:
        return []
    run_ids = [context.run.run_id]
    parent = context.run.parent_run_id
    while parent and len(run_ids) < 50:
        run_ids.append(parent)
        record = context.instance.get_run_by_id(parent)
        parent = record.parent_run_id if record else None
    return run_ids


def build_source_assets(source: ConfiguredSource) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    """Table assets, the external SFTP-file assets that feed them, and their rejects tables."""
    return [
        *(remote_file_spec(source, s) for s in source.tables),
        *(build_table_asset(source, s) for s in source.tables),
        *(rejects_spec(s, source) for s in source.tables),
    ]


def _document(spec: TableSpec) -> dict[str, dg.MetadataValue]:
    """The vendor document that specifies the table: its title, and its public page if any."""
    return spec.document.metadata() if spec.document else {}
