"""The Dagster layer: definitions, materializations, checks, sensors and schedules."""

from __future__ import annotations

import datetime as dt
import json
import os

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from platform_assets.defs.attentive.tables import CONVERSIONS, NOTIFICATIONS, TABLES
from platform_assets.lib.automation import build_daily_schedule, build_new_file_sensor
from platform_assets.lib.factory import SCHEMA_CHECK, build_source_assets
from platform_assets.lib.settings import sftp_from_env
from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    NOTIFICATION_HEADER,
    conversion,
    conversion_key,
    notification,
    write_csv,
)

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1, timezone="UTC")
ASSETS = build_source_assets(TABLES, PARTITIONS)
TABLE_KEYS = [s.asset_key for s in TABLES]


@pytest.fixture
def attentive_env(sshd, remote_dir, monkeypatch):
    for name in [n for n in os.environ if n.startswith("ATTENTIVE_SFTP_")]:
        monkeypatch.delenv(name)
    auth = "password" if sshd.password else "ed25519"
    for name, value in sshd.env("ATTENTIVE", auth).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ATTENTIVE_SFTP_REMOTE_DIR", str(remote_dir))
    return remote_dir


def resources(warehouse: str) -> dict[str, object]:
    return {
        "attentive_sftp": sftp_from_env("ATTENTIVE"),
        "duckdb": DuckDBResource(database=warehouse),
    }


def test_definitions_load_with_every_attentive_asset():
    from platform_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for spec in TABLES:
        node = graph.get(spec.asset_key)
        assert node.group_name == "attentive"
        assert node.owners == ["team:attentive"]
        assert {"duckdb", "sftp"} <= set(node.kinds)
        assert node.partitions_def is not None
        assert node.description and spec.file_pattern.replace("{YYYYMMDD}", "YYYYMMDD") in (
            node.description
        )
        assert [d.path for d in node.parent_keys] == [
            ["sftp", "attentive", spec.file_pattern.split("_{")[0]]
        ]
        checks = [c for c in defs.resolve_all_asset_specs() if c.key == spec.asset_key]
        assert checks
    check_keys = {k.name for k in graph.asset_check_keys}
    assert check_keys == {SCHEMA_CHECK}
    assert defs.get_schedule_def("attentive_daily_schedule")
    assert defs.get_sensor_def("attentive_new_files_sensor")


def test_materialize_both_assets_with_metadata_and_checks(attentive_env, warehouse):
    rows = [conversion(f"+1555123000{i}") for i in range(3)]
    write_csv(attentive_env / "attentive_conversions_20261001.csv", CONVERSION_HEADER, rows)
    write_csv(
        attentive_env / "attentive_email_SMS_20261001.csv", NOTIFICATION_HEADER, [notification()]
    )
    result = dg.materialize(
        ASSETS, selection=TABLE_KEYS, partition_key="2026-10-01", resources=resources(warehouse)
    )
    assert result.success
    mats = {
        m.asset_key: m
        for m in result.asset_materializations_for_node("attentive_mobile__conversions")
    }
    meta = mats[CONVERSIONS.asset_key].metadata
    assert meta["dagster/row_count"].value == 3
    assert meta["rows_read"].value == 3 and meta["rows_inserted"].value == 3
    assert meta["rows_rejected"].value == 0
    assert meta["dagster/table_name"].value == "attentive_mobile.conversions"
    assert meta["source_path"].value.endswith("attentive_conversions_20261001.csv")
    assert len(meta["source_sha256"].value) == 64
    assert [c.name for c in meta["dagster/column_schema"].schema.columns][:2] == [
        "conversion_id",
        "phone",
    ]
    for timing in ("seconds_download", "seconds_validate", "seconds_write"):
        assert meta[timing].value >= 0
    evaluations = result.get_asset_check_evaluations()
    assert {(e.asset_key, e.check_name, e.passed) for e in evaluations} == {
        (CONVERSIONS.asset_key, SCHEMA_CHECK, True),
        (NOTIFICATIONS.asset_key, SCHEMA_CHECK, True),
    }
    with duckdb.connect(warehouse, read_only=True) as con:
        keys = {
            r[0]
            for r in con.execute("SELECT __sync_key FROM attentive_mobile.conversions").fetchall()
        }
    assert keys == {conversion_key(r) for r in rows}


