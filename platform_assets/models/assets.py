"""The dbt project (``platform_assets/models/dbt_project``) as Dagster assets, over the vendor
tables.

dbt sources are named after the vendor tables' schemas and tables, so each resolves to the vendor
asset's key and the graph is one: SFTP files -> vendor tables -> staging -> identity and marts.
Models are built in three groups, each as partitioned as the vendor tables it follows:

- ``tag:daily`` (staging of Attentive, Postscript, ASAPP; ``sms_daily_performance``): the daily
  UTC partitions of those vendors; a run passes its days to dbt (``min_day``/``max_day``) and the
  incremental mart rebuilds exactly those days. Eager: a re-loaded vendor day rebuilds its day.
- ``tag:app_daily`` (staging of Accengage; ``push_message_performance``): Accengage's (date, app)
  partitions; a run rebuilds one app's GMT+1 day. Eager.
- the rest (``identity_*``, ``customer_identity``, ``customer_timeline``,
  ``contact_center_outcomes``): full rebuilds, on a cron after the vendors' delivery windows.

Every dbt run takes the DuckDB writer pool, as the loaders do: a mart build and a partition load
never fight over the file's write lock.
"""

import datetime as dt
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource

from platform_assets.core.partitions import APP_DIMENSION, DATE_DIMENSION
from platform_assets.core.settings import Settings
from platform_assets.core.sources import ConfiguredSource
from platform_assets.core.warehouse import WAREHOUSE_POOL

PROJECT_DIR = Path(__file__).resolve().parent / "dbt_project"
DBT_RESOURCE = "dbt"
DAILY_TAG = "daily"
APP_DAILY_TAG = "app_daily"
FULL_REBUILD_CRON = "0 8 * * *"
"""Full rebuilds at 08:00 UTC: after the daily loads (07:00 UTC; Accengage 06:00 GMT+1)."""
ONE_DAY = dt.timedelta(days=1)
WAREHOUSE_PATH_VAR = "warehouse_path"
"""The dbt var the profile reads the warehouse file from: its absolute path (dbt runs inside
the project folder), the same on every run, handed over as an argument (``--vars``)."""


