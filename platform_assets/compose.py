"""The one builder: vendor sources and settings -> the code location's ``dg.Definitions``."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import dagster as dg
from dagster._config.field_utils import IntEnvVar  # what dg.EnvVar.int makes

from platform_assets.core.execution import sleep_while_waiting_for_a_pool
from platform_assets.core.settings import Settings
from platform_assets.core.sources import ConfiguredSource, VendorSource
from platform_assets.core.variables import documented
from platform_assets.core.warehouse import WAREHOUSE_RESOURCE
from platform_assets.defs import VENDOR_SOURCES
from platform_assets.defs.loyalty import SEGMENTS
from platform_assets.ingest.arrival import build_arrival_sensor
from platform_assets.ingest.assets import build_source_assets
from platform_assets.ingest.automation import build_daily_schedule, build_new_file_sensor
from platform_assets.ingest.history import build_history_job
from platform_assets.models.assets import build_model_definitions
from platform_assets.outbound.deliveries.assets import (
    DELIVERY_CRON,
    build_delivery_asset,
    delivery_key,
    delivery_resource_key,
)
from platform_assets.outbound.loyalty.assets import build_loyalty_definitions
from platform_assets.outbound.loyalty.resources import annex_cloud_api, attentive_api
from platform_assets.outbound.preview import preview_job_config


def build_source_definitions(source: ConfiguredSource, settings: Settings) -> dg.Definitions:
    """One configured source's assets and checks, its SFTP files (external assets), its new-file
    and arrival sensors, its daily schedule (and job), its history job (vendors that send
    historical files) and its SFTP resource."""
    history = build_history_job(source)
    jobs: list[dg.JobDefinition | dg.UnresolvedAssetJobDefinition] = [history] if history else []
    resources: dict[str, object] = {
        source.source.sftp_resource_key: settings.sftp(source.source.prefix)
    }
    if source.deliveries:
        resources[delivery_resource_key(source.name)] = settings.delivery_sftp(
            source.source.prefix, source.source.delivery_folder
        )
        keys = [delivery_key(d) for d in source.deliveries]
        jobs.append(
            dg.define_asset_job(
                f"{source.name}_deliveries_job",
                selection=dg.AssetSelection.assets(*keys),
                description=f"Every configured delivery to {source.name} for one day.",
            )
        )
        jobs.append(
            dg.define_asset_job(
                f"{source.name}_deliveries_preview_job",
                selection=dg.AssetSelection.assets(*keys),
                config=preview_job_config([k.to_python_identifier() for k in keys]),
                description=(
                    f"What {source.name}'s deliveries of one day would send (files, rows, "
                    "SHA-256, first rows masked), kept in platform.outbound_previews; nothing is "
                    "uploaded."
                ),
            )
        )
    return dg.Definitions(
        assets=[
            *build_source_assets(source),
            *(build_delivery_asset(d, source.loader) for d in source.deliveries),
        ],
        jobs=jobs,
        schedules=[build_daily_schedule(source)],
        sensors=[
            build_new_file_sensor(source, settings.sensor_interval_seconds),
            build_arrival_sensor(source),
        ],
        resources=resources,
    )


def build_definitions(sources: Sequence[VendorSource], settings: Settings) -> dg.Definitions:
    """Every source as ``settings`` configure it, the dbt models over them, and the shared
    DuckDB warehouse."""
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"vendor sources must have distinct names: {names}")
    sleep_while_waiting_for_a_pool()
    configured = [s.configure(settings) for s in sources]
    deliveries = [delivery_key(d) for s in configured for d in s.deliveries]
    automation = [
        dg.AutomationConditionSensorDefinition(
            "deliveries_automation_sensor",
            target=dg.AssetSelection.assets(*deliveries),
            # it sends files to vendors: off until someone turns it on (a preview first)
            default_status=dg.DefaultSensorStatus.STOPPED,
            minimum_interval_seconds=60,
            description=(
                f"Sends each configured delivery's day on its cron ({DELIVERY_CRON} UTC). Stopped "
                "by default: turn it on once the deliveries' relations are right."
            ),
        )
    ]
    loyalty = settings.loyalty()
    extra = (
        [
            build_loyalty_definitions(
                loyalty,
                SEGMENTS,
                settings.loader,
                attentive_api(settings),
                annex_cloud_api(settings),
            )
        ]
        if loyalty
        else []
    )
    return dg.Definitions.merge(
        *(build_source_definitions(s, settings) for s in configured),
        *extra,
        build_model_definitions(configured, settings),
        # by default a run's steps share the warehouse's single writer anyway: running them in
        # the run's own process saves a process start (and a code load) per step; on a lake,
        # PLATFORM_EXECUTOR spreads them over processes or Celery workers
        dg.Definitions(
            sensors=automation if deliveries else [],
            resources={WAREHOUSE_RESOURCE: settings.warehouse()},
            executor=settings.execution.executor_def(),
        ),
    )


def configured_definitions(environ: Mapping[str, str]) -> dg.Definitions:
    """The code location's definitions (every vendor of :data:`VENDOR_SOURCES`) as ``environ``
    configures them, built once per configuration (the documented variables' values: all that
    :class:`Settings` reads) and kept for the next load in this process, with Dagster's resolved
    repository cached on them: a run forked from ``make dev``'s warm code server
    (``demo/warm.py`` built them there) loads them without building them again; a changed
    setting builds them anew."""
    return _built(documented(environ, tuple(s.prefix for s in VENDOR_SOURCES)))


@functools.lru_cache(maxsize=1)
def _built(configuration: frozenset[tuple[str, str]]) -> dg.Definitions:
    return build_definitions(VENDOR_SOURCES, Settings.from_env(dict(configuration)))


def bound_variables(defs: dg.Definitions) -> set[str]:
    """The environment variables the definitions' resources bind as ``dg.EnvVar``: what a run
    reads from its process environment (secrets and connections), not from the settings."""

    def names(value: object) -> set[str]:
        if isinstance(value, dg.EnvVar | IntEnvVar):  # dg.EnvVar and dg.EnvVar.int
            return {value.env_var_name}
        if isinstance(value, dg.ConfigurableResource):
            return {n for field in vars(value).values() for n in names(field)}
        return set()

    return {n for resource in (defs.resources or {}).values() for n in names(resource)}
