"""Evaluating a sensor the way the daemon does: in definitions holding its source's assets (so
its partitioned run requests resolve), with its resources, a cursor and an instance (the
warehouse is named, never opened: a tick runs nothing)."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster_duckdb import DuckDBResource

from platform_assets.core.sources import ConfiguredSource
from platform_assets.core.warehouse import WAREHOUSE_RESOURCE
from platform_assets.ingest.assets import build_source_assets


def evaluate(
    sensor: dg.SensorDefinition,
    source: ConfiguredSource,
    resources: Mapping[str, object],
    cursor: str | None = None,
    instance: dg.DagsterInstance | None = None,
) -> SensorExecutionData:
    """One tick of ``sensor`` (of ``source``)."""
    defs = dg.Definitions(
        assets=build_source_assets(source),
        sensors=[sensor],
        resources={WAREHOUSE_RESOURCE: DuckDBResource(database=":memory:"), **resources},
    )
    with dg.build_sensor_context(
        instance=instance or dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        resources=resources,
        definitions=defs,
    ) as context:
        return sensor.evaluate_tick(context)