@cache
def dbt_project() -> DbtProject:
    """The packaged dbt project, its manifest parsed (``dbt parse``: offline, no packages) when
    it is missing or older than a file of the project."""
    project = DbtProject(project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR)
    manifest = project.manifest_path
    sources = [
        p
        for folder in ("models", "macros", "tests")
        for p in (PROJECT_DIR / folder).rglob("*")
        if p.is_file()
    ]
    sources += [PROJECT_DIR / "dbt_project.yml", PROJECT_DIR / "profiles.yml"]
    newest = max(p.stat().st_mtime for p in sources)
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        _dbt_cli(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project


@cache
def _dbt_cli(project: DbtProject) -> DbtCliResource:
    """dbt of this Python environment (whether or not its bin folder is on PATH); once per
    process (the resource asks ``dbt --version`` when it is made)."""
    return DbtCliResource(
        project_dir=project,
        profiles_dir=str(PROJECT_DIR),
        dbt_executable=str(Path(sys.executable).with_name("dbt")),
    )


def eager_any_day() -> dg.AutomationCondition:
    """Dagster's ``eager()`` for every day, not only the latest: a partition is rebuilt when one
    of its dependencies' partitions updates (a vendor re-sent an old day), and the latest day is
    built when it newly goes missing; never while a dependency is missing or in progress."""
    return (
        (
            (
                dg.AutomationCondition.in_latest_time_window()
                & dg.AutomationCondition.newly_missing()
            )
            | dg.AutomationCondition.any_deps_updated()
        ).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("eager (any day)")


class PlatformDbtTranslator(DagsterDbtTranslator):
    """Asset keys ``[schema, model]`` (``staging/stg_...``, ``marts/sms_daily_performance``),
    groups by schema, owners from ``PLATFORM_MODELS_OWNERS`` (default ``team:data``), and each
    model's automation condition by its partitioning tag."""

    def __init__(self, owners: Sequence[str] = ("team:data",)):
        super().__init__()
        self._owners = list(owners)

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":  # [schema, table]: the vendor asset
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["config"]["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["config"].get("schema")

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        return self._owners

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        tags = set(dbt_resource_props.get("tags", []))
        if tags & {DAILY_TAG, APP_DAILY_TAG}:
            return eager_any_day()
        return dg.AutomationCondition.on_cron(FULL_REBUILD_CRON, "UTC")


def _partitions(sources: Sequence[ConfiguredSource]) -> tuple[dg.PartitionsDefinition, ...]:
    """The daily UTC partitions the non-app vendors share, and the (date, app) ones."""
    daily = {s.partitions_def for s in sources if not s.source.has_apps}
    apps = {s.partitions_def for s in sources if s.source.has_apps}
    if len(daily) != 1 or len(apps) != 1:
        raise ValueError("the models expect one daily and one (date, app) partitioning")
    return daily.pop(), apps.pop()


def _dbt_build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: DuckDBResource,
    variables: Mapping[str, object],
) -> Iterator[Any]:
    """``dbt build`` of the run's selection with ``variables`` (the partition, the settings)
    and the warehouse's absolute path (the profile's ``path``)."""
    path = Path(warehouse.database).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)  # at run time, as the loads do
    args = [
        "build",
        "--vars",
        json.dumps({**variables, WAREHOUSE_PATH_VAR: str(path)}, sort_keys=True),
    ]
    yield from dbt.cli(args, context=context).stream()


def build_model_definitions(
    sources: Sequence[ConfiguredSource], settings: Settings
) -> dg.Definitions:
    """The three groups of dbt assets (see the module docstring) and the dbt resource."""
    project = dbt_project()
    # every group: the same manifest, translator and the warehouse's writer pool
    shared: dict[str, Any] = {
        "manifest": project.manifest_path,
        "project": project,
        "dagster_dbt_translator": PlatformDbtTranslator(
            settings.owners("PLATFORM_MODELS_OWNERS") or ("team:data",)
        ),
        "pool": WAREHOUSE_POOL,
    }
    daily, by_app = _partitions(sources)
    common = {"asapp_customer_id_hash": settings.asapp_customer_id_hash}

    @dbt_assets(
        select=f"tag:{DAILY_TAG}",
        name="models_daily",
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        **shared,
    )
    def models_daily(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource
    ) -> Iterator[Any]:
        """Staging views of the daily vendors and the day-grain SMS mart, for the run's days."""
        start, end = context.partition_time_window  # end is the next day's midnight
        days = {"min_day": start.date().isoformat(), "max_day": (end - ONE_DAY).date().isoformat()}
        yield from _dbt_build(context, dbt, duckdb, {**common, **days})

    @dbt_assets(
        select=f"tag:{APP_DAILY_TAG}",
        name="models_app_daily",
        partitions_def=by_app,
        **shared,
    )
    def models_app_daily(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource
    ) -> Iterator[Any]:
        """Accengage's staging views and push mart, for one app's GMT+1 day."""
        key = context.partition_key
        assert isinstance(key, dg.MultiPartitionKey)
        day, app = key.keys_by_dimension[DATE_DIMENSION], key.keys_by_dimension[APP_DIMENSION]
        variables = {**common, "min_day": day, "max_day": day, "app_id": app}
        yield from _dbt_build(context, dbt, duckdb, variables)

    @dbt_assets(
        exclude=f"tag:{DAILY_TAG} tag:{APP_DAILY_TAG}",
        name="models_full",
        **shared,
    )
    def models_full(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource
    ) -> Iterator[Any]:
        """Identity, the customer timeline and the contact-center mart: full rebuilds."""
        yield from _dbt_build(context, dbt, duckdb, common)

    jobs = [
        dg.define_asset_job(f"{a.op.name}_job", selection=dg.AssetSelection.assets(a))
        for a in (models_daily, models_app_daily, models_full)
    ]
    # the models follow their inputs without a click: this sensor evaluates their conditions
    automation = dg.AutomationConditionSensorDefinition(
        "models_automation_sensor",
        target=dg.AssetSelection.assets(models_daily, models_app_daily, models_full),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Rebuilds a mart day when its vendor day loads; the full rebuilds on cron.",
    )
    return dg.Definitions(
        assets=[models_daily, models_app_daily, models_full],
        sensors=[automation],
        jobs=jobs,
        resources={DBT_RESOURCE: _dbt_cli(project)},
    )
