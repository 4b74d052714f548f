"""Sources and wiring: the code location as the environment configures it, per vendor.

Expected values are written out here from the vendor documents and the README (file names, time
zones, schedule times), not read from the sources under test. The sensors are evaluated against
local folders (the file-source interface) so that what they match is proven, not assumed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData

from platform_assets.compose import build_definitions
from platform_assets.core.settings import Settings, SettingsError
from platform_assets.core.sources import VendorSource
from platform_assets.core.transport.files import LocalFolderResource
from platform_assets.core.transport.sftp import SFTPResource
from platform_assets.defs import VENDOR_SOURCES, accengage, attentive
from platform_assets.ingest.arrival import ARRIVAL_CHECK
from platform_assets.ingest.assets import SCHEMA_CHECK, VOLUME_CHECK

DAY = "20261001"
ENV = {
    "PLATFORM_START_DATE": "2026-01-01",
    "ACCENGAGE_APP_IDS": "ios,android",
    "ACCENGAGE_MEMBER_ID_COLUMNS": "android=client_ref",
    # one table of every vendor renamed: the asset, its sensor and its schedule must follow
    "ATTENTIVE_CONVERSIONS_FILE_PATTERN": "conv_{YYYYMMDD}.csv",
    "POSTSCRIPT_DIM_SHOPS_FILE_PATTERN": "shops_{YYYYMMDD}.csv",
    "ASAPP_TRANSCRIPTS_FILE_PATTERN": "chat_{YYYYMMDD}.csv",
    "ACCENGAGE_DEVICES_FILE_PATTERN": "devices_{APP_ID}_{YYYYMMDD}.csv",
    "ASAPP_ARRIVAL_CRON": "30 4 * * *",
}
POSTSCRIPT_TABLES = (
    "fct_attribution",
    "dim_messages",
    "fct_messages",
    "dim_platform_action_details",
    "dim_platform_actions",
    "dim_shops",
    "dim_subscribers",
)


@dataclasses.dataclass(frozen=True)
class Expected:
    schema: str
    patterns: dict[str, str]  # table -> file pattern after ENV
    timezone: str = "UTC"
    cron: str = "0 7 * * *"
    apps: tuple[str, ...] = ()


EXPECTED = {
    "attentive": Expected(
        "attentive_mobile",
        {
            "conversions": "conv_{YYYYMMDD}.csv",
            "notifications": "attentive_email_SMS_{YYYYMMDD}.csv",
        },
    ),
    "postscript": Expected(
        "postscript",
        {
            t: "shops_{YYYYMMDD}.csv" if t == "dim_shops" else f"postscript_{t}_{{YYYYMMDD}}.csv"
            for t in POSTSCRIPT_TABLES
        },
    ),
    "asapp": Expected(
        "asapp",
        {
            "call_metadata": "asapp_call_metadata_{YYYYMMDD}.csv",
            "transcripts": "chat_{YYYYMMDD}.csv",
            "transactions": "asapp_transactions_{YYYYMMDD}.csv",
        },
    ),
    "accengage": Expected(
        "accengage",
        {
            "message_statistics": "exportMessagesStatistics_{APP_ID}_{YYYYMMDD}.csv",
            "device_reactions": "exportDevicesReactions_{APP_ID}_{YYYYMMDD}.csv",
            "devices": "devices_{APP_ID}_{YYYYMMDD}.csv",
        },
        timezone="Etc/GMT-1",  # GMT+1 (POSIX signs are inverted)
        cron="0 6 * * *",
        apps=("ios", "android"),
    ),
}


PUBLIC_PAGES = {"attentive": "/attentive-mobile/", "postscript": "/postscript-beta"}
"""The vendor documents with a public page (Daasity's help center), by a part of its address."""


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    built = build_definitions(VENDOR_SOURCES, Settings.from_env(ENV))
    dg.Definitions.validate_loadable(built)
    return built


def test_every_vendor_is_declared_once():
    assert [s.name for s in VENDOR_SOURCES] == list(EXPECTED)


@pytest.mark.parametrize("vendor", list(EXPECTED))
def test_assets_checks_and_partitions_per_vendor(defs, vendor):
    want = EXPECTED[vendor]
    graph = defs.resolve_asset_graph()
    table_keys = {dg.AssetKey([want.schema, t]) for t in want.patterns}
    rejects_keys = {dg.AssetKey([want.schema, f"{t}__rejects"]) for t in want.patterns}
    in_group = {k for k in graph.get_all_asset_keys() if graph.get(k).group_name == vendor}
    assert {k for k in in_group if k.path[0] != "sftp"} == table_keys | rejects_keys
    for table, pattern in want.patterns.items():
        key = dg.AssetKey([want.schema, table])
        node = graph.get(key)
        assert node.metadata["file_pattern"] == pattern
        assert node.owners == [f"team:{vendor}"]
        [parent] = node.parent_keys
        assert parent.path[:2] == ["sftp", vendor] and parent in in_group
        assert graph.get(parent).metadata["file_pattern"] == pattern
        # the vendor document, cited by its title (and its public page where one exists)
        assert vendor in node.metadata["document"].value.lower()
        url = node.metadata.get("document_url")
        assert (url is not None) == (vendor in PUBLIC_PAGES)
        if url is not None:
            assert url.value.startswith("https://") and PUBLIC_PAGES[vendor] in url.value
        check_specs = list(defs.resolve_assets_def(key).check_specs)
        checks = {(c.name, c.blocking) for c in check_specs}
        assert checks == {(SCHEMA_CHECK, True), (VOLUME_CHECK, False), (ARRIVAL_CHECK, False)}
        assert {c.partitions_def for c in check_specs} == {node.partitions_def}  # per partition
        rejects = graph.get(dg.AssetKey([want.schema, f"{table}__rejects"]))
        assert rejects.parent_keys == {key} and rejects.partitions_def == node.partitions_def
        days = node.partitions_def
        if want.apps:
            assert isinstance(days, dg.MultiPartitionsDefinition)
            apps = days.get_partitions_def_for_dimension("app")
            assert tuple(apps.get_partition_keys()) == want.apps
            days = days.get_partitions_def_for_dimension("date")
        assert isinstance(days, dg.DailyPartitionsDefinition)
        assert days.timezone == want.timezone
        assert days.start.date() == dt.date(2026, 1, 1)


@pytest.mark.parametrize("vendor", list(EXPECTED))
def test_schedule_and_resources_per_vendor(defs, vendor):
    want = EXPECTED[vendor]
    arrival = {"accengage": "0 5 * * *", "asapp": "30 4 * * *"}.get(vendor, "0 6 * * *")
    for table in want.patterns:  # due by the documented window (ASAPP: ENV overrides it)
        policy = defs.resolve_asset_graph().get(dg.AssetKey([want.schema, table])).freshness_policy
        assert (policy.deadline_cron, policy.timezone) == (arrival, want.timezone)
        assert policy.lower_bound_delta == dt.timedelta(hours=24)
    schedule = defs.resolve_schedule_def(f"{vendor}_daily_schedule")
    assert schedule.cron_schedule == want.cron
    assert schedule.execution_timezone == want.timezone
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    job = defs.resolve_job_def(f"{vendor}_daily_job")
    assert set(job.asset_layer.selected_asset_keys) == {
        dg.AssetKey([want.schema, t]) for t in want.patterns
    }
    arrival_sensor = defs.resolve_sensor_def(f"{vendor}_arrival_sensor")
    assert arrival_sensor.default_status == dg.DefaultSensorStatus.STOPPED
    history = [j.name for j in defs.resolve_all_job_defs() if j.name == f"{vendor}_history_job"]
    assert history == ([f"{vendor}_history_job"] if vendor == "attentive" else [])
    assert isinstance(defs.resources[f"{vendor}_sftp"], SFTPResource)
    assert defs.resources[f"{vendor}_sftp"].env_prefix == vendor.upper()


@pytest.mark.parametrize("vendor", list(EXPECTED))
def test_sensor_matches_the_configured_file_names(defs, vendor, tmp_path: Path):
    """A file named by each table's configured pattern starts a run of that table; the
    documented name of a renamed table no longer does."""
    want = EXPECTED[vendor]
    sensor = defs.resolve_sensor_def(f"{vendor}_new_files_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    app = want.apps[0] if want.apps else ""
    expected = set()
    for table, pattern in want.patterns.items():
        name = pattern.replace("{YYYYMMDD}", DAY).replace("{APP_ID}", app)
        (tmp_path / name).write_text("x")
        expected.add((table, name))
    (tmp_path / f"attentive_conversions_{DAY}.csv").write_text("x")  # renamed: ignored
    (tmp_path / f"postscript_dim_shops_{DAY}.csv").write_text("x")
    (tmp_path / f"asapp_transcripts_{DAY}.csv").write_text("x")
    (tmp_path / f"exportDevices_{app or 'ios'}_{DAY}.csv").write_text("x")
    files = LocalFolderResource(remote_dir=str(tmp_path))

    # a file is requested once unchanged since the last tick
    def tick(cursor: str | None) -> SensorExecutionData:
        with dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(),
            resources={f"{vendor}_sftp": files},
            cursor=cursor,
            definitions=defs,
        ) as context:
            return sensor.evaluate_tick(context)

    settling = tick(None)
    assert settling.run_requests == []
    result = tick(settling.cursor)
    got = {
        (r.asset_selection[0].path[1], r.tags["source_file"].rsplit("/", 1)[1])
        for r in result.run_requests
    }
    assert got == expected


def test_accengage_member_id_headers_per_app(defs):
    node = defs.resolve_asset_graph().get(accengage.DEVICES.asset_key)
    assert node.metadata["column_names_by_app"].value == {"android": {"member_id": "client_ref"}}


def test_the_code_location_reads_the_environment_when_it_loads(monkeypatch):
    """``platform_assets.definitions.defs`` is a lazy loader: a setting changed after import is
    seen by the next load, without re-importing anything."""
    from platform_assets.definitions import defs as load

    monkeypatch.setenv("ATTENTIVE_CONVERSIONS_FILE_PATTERN", "first_{YYYYMMDD}.csv")
    first = load().resolve_asset_graph().get(attentive.CONVERSIONS.asset_key)
    monkeypatch.setenv("ATTENTIVE_CONVERSIONS_FILE_PATTERN", "second_{YYYYMMDD}.csv")
    second = load().resolve_asset_graph().get(attentive.CONVERSIONS.asset_key)
    assert first.metadata["file_pattern"] == "first_{YYYYMMDD}.csv"
    assert second.metadata["file_pattern"] == "second_{YYYYMMDD}.csv"


def test_a_load_builds_the_definitions_once_per_configuration(monkeypatch):
    """A process builds the definitions once per configuration (a run forked from the warm code
    server finds them built): the same object for the same documented settings, whatever else
    the environment holds; a new one when a documented setting changes, and again when it
    changes back (one build kept)."""
    from platform_assets.definitions import defs as load

    monkeypatch.setenv("PLATFORM_START_DATE", "2026-01-01")
    first = load()
    assert load() is first
    monkeypatch.setenv("SF_PARTNER", "dagster")  # not the platform's: Dagster sets it in a run
    monkeypatch.setenv("DAGSTER_RUN_ID", "abc")
    assert load() is first
    monkeypatch.setenv("PLATFORM_START_DATE", "2026-02-01")
    second = load()
    assert second is not first
    partitions = second.resolve_assets_def(attentive.CONVERSIONS.asset_key).partitions_def
    assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
    assert partitions.start.date() == dt.date(2026, 2, 1)
    monkeypatch.setenv("PLATFORM_START_DATE", "2026-01-01")
    assert load() is not first and load() is load()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ACCENGAGE_APP_IDS": "6, ../x"}, r"ACCENGAGE_APP_IDS: \['\.\./x'\]"),
        (
            {"ACCENGAGE_MEMBER_ID_COLUMNS": "6"},
            "ACCENGAGE_MEMBER_ID_COLUMNS: '6' is not app=header",
        ),
        ({"PLATFORM_START_DATE": "2026-13-01"}, "PLATFORM_START_DATE must be a date"),
        ({"PLATFORM_STAGING_THREADS": "two"}, "PLATFORM_STAGING_THREADS must be a whole number"),
        ({"PLATFORM_MAX_INFLATED_BYTES": "-1"}, "PLATFORM_MAX_INFLATED_BYTES must not be negative"),
        ({"ATTENTIVE_CONVERSIONS_FILE_PATTERN": "conv.csv"}, "needs exactly one {YYYYMMDD}"),
        ({"POSTSCRIPT_ARRIVAL_CRON": "daily"}, "POSTSCRIPT_ARRIVAL_CRON: 'daily' is not a cron"),
        ({"PLATFORM_VOLUME_MIN_RATIO": "2"}, "PLATFORM_VOLUME_MIN_RATIO must be a number between"),
    ],
)
def test_bad_settings_fail_when_the_definitions_load_naming_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        build_definitions(VENDOR_SOURCES, Settings.from_env(env))


