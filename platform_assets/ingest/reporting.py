"""What a table load reports to Dagster, per partition: the materialization's metadata (the
table's schema, the file's identity, the row counts and timings) and the results of the table's
partitioned checks (pandera schema, file volume, arrival), each tied to the materialization it
is about; and a failing day's message."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # not in dg's API
    AssetCheckEvaluationTargetMaterializationData,
)

from platform_assets.core.errors import LoadError, RemoteFileChanged, WarehouseBusy
from platform_assets.core.masking import shown
from platform_assets.core.metadata import table_metadata
from platform_assets.core.partitions import partition_key_for
from platform_assets.core.sources import ConfiguredSource
from platform_assets.core.specs import PARTITION_FIELDS, Extras, Md5Key, TableSpec
from platform_assets.core.transport.failures import SFTPError, SFTPTransientError
from platform_assets.core.warehouse import LINEAGE_COLUMNS, LoaderSettings
from platform_assets.ingest.arrival import arrived
from platform_assets.ingest.loader.model import LoadRequest, LoadResult, RejectsExceeded

SCHEMA_CHECK = "pandera_schema"
VOLUME_CHECK = "file_volume"


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
    return {  # the columns are the asset's (its definition's `dagster/column_schema`): a
        # partition's own copy cost each day's event three (de)serializations, ~1.2 ms
        "dagster/table_name": spec.qualified_name,
        "dagster/row_count": result.partition_rows,
        "source_path": remote.path,
        "source_size_bytes": remote.size,
        "source_size": _size(remote.size),
        "source_mtime": dg.MetadataValue.timestamp(float(remote.mtime)),
        "source_sha256": result.download.sha256,
        "rows_read": result.rows_read,
        "formula_like_values": result.formula_like_values,
        "rows_rejected": result.rows_rejected,
        "rows_deduplicated": result.duplicates_dropped,
        "rows_inserted": result.rows_inserted,
        "rows_updated": result.rows_updated,
        "rows_unchanged": result.rows_unchanged,
        "rows_skipped_newer_in_table": result.rows_skipped_older,
        "table_rows_total": result.table_rows,
        "extra_csv_columns": dg.MetadataValue.json(result.extra_columns),
        **({"app_id": app_id} if app_id else {}),
        **(
            {"inflated_bytes": result.inflated_bytes, "inflated_size": _size(result.inflated_bytes)}
            if result.inflated_bytes
            else {}
        ),
        "loaded_from": "raw archive (the vendor no longer has the file)"
        if result.from_archive
        else "vendor",
        **({"archive_path": result.archive_path} if result.archive_path else {}),
        **({"commit_retries": result.commit_retries} if result.commit_retries else {}),
        **{f"seconds_{k.removesuffix('_s')}": round(v, 3) for k, v in result.timings.items()},
    }


def rejects_key(spec: TableSpec) -> dg.AssetKey:
    """The table of ``spec``'s rejected rows, as an asset beside the table."""
    return dg.AssetKey([spec.schema, spec.rejects_table])


def rejects_spec(spec: TableSpec, source: ConfiguredSource) -> dg.AssetSpec:
    """The rejects table as a visible asset of the vendor's group: each load reports its
    partition's failures (one row per failed rule of a row), so a day's rejects are found
    in the UI without a DuckDB client."""
    return dg.AssetSpec(
        key=rejects_key(spec),
        description=(
            f"Rows of {spec.qualified_name}'s files that failed its pandera checks: one row per "
            "failed rule of a row (the file's physical line, column, rule and value, kept "
            "unmasked here), replaced for a partition each time it loads."
        ),
        group_name=spec.source,
        kinds={"duckdb"},
        owners=list(source.owners),
        deps=[spec.asset_key],
        partitions_def=source.partitions_def,
        metadata={"dagster/table_name": f"{spec.schema}.{spec.rejects_table}"},
    )


def _rejects_materialization(
    spec: TableSpec, result: LoadResult, partition: str
) -> dg.AssetMaterialization:
    return dg.AssetMaterialization(
        rejects_key(spec),
        partition=partition,
        tags=_partition_tags(partition),
        metadata={
            "dagster/row_count": result.reject_failures,
            "dagster/table_name": f"{spec.schema}.{spec.rejects_table}",
            "rows_rejected": result.rows_rejected,
            "source_path": result.download.remote.path,
        },
    )


def _schema_check(
    spec: TableSpec,
    result: LoadResult,
    partition: str,
    target: AssetCheckEvaluationTargetMaterializationData | None = None,
) -> dg.AssetCheckEvaluation:
    """The partition's pandera check: passed, warned (rejects within the tolerance were left
    out) or failed (nothing was written), with the failures by rule and sample lines as tables
    (personal values shown by their shape only)."""
    rules = "; ".join(
        f"column {f['column']!r} rule {f['rule']} ({f['rows']} rows)"
        for f in result.failure_summary[:5]
    )
    tables: dict[str, dg.MetadataValue] = {}
    if result.failure_summary:
        tables["failures"] = table_metadata(
            result.failure_summary, [("column", "string"), ("rule", "string"), ("rows", "int")]
        )
        tables["sample_lines"] = table_metadata(
            [{**f, "value": shown(f["column"], f["value"])} for f in result.failure_samples],
            [("line", "int"), ("column", "string"), ("rule", "string"), ("value", "string")],
        )
    return dg.AssetCheckEvaluation(
        asset_key=spec.asset_key,
        check_name=SCHEMA_CHECK,
        passed=result.passed,
        severity=dg.AssetCheckSeverity.WARN if result.accepted else dg.AssetCheckSeverity.ERROR,
        blocking=True,
        partition=partition,
        target_materialization_data=target,
        description=(
            f"{result.rows_rejected} of {result.rows_read} rows failed: {rules}; first at line "
            f"{result.failure_samples[0]['line']}"
            if rules and result.failure_samples
            else f"all {result.rows_read} rows passed"
        ),
        metadata={
            "source_path": result.download.remote.path,
            "rows_checked": result.rows_read,
            "rows_rejected": result.rows_rejected,
            "rejected_share": float(result.rejected_share),
            "tolerance": float(result.tolerance),
            "rejects_table": f"{spec.schema}.{spec.rejects_table}",
            **tables,
        },
    )


