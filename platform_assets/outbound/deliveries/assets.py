"""Configured deliveries as Dagster assets: one daily-partitioned asset per delivery (per app for
device updates) under ``sftp/<vendor>/delivered/<name>``, downstream of the relation it carries,
with a blocking check of the written file's rules.

A run: the day's rows are selected (one row per key: identical rows collapsed and counted, rows
of one key that differ refused) and written to a private work folder, the written file is
checked (a failing row is recorded in ``platform.delivery_rejects`` and stops the run: nothing is
uploaded), then every file of the partition is uploaded (atomic, marker after the file) and
recorded in ``platform.deliveries``. A day without rows sends nothing for Accengage (an empty
static list would empty the list there: only with ``ACCENGAGE_ALLOW_EMPTY_STATIC_LISTS=true``);
ASAPP's feeds send their header-only file (one file a day). Re-running a partition writes the
same file under the same name, which replaces the earlier one on the server.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from platform_assets.core.deliveries import ConfiguredDelivery, DeviceUpdates
from platform_assets.core.masking import shown
from platform_assets.core.metadata import table_metadata
from platform_assets.core.staging import staging_connection
from platform_assets.core.transport.failures import SFTPError, SFTPTransientError
from platform_assets.core.transport.upload import SFTPDeliveryResource, UploadResult, sha256_of
from platform_assets.core.validation import Rejects
from platform_assets.core.warehouse import (
    WAREHOUSE_POOL,
    WAREHOUSE_RESOURCE,
    LoaderSettings,
    attached_warehouse,
)
from platform_assets.core.warehouse_resource import warehouse_of
from platform_assets.core.workdir import new_work_folder
from platform_assets.outbound.deliveries.records import record_delivery, record_rejects
from platform_assets.outbound.deliveries.write import (
    DeliveryRefused,
    Plan,
    check,
    collapse,
    plan,
    write,
)
from platform_assets.outbound.preview import PreviewConfig, PreviewItem, file_sample, observation
from platform_assets.outbound.preview import record as record_preview

FILE_CHECK = "file_rules"
DELIVERY_CRON = "30 8 * * *"
"""Deliveries go at 08:30 UTC, after the models' full rebuild (08:00 UTC)."""


def delivery_resource_key(vendor: str) -> str:
    return f"{vendor}_delivery_sftp"


def delivery_key(delivery: ConfiguredDelivery) -> dg.AssetKey:
    suffix = f"_{delivery.app_ids[0]}" if isinstance(delivery.spec, DeviceUpdates) else ""
    return dg.AssetKey(["sftp", delivery.spec.vendor, "delivered", delivery.spec.name + suffix])


@dataclass
class _File:
    app: str | None
    plan: Plan
    path: Path
    rows: int
    rejects: Rejects
    collapsed: int
    """Rows of the relation identical to another, written once."""


