"""The code location's wiring as one reviewable text: every asset key with its group, owners,
kinds and partitions, every check (blocking or not), job, sensor and schedule, compared with the
committed snapshot (``__snapshots__/``). A change to the wiring shows as a diff in review; accept
an intended one with ``pytest platform_assets_tests/unit/test_definitions_snapshot.py
--snapshot-update`` (as the Dagster team's own platform does)."""

from __future__ import annotations

import dagster as dg

from platform_assets.compose import build_definitions
from platform_assets.core.settings import Settings
from platform_assets.defs import VENDOR_SOURCES

ENV = {  # every flow defined: two Accengage apps, delivery accounts, the loyalty program
    "PLATFORM_START_DATE": "2026-01-01",
    "DUCKDB_PATH": "/nonexistent/warehouse.duckdb",
    "ACCENGAGE_APP_IDS": "ios,android",
    "ASAPP_DELIVERY_SFTP_USERNAME": "brand",
    "ACCENGAGE_DELIVERY_SFTP_USERNAME": "brand",
    "ATTENTIVE_API_TOKEN": "unused",
}


def _partitions(spec: dg.PartitionsDefinition | None) -> str:
    if spec is None:
        return "-"
    if isinstance(spec, dg.MultiPartitionsDefinition):
        return " x ".join(f"{d.name}:{_partitions(d.partitions_def)}" for d in spec.partitions_defs)
    if isinstance(spec, dg.TimeWindowPartitionsDefinition):
        return f"daily from {spec.start:%Y-%m-%d} in {spec.timezone}"
    if isinstance(spec, dg.StaticPartitionsDefinition):
        return "[" + ",".join(spec.get_partition_keys()) + "]"
    return type(spec).__name__


def wiring(defs: dg.Definitions) -> str:
    graph = defs.resolve_asset_graph()
    lines = ["# assets: key | group | owners | kinds | partitions | pool"]
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        if node.is_external:
            lines.append(f"{key.to_user_string()} | {node.group_name} | external")
            continue
        lines.append(
            " | ".join(
                [
                    key.to_user_string(),
                    node.group_name or "-",
                    ",".join(node.owners) or "-",
                    ",".join(sorted(node.kinds)) or "-",
                    _partitions(node.partitions_def),
                    ",".join(sorted(node.pools or [])) or "-",
                ]
            )
        )
    lines.append("# checks: asset:check | blocking")
    checks = []
    for key in graph.asset_check_keys:
        check = graph.get(key)
        checks.append(f"{key.asset_key.to_user_string()}:{key.name} | {check.blocking}")
    lines += sorted(checks)
    lines.append("# jobs: name | assets")
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name == "__ASSET_JOB":
            continue
        selected = sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
        lines.append(f"{job.name} | {len(selected)} | {', '.join(selected)}")
    lines.append("# schedules: name | cron | time zone | default status | job")
    for schedule in sorted(defs.schedules or [], key=lambda s: s.name):
        assert isinstance(schedule, dg.ScheduleDefinition)
        lines.append(
            f"{schedule.name} | {schedule.cron_schedule} | {schedule.execution_timezone} | "
            f"{schedule.default_status.value} | {schedule.job_name}"
        )
    lines.append("# sensors: name | default status | minimum interval (s)")
    for sensor in sorted(defs.sensors or [], key=lambda s: s.name):
        assert isinstance(sensor, dg.SensorDefinition)
        lines.append(
            f"{sensor.name} | {sensor.default_status.value} | {sensor.minimum_interval_seconds}"
        )
    return "\n".join(lines) + "\n"


def test_the_wiring_matches_the_committed_snapshot(snapshot):
    defs = build_definitions(VENDOR_SOURCES, Settings.from_env(ENV))
    text = wiring(defs)
    assert text.count("\n") > 100  # every vendor's tables, rejects, deliveries, models, loyalty
    assert text == snapshot
