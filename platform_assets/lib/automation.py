"""Schedules and sensors built from table specs (shared by every vendor source)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import dagster as dg

from platform_assets.lib.factory import sftp_resource_key
from platform_assets.lib.partitions import APP_DIMENSION, partition_key_for
from platform_assets.lib.sftp import RemoteFile, SFTPResource
from platform_assets.lib.specs import TableSpec


def _apps(partitions_def: dg.PartitionsDefinition) -> list[str] | None:
    """The app ids of a (date, app) partitions definition; None for date-only partitions."""
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        dim = next(d for d in partitions_def.partitions_defs if d.name == APP_DIMENSION)
        return list(dim.partitions_def.get_partition_keys())
    return None


def _timezone(specs: Sequence[TableSpec]) -> str:
    zones = {s.partition_timezone for s in specs}
    if len(zones) != 1:
        raise ValueError(f"one source, one vendor day: specs disagree on time zones {zones}")
    return zones.pop()


def build_daily_schedule(
    source: str,
    specs: Sequence[TableSpec],
    partitions_def: dg.PartitionsDefinition,
    cron: str = "0 7 * * *",
    lag_days: int = 1,
) -> dg.ScheduleDefinition:
    """Every day at ``cron`` (in the vendor's time zone), load the file date ``lag_days`` before
    the tick's date: every table, and every app for vendors with one file per app."""
    timezone = _timezone(specs)
    job = dg.define_asset_job(
        f"{source}_daily_job",
        selection=dg.AssetSelection.assets(*(s.asset_key for s in specs)),
        partitions_def=partitions_def,
        description=f"Load one day of every {source} table.",
    )

    @dg.schedule(
        name=f"{source}_daily_schedule",
        cron_schedule=cron,
        job=job,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Loads the previous day's {source} files into DuckDB.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        day = tick.date() - dt.timedelta(days=lag_days)  # the tick is in the vendor's zone
        apps = _apps(partitions_def)
        return [
            dg.RunRequest(
                run_key=f"{source}:{day.isoformat()}" + (f":{app}" if app else ""),
                partition_key=partition_key_for(day, app),
            )
            for app in (apps if apps is not None else [None])
        ]

    return _schedule


def _canonical(spec: TableSpec, remote: RemoteFile) -> tuple[str, bool]:
    """The file's uncompressed name and whether this copy is the gzipped one."""
    ref = spec.parse_file_name(remote.name)
    gz = bool(ref and ref.gzip)
    return (remote.name[: -len(".gz")] if gz else remote.name), gz


def build_new_file_sensor(
    source: str,
    specs: Sequence[TableSpec],
    partitions_def: dg.PartitionsDefinition,
    minimum_interval_seconds: int = 300,
) -> dg.SensorDefinition:
    """Watch the source's SFTP folder; request a load for each new or changed file.

    Only names that match a table's pattern are considered (anything else is ignored before it
    touches a path or a query), and for vendors with one file per app only the configured apps.
    A file is "new" when its (size, mtime) differs from the cursor's. The run key includes size
    and mtime, so a resent file loads again and a seen one never does. A ``.gz`` that replaces
    a plain file already loaded is the vendor compressing it (after 24 hours): not a new file.
    """
    sftp_key = sftp_resource_key(source)

    @dg.sensor(
        name=f"{source}_new_files_sensor",
        target=dg.AssetSelection.assets(*(s.asset_key for s in specs)),
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={sftp_key},
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Loads each new or re-sent {source} file as soon as it lands on SFTP.",
    )
    def _sensor(context: dg.SensorEvaluationContext, **resources: object) -> dg.SensorResult:
        # direct invocation (tests) passes the resources as keyword arguments
        sftp: SFTPResource = resources.get(sftp_key) or getattr(context.resources, sftp_key)
        # cursor: uncompressed file name -> [size, mtime, gzipped?] of the copy last seen
        seen: dict[str, list[int]] = json.loads(context.cursor) if context.cursor else {}
        now = dt.datetime.now(dt.UTC)
        apps = _apps(partitions_def)
        days_def = (
            partitions_def
            if apps is None
            else next(
                d for d in partitions_def.partitions_defs if d.name != APP_DIMENSION
            ).partitions_def  # type: ignore[union-attr]
        )
        valid_days = set(days_def.get_partition_keys(current_time=now))
        requests: list[dg.RunRequest] = []
        skipped: list[str] = []
        # one copy per file: the plain one while it is listed, else the gzipped one
        chosen: dict[str, tuple[TableSpec, RemoteFile, bool]] = {}
        for remote in sorted(sftp.list_files(), key=lambda f: f.name):
            spec = next((s for s in specs if s.parse_file_name(remote.name)), None)
            if spec is None:
                continue
            name, gz = _canonical(spec, remote)
            if name not in chosen or not gz:
                chosen[name] = (spec, remote, gz)
        for name, (spec, remote, gz) in sorted(chosen.items()):
            ref = spec.parse_file_name(remote.name)
            assert ref is not None
            state = [remote.size, remote.mtime, int(gz)]
            previous = seen.get(name)
            if previous is not None and len(previous) == 2:  # a cursor from before .gz support
                previous = [*previous, 0]
            if previous == state:
                continue
            if gz and previous is not None and not previous[2]:
                seen[name] = state  # the vendor compressed a file already loaded
                continue
            if ref.day.isoformat() not in valid_days or (apps is not None and ref.app not in apps):
                skipped.append(remote.name)
                continue
            requests.append(
                dg.RunRequest(
                    run_key=f"{remote.name}:{remote.size}:{remote.mtime}",
                    partition_key=partition_key_for(ref.day, ref.app),
                    asset_selection=[spec.asset_key],
                    tags={"source_file": remote.path},
                )
            )
            seen[name] = state
        if skipped:
            context.log.info("files outside the partitions (date or app), not loaded: %s", skipped)
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))

    return _sensor