def build_delivery_asset(
    delivery: ConfiguredDelivery, loader: LoaderSettings
) -> dg.AssetsDefinition:
    """The asset of one configured delivery (see the module's docstring)."""
    spec = delivery.spec
    key = delivery_key(delivery)
    resource_key = delivery_resource_key(spec.vendor)
    apps: list[str | None] = list(delivery.app_ids) if spec.per_app else [None]
    example = spec.file_name
    marker = " and its empty .txt marker" if spec.style.marker else ""

    @dg.asset(
        key=key,
        description=(
            f"{spec.description} Uploaded daily as {example}{marker} from {delivery.relation} "
            f"(rows whose delivery_date is the partition's day) to the folder of "
            f"{spec.vendor.upper()}_DELIVERY_SFTP_*; every file sent is in platform.deliveries."
        ),
        group_name=spec.vendor,
        kinds={"sftp", "csv", "duckdb"},
        tags={"vendor": spec.vendor, "direction": "outbound"},
        partitions_def=delivery.partitions_def,
        deps=[delivery.relation_key],
        required_resource_keys={resource_key, WAREHOUSE_RESOURCE},
        check_specs=[
            dg.AssetCheckSpec(
                FILE_CHECK,
                asset=key,
                blocking=True,
                description=(
                    "Every row of the written file passes the delivery's rules (ASAPP: the "
                    "inbound feed's pandera schema; Accengage: keys present, fields of at most "
                    "255 characters, no empty device-update field) before it is uploaded; "
                    "failures are in platform.delivery_rejects."
                ),
            )
        ],
        metadata={
            "relation": delivery.relation,
            "relation_setting": spec.setting,
            "file_name": spec.file_name,
            "delimiter": spec.style.delimiter,
            "done_marker": spec.style.marker,
            **({"apps": ", ".join(delivery.app_ids)} if spec.per_app else {}),
            **(spec.document.metadata() if spec.document else {}),
        },
        pool=WAREHOUSE_POOL,
        automation_condition=dg.AutomationCondition.on_cron(DELIVERY_CRON, "UTC"),
        retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
        output_required=False,  # a preview observes; it never materializes
    )
    def _deliver(
        context: dg.AssetExecutionContext, config: PreviewConfig
    ) -> Iterator[
        dg.MaterializeResult | dg.AssetCheckEvaluation | dg.AssetObservation | dg.AssetCheckResult
    ]:
        day = dt.date.fromisoformat(context.partition_key)
        sftp: SFTPDeliveryResource = getattr(context.resources, resource_key)
        warehouse: DuckDBResource = getattr(context.resources, WAREHOUSE_RESOURCE)
        run_id = context.run.run_id
        folder = new_work_folder(loader.work_dir, "delivery")
        try:
            files = _write_files(delivery, loader, warehouse, folder.path, day, apps, run_id)
            bad = [f for f in files if f.rejects.rows]
            if bad:
                failure = _blocked(key, bad)
                yield _failed_check(key, failure.description or "")
                raise failure
            if config.preview:
                yield from _preview(
                    delivery, loader, warehouse, key, context.partition_key, files, run_id
                )
                return
            empty = [f for f in files if not f.rows and not spec.sends_empty(delivery.allow_empty)]
            files = [f for f in files if f not in empty]
            uploads = [_upload(sftp, f, spec.style.marker) for f in files]
            _record(warehouse, loader, str(key.to_user_string()), day, files, uploads, run_id)
            rows = sum(f.rows for f in files)
            context.log.info(
                "Delivered %s (%d rows) to %s%s",
                ", ".join(u.name for u in uploads) or "nothing",
                rows,
                sftp.host,
                f"; not sent, no rows: {', '.join(f.plan.name for f in empty)}" if empty else "",
            )
            yield dg.MaterializeResult(
                metadata={
                    "dagster/row_count": rows,
                    "duplicates_collapsed": sum(f.collapsed for f in [*files, *empty]),
                    "not_sent_empty": ", ".join(f.plan.name for f in empty),
                    "files": table_metadata(
                        [
                            {
                                "file_name": u.name,
                                "app_id": f.app or "",
                                "rows": f.rows,
                                "bytes": u.size,
                                "sha256": u.sha256,
                                "marker": u.marker or "",
                            }
                            for f, u in zip(files, uploads, strict=True)
                        ],
                        [
                            ("file_name", "string"),
                            ("app_id", "string"),
                            ("rows", "int"),
                            ("bytes", "int"),
                            ("sha256", "string"),
                            ("marker", "string"),
                        ],
                    ),  # fmt: skip
                    "remote_paths": ", ".join(u.path for u in uploads),
                    "sha256": ", ".join(u.sha256 for u in uploads),
                    "uploaded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                },
                check_results=[
                    dg.AssetCheckResult(
                        check_name=FILE_CHECK,
                        passed=True,
                        description=f"all {rows} rows of {len(files)} file(s) passed",
                    )
                ],
            )
        except DeliveryRefused as exc:
            message = f"{key.to_user_string()} {day}: {exc}"
            yield _failed_check(key, message)
            raise dg.Failure(description=message, allow_retries=False) from None
        except SFTPError as exc:
            raise dg.Failure(
                description=f"{key.to_user_string()} {day}: the upload failed: {exc}",
                allow_retries=isinstance(exc, SFTPTransientError),
            ) from None
        finally:
            folder.remove()

    return _deliver


def _write_files(
    delivery: ConfiguredDelivery,
    loader: LoaderSettings,
    warehouse: DuckDBResource,
    folder: Path,
    day: dt.date,
    apps: list[str | None],
    run_id: str,
) -> list[_File]:
    """Every file of the partition written and checked (nothing uploaded yet); the rejects of
    each recorded (an earlier attempt's replaced)."""
    files = []
    name = delivery_key(delivery).to_user_string()
    with (
        staging_connection(loader, folder) as con,
        attached_warehouse(con, warehouse_of(warehouse), loader.lock_wait_seconds) as wh,
    ):
        for app in apps:
            file_plan = plan(con, delivery, f"{wh}.{delivery.relation}", day, app)
            collapsed = collapse(con, file_plan)
            path, rows = write(con, file_plan, delivery.spec.style, folder)
            rejects = check(con, delivery, file_plan, path, day)
            record_rejects(
                con, wh, name, day, app, file_plan.name, run_id, located=bool(rejects.failures)
            )
            files.append(_File(app, file_plan, path, rows, rejects, collapsed))
    return files


def _preview(
    delivery: ConfiguredDelivery,
    loader: LoaderSettings,
    warehouse: DuckDBResource,
    key: dg.AssetKey,
    partition: str,
    files: list[_File],
    run_id: str,
) -> Iterator[dg.AssetObservation | dg.AssetCheckResult]:
    """What the day would send: every file that would go (an empty Accengage one would not),
    its rows, SHA-256 and first rows masked; kept and observed; nothing uploaded."""
    style = delivery.spec.style
    items = [
        PreviewItem(
            "file",
            f.plan.name,
            f.rows,
            sha256_of(f.path),
            file_sample(f.path, style.delimiter, f.plan.key),  # the key under any header
        )
        for f in files
        if f.rows or delivery.spec.sends_empty(delivery.allow_empty)
    ]
    folder = new_work_folder(loader.work_dir, "delivery")
    try:
        with (
            staging_connection(loader, folder.path) as con,
            attached_warehouse(con, warehouse_of(warehouse), loader.lock_wait_seconds) as wh,
        ):
            record_preview(con, wh, run_id, key, partition, items)
    finally:
        folder.remove()
    yield observation(key, partition, items)
    yield dg.AssetCheckResult(
        check_name=FILE_CHECK,
        passed=True,
        description=f"preview: all {sum(f.rows for f in files)} rows passed; nothing uploaded",
    )


def _failed_check(key: dg.AssetKey, message: str) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=key,
        check_name=FILE_CHECK,
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        blocking=True,
        description=message[:2000],
    )


