"""The one builder: vendor sources and settings -> the code location's ``dg.Definitions``."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from platform_assets.lib.arrival import build_arrival_sensor
from platform_assets.lib.assets import WAREHOUSE_RESOURCE, build_source_assets
from platform_assets.lib.automation import build_daily_schedule, build_new_file_sensor
from platform_assets.lib.history import build_history_job
from platform_assets.lib.models import build_model_definitions
from platform_assets.lib.settings import Settings
from platform_assets.lib.sources import ConfiguredSource, VendorSource


def build_source_definitions(source: ConfiguredSource, settings: Settings) -> dg.Definitions:
    """One configured source's assets and checks, its SFTP files (external assets), its new-file
    and arrival sensors, its daily schedule (and job), its history job (vendors that send
    historical files) and its SFTP resource."""
    history = build_history_job(source)
    return dg.Definitions(
        assets=build_source_assets(source),
        jobs=[history] if history else [],
        schedules=[build_daily_schedule(source)],
        sensors=[
            build_new_file_sensor(source, settings.sensor_interval_seconds),
            build_arrival_sensor(source),
        ],
        resources={source.source.sftp_resource_key: settings.sftp(source.source.prefix)},
    )


def build_definitions(sources: Sequence[VendorSource], settings: Settings) -> dg.Definitions:
    """Every source as ``settings`` configure it, the dbt models over them, and the shared
    DuckDB warehouse."""
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"vendor sources must have distinct names: {names}")
    configured = [s.configure(settings) for s in sources]
    return dg.Definitions.merge(
        *(build_source_definitions(s, settings) for s in configured),
        build_model_definitions(configured, settings),
        # a run's steps share the warehouse's single writer anyway: running them in the run's
        # own process saves a process start (and a code load) per step
        dg.Definitions(
            resources={WAREHOUSE_RESOURCE: settings.warehouse()},
            executor=dg.in_process_executor,
        ),
    )