def _size(count: int) -> str:
    """A byte count as people read it (``13.9 MB``)."""
    value = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _volume_check(
    spec: TableSpec,
    result: LoadResult,
    settings: LoaderSettings,
    partition: str,
    target: AssetCheckEvaluationTargetMaterializationData | None,
) -> dg.AssetCheckEvaluation:
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
    return dg.AssetCheckEvaluation(
        asset_key=spec.asset_key,
        check_name=VOLUME_CHECK,
        passed=verdict == "as expected",
        severity=dg.AssetCheckSeverity.WARN,
        blocking=False,
        partition=partition,
        target_materialization_data=target,
        description=verdict,
        metadata={
            "rows_read": result.rows_read,
            "trailing_average_rows": float(average) if average is not None else None,
            "window_days": settings.volume_window,
            "min_ratio": float(settings.volume_min_ratio),
        },
    )


def report_loads(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    source: ConfiguredSource,
    spec: TableSpec,
    todo: Sequence[LoadRequest],
    results: Iterator[LoadResult],
    *,
    arrival: bool = True,
    metadata: Mapping[str, Any] | None = None,
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """Report each committed day of ``results`` (the loads of ``todo``, in order) under its own
    partition: the materialization with its metadata, then the pandera, volume and (``arrival``)
    arrival checks about it. A failing day ends it with a :class:`dagster.Failure` that names the
    day, says which days before it are committed, and whether a retry may help."""
    settings = source.loader
    committed: list[str] = []
    try:
        for request, result in zip(todo, results, strict=False):
            key = partition_key_for(request.day, request.app_id)
            yield dg.AssetMaterialization(
                spec.asset_key,
                partition=key,
                metadata={
                    **_materialization_metadata(spec, result, request.app_id),
                    **(metadata or {}),
                },
                tags=_partition_tags(key),
            )
            yield _rejects_materialization(spec, result, key)
            target = _latest_materialization(context, spec, key)
            yield _schema_check(spec, result, key, target)
            yield _volume_check(spec, result, settings, key, target)
            if arrival:
                yield arrived(source, spec, request.day, key, result.download.remote, target)
            committed.append(request.label)
    except RejectsExceeded as exc:
        failed = todo[len(committed)]
        failed_key = partition_key_for(failed.day, failed.app_id)
        yield _rejects_materialization(spec, exc.result, failed_key)  # the rejects were written
        yield _schema_check(spec, exc.result, failed_key)
        # the day's file did arrive and was read whole: its other checks still have a verdict
        yield _volume_check(spec, exc.result, settings, failed_key, None)
        if arrival:
            yield arrived(source, spec, failed.day, failed_key, exc.result.download.remote, None)
        raise dg.Failure(
            description=_range_message(str(exc), committed, failed, len(todo)),
            metadata={
                "rows_read": exc.result.rows_read,
                "rows_rejected": exc.result.rows_rejected,
                "rejects_table": f"{spec.schema}.{spec.rejects_table}",
                "failed_partition": failed.label,
                "committed_partitions": len(committed),
            },
            allow_retries=False,
        ) from None
    except (LoadError, SFTPError) as exc:
        failed = todo[len(committed)]
        message = (
            str(exc)
            if isinstance(exc, LoadError)
            else f"{spec.qualified_name} partition {failed.label}: {exc}"
        )
        raise dg.Failure(
            description=_range_message(message, committed, failed, len(todo)),
            metadata={"failed_partition": failed.label, "committed_partitions": len(committed)},
            allow_retries=isinstance(exc, SFTPTransientError | WarehouseBusy | RemoteFileChanged),
        ) from None


def _range_message(error: str, committed: list[str], failed: LoadRequest, total: int) -> str:
    if total == 1:
        return error
    before = (
        f"the {len(committed)} partitions before it ({committed[0]} .. {committed[-1]}) are "
        "committed"
        if committed
        else "no partition of the range was committed"
    )
    return (
        f"{error}\nPartition {failed.label} failed ({len(committed) + 1} of {total}); {before}; "
        "a retry of this run resumes from the failed partition."
    )


def _partition_tags(key: str) -> dict[str, str]:
    """The per-dimension tags Dagster gives a (date, app) partition's events."""
    if isinstance(key, dg.MultiPartitionKey):
        return {f"dagster/partition/{d}": k for d, k in key.keys_by_dimension.items()}
    return {}


def _latest_materialization(
    context: dg.OpExecutionContext | dg.AssetExecutionContext, spec: TableSpec, key: str
) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The materialization just reported for ``key``: the one its check results are about."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.asset_key, asset_partitions=[key]), limit=1
    ).records
    if not records:
        return None
    record = records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id,
        run_id=record.event_log_entry.run_id,
        timestamp=record.timestamp,
    )