def test_settings_are_parsed_once_with_their_defaults():
    settings = Settings.from_env(
        {"ACCENGAGE_APP_IDS": " 6 ,7,6", "PLATFORM_STAGING_THREADS": "1", "DUCKDB_PATH": "x.db"}
    )
    assert accengage.SOURCE.configure(settings).app_ids == ("6", "7")
    assert settings.loader.threads == 1 and settings.loader.memory_limit == "512MB"
    assert settings.duckdb_path == "x.db" and settings.start_date == "2024-01-01"


def test_a_source_refuses_inconsistent_declarations():
    with pytest.raises(ValueError, match="tables of other sources"):
        VendorSource("other", attentive.TABLES, "d", "doc")
    with pytest.raises(ValueError, match="every table has one file per app, or none"):
        mixed = (accengage.DEVICES, dataclasses.replace(attentive.CONVERSIONS, source="accengage"))
        VendorSource("accengage", mixed, "d", "doc")
    with pytest.raises(ValueError, match="per-app columns"):
        VendorSource("attentive", attentive.TABLES, "d", "doc", per_app_columns=("nope",))


def test_owners_are_configuration():
    env = {"ATTENTIVE_OWNERS": "sms@brand.example, team:crm", "PLATFORM_MODELS_OWNERS": "team:bi"}
    graph = build_definitions(VENDOR_SOURCES, Settings.from_env(env)).resolve_asset_graph()
    conversions = dg.AssetKey(["attentive_mobile", "conversions"])
    assert graph.get(conversions).owners == ["sms@brand.example", "team:crm"]
    assert graph.get(dg.AssetKey(["sftp", "attentive", "attentive_conversions"])).owners == [
        "sms@brand.example",
        "team:crm",
    ]
    assert graph.get(dg.AssetKey(["postscript", "dim_shops"])).owners == ["team:postscript"]
    assert graph.get(dg.AssetKey(["marts", "customer_timeline"])).owners == ["team:bi"]
    with pytest.raises(SettingsError, match="ATTENTIVE_OWNERS"):
        Settings.from_env({"ATTENTIVE_OWNERS": "the sms people"}).source("ATTENTIVE", [])


def test_only_the_newest_invocation_folders_of_a_group_are_kept(tmp_path: Path):
    """dagster-dbt leaves each dbt invocation's artifacts in a folder of its own under the
    project's target; after each build the group keeps its newest five, other groups' untouched."""
    from platform_assets.models.assets import KEPT_INVOCATIONS, _prune_invocations

    def folder(name: str, age: int) -> Path:
        path = tmp_path / name
        (path / "run").mkdir(parents=True)
        (path / "dbt.log").write_text("log")
        os.utime(path, (1_800_000_000 - age, 1_800_000_000 - age))
        return path

    daily = [folder(f"models_daily-{n:07d}-abcdef{n}", age=n) for n in range(8)]
    other = [folder(f"models_app_daily-{n:07d}-abcdef{n}", age=n) for n in range(8)]
    kept = tmp_path / "partial_parse.msgpack"
    kept.write_bytes(b"state")
    _prune_invocations(daily[0])
    assert [p.exists() for p in daily] == [n < KEPT_INVOCATIONS for n in range(8)]
    assert all(p.exists() for p in other) and kept.exists()
