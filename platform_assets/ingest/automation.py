"""A configured vendor source's daily job, schedule and new-file sensor."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg

from platform_assets.core.partitions import date_partitions, partition_key_for
from platform_assets.core.sources import ConfiguredSource
from platform_assets.core.specs import TableSpec
from platform_assets.core.transport.files import FileSource, RemoteFile
from platform_assets.ingest.arrival import LAG_DAYS


def build_daily_schedule(
    source: ConfiguredSource, lag_days: int = LAG_DAYS
) -> dg.ScheduleDefinition:
    """Every day at the source's schedule time (in the vendor's time zone), load the file date
    ``lag_days`` before the tick's date: every table, and every app for vendors with apps."""
    name = source.name
    job = dg.define_asset_job(
        f"{name}_daily_job",
        selection=dg.AssetSelection.assets(*source.asset_keys),
        description=f"Load one day of every {name} table.",
    )
    apps: list[str | None] = list(source.app_ids) if source.source.has_apps else [None]

    @dg.schedule(
        name=f"{name}_daily_schedule",
        cron_schedule=source.source.schedule_cron,
        job=job,
        execution_timezone=source.source.timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Loads the previous day's {name} files into DuckDB.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        day = tick.date() - dt.timedelta(days=lag_days)  # the tick is in the vendor's zone
        return [
            dg.RunRequest(
                run_key=f"{name}:{day.isoformat()}" + (f":{app}" if app else ""),
                partition_key=partition_key_for(day, app),
            )
            for app in apps
        ]

    return _schedule


def _canonical(spec: TableSpec, remote: RemoteFile) -> tuple[str, bool]:
    """The file's uncompressed name and whether this copy is the gzipped one."""
    ref = spec.parse_file_name(remote.name)
    gz = bool(ref and ref.gzip)
    return (remote.name[: -len(".gz")] if gz else remote.name), gz


@dataclass
class _SensorCursor:
    """What the new-file sensor remembers, per file (its uncompressed name):

    ``seen``: the version (size, mtime, gzipped?) last requested; ``pending``: the version seen
    on the previous tick but not requested yet (a file is requested only when a tick finds it
    unchanged since the previous one: complete, not still being uploaded). Files no longer
    listed are forgotten, so the cursor stays as small as the folder."""

    seen: dict[str, list[int]] = field(default_factory=dict)
    pending: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> _SensorCursor:
        data = json.loads(text) if text else {}
        return cls(seen=data.get("seen", {}), pending=data.get("pending", {}))

    def forget_all_but(self, names: Iterable[str]) -> None:
        keep = set(names)
        self.seen = {k: v for k, v in self.seen.items() if k in keep}
        self.pending = {k: v for k, v in self.pending.items() if k in keep}

    def dump(self) -> str:
        return json.dumps({"seen": self.seen, "pending": self.pending}, sort_keys=True)


def _materialized(
    context: dg.SensorEvaluationContext, spec: TableSpec, key: str, remote: RemoteFile
) -> bool:
    """Whether the partition's latest materialization loaded this very version of the file
    (its metadata's name, size and mtime), so a sensor whose cursor starts empty (a new
    deployment, a reset cursor) does not reload what is loaded."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spec.asset_key, asset_partitions=[key]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return False
    meta = records[0].asset_materialization.metadata
    path, size, mtime = (meta.get(k) for k in ("source_path", "source_size_bytes", "source_mtime"))
    return (
        path is not None
        and str(path.value).rsplit("/", 1)[-1] == remote.name
        and size is not None
        and size.value == remote.size
        and mtime is not None
        and isinstance(mtime.value, int | float)
        and int(mtime.value) == remote.mtime
    )


def build_new_file_sensor(
    source: ConfiguredSource, minimum_interval_seconds: int = 300
) -> dg.SensorDefinition:
    """Watch the source's SFTP folder; request a load for each new or changed file.

    Only names that match a table's pattern are considered (anything else is ignored before it
    touches a path or a query), and for vendors with one file per app only the configured apps.
    A file is requested once its (size, mtime) is new *and* unchanged since the previous tick
    (complete files only: one still being uploaded waits). The run key is name, size and mtime:
    a re-sent file loads again, a late file with an old mtime is still new, and a version is
    never requested twice; a version that the partition's latest materialization loaded is not
    requested either (a cursor that starts empty). A ``.gz`` that replaces a plain file already
    loaded is the vendor compressing it (after 24 hours): not a new file. If the tick raises (a
    dead server), the cursor does not move.
    """
    name, specs, sftp_key = source.name, source.tables, source.source.sftp_resource_key
    apps = set(source.app_ids) if source.source.has_apps else None
    days_def = date_partitions(source.partitions_def)

    @dg.sensor(
        name=f"{name}_new_files_sensor",
        target=dg.AssetSelection.assets(*source.asset_keys),
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={sftp_key},
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Loads each new or re-sent {name} file as soon as it lands on SFTP.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        files: FileSource = getattr(context.resources, sftp_key)
        cursor = _SensorCursor.load(context.cursor)
        valid_days = set(days_def.get_partition_keys(current_time=dt.datetime.now(dt.UTC)))
        requests: list[dg.RunRequest] = []
        skipped: list[str] = []
        # one copy per file: the plain one while it is listed, else the gzipped one
        chosen: dict[str, tuple[TableSpec, RemoteFile, bool]] = {}
        for remote in sorted(files.list_files(), key=lambda f: f.name):
            spec = next((s for s in specs if s.parse_file_name(remote.name)), None)
            if spec is None:
                continue  # not a table's file: ignored before it touches a path or a query
            name, gz = _canonical(spec, remote)
            if name not in chosen or not gz:
                chosen[name] = (spec, remote, gz)
        for name, (spec, remote, gz) in sorted(chosen.items()):
            ref = spec.parse_file_name(remote.name)
            assert ref is not None
            version = [remote.size, remote.mtime, int(gz)]
            loaded = cursor.seen.get(name)
            if loaded == version:
                continue
            if gz and loaded is not None and not loaded[2]:
                cursor.seen[name] = version  # the vendor compressed a file already loaded
                continue
            if cursor.pending.get(name) != version:
                cursor.pending[name] = version  # new or still changing: wait for it to settle
                continue
            if ref.day.isoformat() not in valid_days or (apps is not None and ref.app not in apps):
                skipped.append(remote.name)
                continue
            key = partition_key_for(ref.day, ref.app)
            if loaded is None and _materialized(context, spec, key, remote):
                cursor.seen[name] = version  # this version is loaded already (an empty cursor)
                del cursor.pending[name]
                continue
            requests.append(
                dg.RunRequest(
                    run_key=f"{remote.name}:{remote.size}:{remote.mtime}",
                    partition_key=key,
                    asset_selection=[spec.asset_key],
                    tags={"source_file": remote.path},
                )
            )
            cursor.seen[name] = version
            del cursor.pending[name]
        cursor.forget_all_but(chosen)
        if skipped:
            context.log.info("files outside the partitions (date or app), not loaded: %s", skipped)
        return dg.SensorResult(run_requests=requests, cursor=cursor.dump())

    return _sensor