def test_a_failing_check_fails_the_run_and_writes_nothing(attentive_env, warehouse):
    write_csv(
        attentive_env / "attentive_conversions_20261001.csv",
        CONVERSION_HEADER,
        [conversion(), conversion("12")],
    )
    result = dg.materialize(
        ASSETS,
        selection=[CONVERSIONS.asset_key],
        partition_key="2026-10-01",
        resources=resources(warehouse),
        raise_on_error=False,
    )
    assert not result.success
    evaluations = result.get_asset_check_evaluations()
    assert [(e.check_name, e.passed) for e in evaluations] == [(SCHEMA_CHECK, False)]
    assert evaluations[0].metadata["rows_rejected"].value == 1
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "attentive_conversions_20261001.csv" in failure.message
    assert "e164_phone" in failure.message and "line 3" in failure.message
    assert not result.asset_materializations_for_node("attentive_mobile__conversions")
    with duckdb.connect(warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM attentive_mobile.conversions").fetchone() == (0,)
        assert con.execute(
            "SELECT count(*) FROM attentive_mobile.conversions__rejects"
        ).fetchone() == (1,)


def test_missing_file_fails_naming_the_remote_path(attentive_env, warehouse):
    result = dg.materialize(
        ASSETS,
        selection=[CONVERSIONS.asset_key],
        partition_key="2026-10-05",
        resources=resources(warehouse),
        raise_on_error=False,
    )
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"{attentive_env}/attentive_conversions_20261005.csv" in message


def test_missing_setting_names_the_variable(attentive_env, warehouse, monkeypatch):
    monkeypatch.delenv("ATTENTIVE_SFTP_HOST")
    with pytest.raises(Exception, match="ATTENTIVE_SFTP_HOST"):
        dg.materialize(
            ASSETS,
            selection=[CONVERSIONS.asset_key],
            partition_key="2026-10-01",
            resources=resources(warehouse),
        )


def test_secrets_stay_out_of_metadata_and_logs(attentive_env, warehouse, sshd, capsys):
    if not sshd.password:
        pytest.fail("needs password auth (root)")
    write_csv(
        attentive_env / "attentive_conversions_20261001.csv", CONVERSION_HEADER, [conversion()]
    )
    result = dg.materialize(
        ASSETS,
        selection=[CONVERSIONS.asset_key],
        partition_key="2026-10-01",
        resources=resources(warehouse),
    )
    assert result.success
    everything = json.dumps([str(e) for e in result.all_events]) + str(capsys.readouterr())
    assert sshd.password not in everything


def test_new_file_sensor_requests_each_new_or_changed_file_once(attentive_env):
    sensor = build_new_file_sensor("attentive", TABLES, PARTITIONS)
    write_csv(
        attentive_env / "attentive_conversions_20261001.csv", CONVERSION_HEADER, [conversion()]
    )
    write_csv(
        attentive_env / "attentive_email_SMS_20261002.csv", NOTIFICATION_HEADER, [notification()]
    )
    for junk in (
        "attentive_conversions_2026100.csv",
        "attentive_conversions_20261399.csv",
        "attentive_conversions_20261001.csv.tmp",
        "notes.txt",
        "attentive_conversions_20251231.csv",
    ):  # last: before the first partition
        (attentive_env / junk).write_text("x")
    sftp = sftp_from_env("ATTENTIVE")

    with dg.build_sensor_context(resources={"attentive_sftp": sftp}) as context:
        first = sensor(context)
    requests = sorted((r.partition_key, tuple(r.asset_selection)) for r in first.run_requests)
    assert requests == [
        ("2026-10-01", (CONVERSIONS.asset_key,)),
        ("2026-10-02", (NOTIFICATIONS.asset_key,)),
    ]

    with dg.build_sensor_context(resources={"attentive_sftp": sftp}, cursor=first.cursor) as ctx:
        assert sensor(ctx).run_requests == []

    write_csv(
        attentive_env / "attentive_conversions_20261001.csv",
        CONVERSION_HEADER,
        [conversion(), conversion("+15550000001")],
    )  # resent, bigger
    with dg.build_sensor_context(resources={"attentive_sftp": sftp}, cursor=first.cursor) as ctx:
        third = sensor(ctx)
    assert [(r.partition_key, tuple(r.asset_selection)) for r in third.run_requests] == [
        ("2026-10-01", (CONVERSIONS.asset_key,))
    ]
    assert third.run_requests[0].run_key != first.run_requests[0].run_key


def test_daily_schedule_loads_the_previous_day():
    schedule = build_daily_schedule("attentive", TABLES, PARTITIONS)
    tick = dt.datetime(2026, 10, 2, 7, 0, tzinfo=dt.UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        [request] = schedule(context)
    assert request.partition_key == "2026-10-01"
