"""The dbt project (``platform_assets/models/dbt_project``) as Dagster assets, over the vendor
tables.

dbt sources are named after the vendor tables' schemas and tables, so each resolves to the vendor
asset's key and the graph is one: SFTP files -> vendor tables -> staging -> identity and marts.
Models are built in three groups, each as partitioned as the vendor tables it follows:

- ``tag:daily`` (staging of Attentive, Postscript, ASAPP; ``sms_daily_performance``): the daily
  UTC partitions of those vendors; a run hands its days to dbt as its event-time window
  (``--event-time-start/--event-time-end``) and the mart, a ``microbatch`` model, rebuilds exactly
  those days. Eager: a re-loaded vendor day rebuilds its day.
- ``tag:app_daily`` (staging of Accengage; ``push_message_performance``): Accengage's GMT+1 days,
  every app in one run (the app is a column; each (date, app) vendor partition maps to its day).
  Eager.
- the rest (``identity_*``, ``customer_identity``, ``customer_timeline``,
  ``contact_center_outcomes``): full rebuilds, on a cron after the vendors' delivery windows.

Every dbt run takes the DuckDB writer pool, as the loaders do: a mart build and a partition load
never fight over the file's write lock. On a lake (``PLATFORM_WAREHOUSE=ducklake``) dbt runs the
profile's ``lake`` target and takes the models' own pool: the loads go on beside a build.

A run's days travel as dbt's event-time window, never as vars, and the vars and profile are the
same on every run (per backend), so dbt's partial parsing holds: each invocation leaves its
``partial_parse.msgpack`` as its target's, which dagster-dbt hands to the next one (no re-parse
of the project per run). The profile's default target keeps its state and invocation folders in
the project's ``target/``, another target in ``target/<name>/``: a checkout that builds both
(the tests; a trial of the lake) never re-parses because the other one ran last.
"""

import importlib.metadata
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource
from packaging import version

from platform_assets.core.environ import environment
from platform_assets.core.partitions import DATE_DIMENSION
from platform_assets.core.settings import Settings
from platform_assets.core.sources import ConfiguredSource
from platform_assets.core.warehouse import models_pool
from platform_assets.models.dbt_server import SERVER_ENV

PROJECT_DIR = Path(__file__).resolve().parent / "dbt_project"
DBT_RESOURCE = "dbt"
DAILY_TAG = "daily"
APP_DAILY_TAG = "app_daily"
FULL_REBUILD_CRON = "0 8 * * *"
"""Full rebuilds at 08:00 UTC: after the daily loads (07:00 UTC; Accengage 06:00 GMT+1)."""
PARTIAL_PARSE = "partial_parse.msgpack"
KEPT_INVOCATIONS = 5
"""dbt invocation folders (artifacts, ``dbt.log``) kept per group under the project's target."""
LAKE_TARGET = "lake"
"""The profile's target on a lake (``PLATFORM_WAREHOUSE=ducklake``): dbt-duckdb in memory with
the lake attached by the ``platform_assets.models.lake`` plugin, the models written into it."""


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


class PlatformDbtCli(DbtCliResource):
    """dagster-dbt's resource without two costs it pays on every invocation (Dagster makes the
    resource anew for each run, so nothing it caches survives), about 6 s per run measured:

    - asking the dbt executable its version (a ``dbt --version`` process, 3 s): the executable
      is this environment's dbt-core, whose version the package metadata states;
    - loading a dbt adapter in the code location's process (2.7 s): dagster-dbt uses it only to
      fetch row counts and column metadata, which these assets do not ask for.

    Both hooks are dagster-dbt's (0.27 to 0.29); ``test_models.py`` builds the models through
    them."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    warm_server: str | None = None
    """A warm dbt's socket (``PLATFORM_DBT_SERVER``): dbt then runs as ``platform-dbt``, a fork
    of that server (:mod:`.dbt_server`), instead of a new ``dbt`` process."""

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None


@cache
def _dbt_cli(
    project: DbtProject, target: str | None = None, warm_server: str | None = None
) -> DbtCliResource:
    """dbt of this Python environment (whether or not its bin folder is on PATH), on the
    profile's default target (the DuckDB file) or ``target``; through the warm dbt at
    ``warm_server`` when one is set."""
    executable = "platform-dbt" if warm_server else "dbt"
    return PlatformDbtCli(
        project_dir=project,  # type: ignore[arg-type]  # DbtCliResource.__init__ takes a DbtProject; its subclass is typed by its fields
        profiles_dir=str(PROJECT_DIR),
        dbt_executable=str(Path(sys.executable).with_name(executable)),
        target=target,
        warm_server=warm_server,
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


def _partitions(
    sources: Sequence[ConfiguredSource],
) -> tuple[dg.TimeWindowPartitionsDefinition, dg.TimeWindowPartitionsDefinition]:
    """The daily UTC partitions the non-app vendors share, and the days (GMT+1) of the (date,
    app) ones: the app models' partitions, each (date, app) vendor partition mapping to its day."""
    daily = {s.partitions_def for s in sources if not s.source.has_apps}
    apps = {s.partitions_def for s in sources if s.source.has_apps}
    if len(daily) != 1 or len(apps) != 1:
        raise ValueError("the models expect one daily and one (date, app) partitioning")
    by_app = apps.pop()
    app_days = (
        by_app.get_partitions_def_for_dimension(DATE_DIMENSION)
        if isinstance(by_app, dg.MultiPartitionsDefinition)
        else by_app
    )
    days = daily.pop()
    if not isinstance(days, dg.TimeWindowPartitionsDefinition) or not isinstance(
        app_days, dg.TimeWindowPartitionsDefinition
    ):
        raise ValueError("the models expect daily time-window partitions")
    return days, app_days


