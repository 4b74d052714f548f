"""When a vendor's day is due, and each table's ``file_arrival`` check, per partition.

The rule, stated once: the file of day D is due at the first tick of the source's arrival cron
on day D+1 (in the vendor's time zone; the daily schedule loads the previous day the same way).
The check goes red when that deadline passes and the file is not on the server (the source's
arrival sensor reports it for the due day) and green when the file loads (the table's asset
reports it, with the file's arrival time and whether it was late).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._utils.schedules import cron_string_iterator  # Dagster's own cron arithmetic

from platform_assets.core.partitions import date_partitions, partition_key_for
from platform_assets.core.sources import ConfiguredSource
from platform_assets.core.specs import TableSpec
from platform_assets.core.transport.files import FileSource, RemoteFile

ARRIVAL_CHECK = "file_arrival"
LAG_DAYS = 1
"""The file of day D is due on day D + LAG_DAYS."""


def deadline(day: dt.date, cron: str, timezone: str) -> dt.datetime:
    """When the file of ``day`` is due: the first tick of ``cron`` on day ``day + LAG_DAYS``."""
    start = dt.datetime.combine(day + dt.timedelta(LAG_DAYS), dt.time(), ZoneInfo(timezone))
    return next(cron_string_iterator(start.timestamp(), cron, timezone))


def due_day(now: dt.datetime, cron: str, timezone: str) -> tuple[dt.date, dt.datetime]:
    """The day whose deadline passed last before ``now``, and that deadline."""
    tick = next(cron_string_iterator(now.timestamp(), cron, timezone, ascending=False))
    return tick.date() - dt.timedelta(LAG_DAYS), tick


def arrival_check_spec(source: ConfiguredSource, spec: TableSpec) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        ARRIVAL_CHECK,
        asset=spec.asset_key,
        partitions_def=source.partitions_def,
        description=(
            f"The day's file arrived: fails when it is not on the server at the deadline "
            f"(cron {source.arrival_cron!r} of the next day, {source.source.timezone}; "
            f"{source.source.prefix}_ARRIVAL_CRON), passes when it loads."
        ),
    )


def arrived(
    source: ConfiguredSource,
    spec: TableSpec,
    day: dt.date,
    partition: str,
    remote: RemoteFile,
    target: AssetCheckEvaluationTargetMaterializationData | None = None,
) -> dg.AssetCheckEvaluation:
    """The load's verdict: the file is here (green), with when it came and whether it was late;
    about ``target``, the partition's materialization it loaded (so the UI ties the two)."""
    due = deadline(day, source.arrival_cron, source.source.timezone)
    came = dt.datetime.fromtimestamp(remote.mtime, dt.UTC)
    late = came > due
    return dg.AssetCheckEvaluation(
        asset_key=spec.asset_key,
        check_name=ARRIVAL_CHECK,
        passed=True,
        partition=partition,
        target_materialization_data=target,
        description=f"{remote.name} arrived {'late' if late else 'on time'} ({came:%Y-%m-%d %H:%M} "
        f"UTC, due {due:%Y-%m-%d %H:%M %Z})",
        metadata={
            "file": remote.name,
            "arrived_at": dg.MetadataValue.timestamp(came),
            "deadline": dg.MetadataValue.timestamp(due),
            "late": late,
        },
    )


def _expected(source: ConfiguredSource, day: dt.date) -> Iterator[tuple[TableSpec, str | None]]:
    apps: list[str | None] = list(source.app_ids) if source.source.has_apps else [None]
    for spec in source.tables:
        for app in apps:
            yield spec, app


def build_arrival_sensor(
    source: ConfiguredSource, minimum_interval_seconds: int = 600
) -> dg.SensorDefinition:
    """After each deadline, report every table's (and app's) file of the due day: present, or
    missing (a failed ``file_arrival`` check on that partition, red in the UI until it loads).
    Each due day is reported once; if listing the server fails, the tick fails and the cursor
    stays, so the next tick tries again."""
    sftp_key = source.source.sftp_resource_key
    cron, tz = source.arrival_cron, source.source.timezone
    days_def = date_partitions(source.partitions_def)

    @dg.sensor(
        name=f"{source.name}_arrival_sensor",
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={sftp_key},
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Fails each {source.name} table's file_arrival check for a day whose file "
        f"is not on the server by its deadline ({cron!r}, {tz}).",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        files: FileSource = getattr(context.resources, sftp_key)
        now = dt.datetime.now(dt.UTC)
        day, due = due_day(now, cron, tz)
        if context.cursor == day.isoformat():
            return dg.SkipReason(f"the files of {day} were checked at their deadline already")
        if day.isoformat() not in days_def.get_partition_keys(current_time=now):
            return dg.SkipReason(f"{day} is before the first partition")
        listed = {f.name for f in files.list_files()}
        events = []
        missing = []
        for spec, app in _expected(source, day):
            name = spec.file_name(day, app)
            here = name in listed or (spec.gzip_variant and name + ".gz" in listed)
            if not here:
                missing.append(name)
            events.append(
                dg.AssetCheckEvaluation(
                    asset_key=spec.asset_key,
                    check_name=ARRIVAL_CHECK,
                    passed=bool(here),
                    partition=partition_key_for(day, app),
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=(
                        f"{name} is on the server at its deadline"
                        if here
                        else f"{name} had not arrived by its deadline {due:%Y-%m-%d %H:%M %Z}"
                    ),
                    metadata={
                        "file": name,
                        "deadline": dg.MetadataValue.timestamp(due),
                        "checked_at": dg.MetadataValue.timestamp(now),
                    },
                )
            )
        if missing:
            context.log.warning("%s files late for %s: %s", source.name, day, missing)
        return dg.SensorResult(asset_events=events, cursor=day.isoformat())

    return _sensor