def _blocked(key: dg.AssetKey, bad: list[_File]) -> dg.Failure:
    """The check failed: what failed, where (the written file's lines), and that nothing went."""
    parts = []
    for f in bad:
        rules = "; ".join(
            f"column {s['column']!r} rule {s['rule']} ({s['rows']} rows)"
            for s in f.rejects.summary[:5]
        )
        samples = "; ".join(
            f"line {s['line']} column {s['column']!r} rule {s['rule']} value "
            f"{shown(s['column'], s['value'])!r}"
            for s in f.rejects.samples[:5]
        )
        parts.append(f"{f.plan.name}: {f.rejects.rows} of {f.rows} rows failed: {rules}. {samples}")
    return dg.Failure(
        description=(
            f"{key.to_user_string()}: nothing was uploaded; " + " | ".join(parts) + ". All "
            "failures are in platform.delivery_rejects."
        ),
        allow_retries=False,
    )


def _upload(sftp: SFTPDeliveryResource, f: _File, marker: bool) -> UploadResult:
    return sftp.upload(f.path, f.plan.name, marker=marker)


def _record(
    warehouse: DuckDBResource,
    loader: LoaderSettings,
    delivery: str,
    day: dt.date,
    files: list[_File],
    uploads: list[UploadResult],
    run_id: str,
) -> None:
    folder = new_work_folder(loader.work_dir, "delivery")
    try:
        with (
            staging_connection(loader, folder.path) as con,
            attached_warehouse(con, warehouse_of(warehouse), loader.lock_wait_seconds) as wh,
        ):
            for f, u in zip(files, uploads, strict=True):
                record_delivery(con, wh, delivery, day, f.app, f.rows, u, run_id)
    finally:
        folder.remove()