def _event_time_window(context: dg.AssetExecutionContext) -> list[str]:
    """The run's days as dbt's event-time window: the first day and the day after the last, as
    dates in the partitions' own time zone (a mart's day is that zone's date)."""
    start, end = context.partition_time_window
    return ["--event-time-start", f"{start:%Y-%m-%d}", "--event-time-end", f"{end:%Y-%m-%d}"]


def _dbt_build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: DuckDBResource,
    variables: Mapping[str, object],
    window: Sequence[str] = (),
) -> Iterator[Any]:
    """``dbt build`` of the run's selection over its event-time ``window``, with the settings'
    ``variables`` (the same on every run, so the project is not parsed again) and the warehouse
    file's absolute path in the dbt process's environment (:mod:`.warehouse_file`). The
    invocation's partial-parse state is kept as the project's for the next one."""
    from platform_assets.models.warehouse_file import WAREHOUSE_ENV  # dbt-duckdb's: at run time

    path = Path(warehouse.database).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)  # at run time, as the loads do
    args = ["build", *window, "--vars", json.dumps(dict(variables), sort_keys=True)]
    # dagster-dbt makes the invocation's folder under DBT_TARGET_PATH and hands it the parse
    # state kept there: the target's own (the module's docstring)
    dbt_env = {WAREHOUSE_ENV: str(path), "DBT_TARGET_PATH": _state_folder(dbt)}
    if isinstance(dbt, PlatformDbtCli) and dbt.warm_server:
        dbt_env[SERVER_ENV] = dbt.warm_server
    # dagster-dbt hands dbt a copy of the process environment when it starts it
    with environment(dbt_env):
        invocation = dbt.cli(args, context=context)
    try:
        yield from invocation.stream()
        try:
            _keep_partial_parse(invocation.target_path)
        except OSError as exc:  # a cache: the next invocation parses the project again
            context.log.warning(f"dbt's partial-parse state was not kept: {exc}")
    finally:
        _prune_invocations(invocation.target_path)


def _prune_invocations(invocation_target: Path, keep: int = KEPT_INVOCATIONS) -> None:
    """Remove all but the newest ``keep`` of this group's invocation folders (dagster-dbt gives
    each invocation its own, ``<group>-<run>-<id>``: its artifacts and ``dbt.log``, 3-4 MB that
    nothing removes: a year of daily runs would fill gigabytes inside the package)."""
    group = invocation_target.name.rsplit("-", 2)[0]
    folders = sorted(
        (p for p in invocation_target.parent.glob(f"{group}-*-*") if p.is_dir()),
        key=_modified,
        reverse=True,
    )
    for old in folders[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _modified(folder: Path) -> float:
    """A folder's mtime; 0 for one another process has just removed."""
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0


def _state_folder(dbt: DbtCliResource) -> str:
    """Where ``dbt``'s target keeps its parse state and invocation folders, relative to the
    project: the project's target folder for the profile's default target, a folder of its own
    in it for another (a state parsed for one target's profile makes dbt parse again for the
    other: "profile has changed")."""
    base = Path(dbt_project().target_path)
    return str(base / dbt.target if dbt.target else base)


def _keep_partial_parse(invocation_target: Path) -> None:
    """Make the invocation's partial-parse state its target's (replaced in one step): in the
    folder that holds the invocation's, where dagster-dbt looks before the next invocation."""
    state = invocation_target / PARTIAL_PARSE
    if not state.exists():
        return
    kept = invocation_target.parent / PARTIAL_PARSE
    part = kept.with_name(f".{PARTIAL_PARSE}.{os.getpid()}")
    shutil.copyfile(state, part)
    os.replace(part, kept)


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
        "pool": models_pool(settings.loader),
    }
    daily, app_days = _partitions(sources)
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
        yield from _dbt_build(context, dbt, duckdb, common, _event_time_window(context))

    @dbt_assets(
        select=f"tag:{APP_DAILY_TAG}",
        name="models_app_daily",
        partitions_def=app_days,
        backfill_policy=dg.BackfillPolicy.single_run(),
        **shared,
    )
    def models_app_daily(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource
    ) -> Iterator[Any]:
        """Accengage's staging views and push mart, every app, for the run's GMT+1 days."""
        yield from _dbt_build(context, dbt, duckdb, common, _event_time_window(context))

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
        resources={
            DBT_RESOURCE: _dbt_cli(
                project,
                LAKE_TARGET if settings.warehouse_backend == "ducklake" else None,
                settings.dbt_server,
            )
        },
    )
