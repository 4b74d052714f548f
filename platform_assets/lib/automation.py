"""Schedules and sensors built from table specs (shared by every vendor source)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import dagster as dg

from platform_assets.lib.factory import sftp_resource_key
from platform_assets.lib.sftp import SFTPResource
from platform_assets.lib.specs import TableSpec


def build_daily_schedule(
    source: str,
    specs: Sequence[TableSpec],
    partitions_def: dg.PartitionsDefinition,
    cron: str = "0 7 * * *",
    lag_days: int = 1,
) -> dg.ScheduleDefinition:
    """Every day at ``cron`` (UTC), load the file date ``lag_days`` before the tick's date."""
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
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Loads the previous day's {source} files into DuckDB.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        day = (tick.date() - dt.timedelta(days=lag_days)).isoformat()
        return dg.RunRequest(run_key=f"{source}:{day}", partition_key=day)

    return _schedule


def build_new_file_sensor(
    source: str,
    specs: Sequence[TableSpec],
    partitions_def: dg.PartitionsDefinition,
    minimum_interval_seconds: int = 300,
) -> dg.SensorDefinition:
    """Watch the source's SFTP folder; request a load for each new or changed file.

    Only names that match a table's pattern are considered (anything else is ignored before it
    touches a path or a query). A file is "new" when its (size, mtime) differs from the cursor's.
    The run key includes size and mtime, so a resent file loads again and a seen one never does.
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
        seen: dict[str, list[int]] = json.loads(context.cursor) if context.cursor else {}
        now = dt.datetime.now(dt.UTC)
        valid_keys = set(partitions_def.get_partition_keys(current_time=now))
        requests: list[dg.RunRequest] = []
        skipped: list[str] = []
        files = sftp.list_files()
        for remote in sorted(files, key=lambda f: f.name):
            for spec in specs:
                day = spec.file_date(remote.name)
                if day is None:
                    continue
                state = [remote.size, remote.mtime]
                if seen.get(remote.name) == state:
                    break
                if day.isoformat() not in valid_keys:
                    skipped.append(remote.name)
                    break
                requests.append(
                    dg.RunRequest(
                        run_key=f"{remote.name}:{remote.size}:{remote.mtime}",
                        partition_key=day.isoformat(),
                        asset_selection=[spec.asset_key],
                        tags={"source_file": remote.path},
                    )
                )
                seen[remote.name] = state
                break
        if skipped:
            context.log.info("files outside the partition range, not loaded: %s", skipped)
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))

    return _sensor
