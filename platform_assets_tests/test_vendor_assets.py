"""The Dagster layer of Postscript, ASAPP and Accengage: definitions, (date, app) partitions,
materializations, the gz-aware sensor and the per-app schedule."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import os
import sys

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from platform_assets.defs.accengage import tables as accengage_tables
from platform_assets.defs.asapp import tables as asapp_tables
from platform_assets.defs.postscript import tables as postscript_tables
from platform_assets.lib.automation import build_daily_schedule, build_new_file_sensor
from platform_assets.lib.factory import SCHEMA_CHECK, build_source_assets
from platform_assets.lib.partitions import app_file_partitions
from platform_assets.lib.settings import sftp_from_env
from platform_assets_tests.vendorfiles import (
    ACCENGAGE_HEADERS,
    POSTSCRIPT_HEADERS,
    accengage_name,
    accengage_row,
    postscript_row,
    write_rows,
)

DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1, timezone="UTC")
APPS = app_file_partitions(["ios", "android"], accengage_tables.PARTITION_TIMEZONE)


def vendor_env(monkeypatch, sshd, remote_dir, prefix: str, auth: str) -> None:
    for name in [n for n in os.environ if n.startswith(f"{prefix}_SFTP_")]:
        monkeypatch.delenv(name)
    for name, value in sshd.env(prefix, auth).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(f"{prefix}_SFTP_REMOTE_DIR", str(remote_dir))


def query(warehouse: str, sql: str) -> list[tuple]:
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_definitions_hold_every_documented_table(monkeypatch):
    monkeypatch.setenv("ACCENGAGE_APP_IDS", "ios,android")
    monkeypatch.setenv("ACCENGAGE_MEMBER_ID_COLUMNS", "android=client_ref")
    monkeypatch.setenv("POSTSCRIPT_DIM_SHOPS_FILE_PATTERN", "shops_{YYYYMMDD}.csv")
    for module in [m for m in sys.modules if m.startswith("platform_assets.defs")] + [
        "platform_assets.definitions"
    ]:
        sys.modules.pop(module, None)
    defs = importlib.import_module("platform_assets.definitions").defs
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    expected = {
        "postscript": {
            "fct_attribution",
            "dim_messages",
            "fct_messages",
            "dim_platform_action_details",
            "dim_platform_actions",
            "dim_shops",
            "dim_subscribers",
        },
        "asapp": {"call_metadata", "transcripts", "transactions"},
        "accengage": {"message_statistics", "device_reactions", "devices"},
    }
    for vendor, names in expected.items():
        keys = {k.path[1] for k in graph.get_all_asset_keys() if k.path[0] == vendor}
        assert keys == names
        for name in names:
            node = graph.get(dg.AssetKey([vendor, name]))
            assert node.group_name == vendor and node.owners == [f"team:{vendor}"]
            assert node.description and len(node.description) > 60
            assert dg.AssetCheckKey(node.key, SCHEMA_CHECK) in graph.asset_check_keys
        assert defs.get_schedule_def(f"{vendor}_daily_schedule")
        assert defs.get_sensor_def(f"{vendor}_new_files_sensor")
    devices = graph.get(dg.AssetKey(["accengage", "devices"]))
    assert isinstance(devices.partitions_def, dg.MultiPartitionsDefinition)
    assert dg.MultiPartitionKey({"date": "2026-10-01", "app": "android"}) in (
        devices.partitions_def.get_partition_keys(
            current_time=dt.datetime(2026, 10, 3, tzinfo=dt.UTC)
        )
    )
    spec_meta = graph.get(dg.AssetKey(["accengage", "devices"])).metadata
    assert spec_meta["column_names_by_app"].value == {"android": {"member_id": "client_ref"}}
    shops = graph.get(dg.AssetKey(["postscript", "dim_shops"]))
    assert shops.metadata["file_pattern"] == "shops_{YYYYMMDD}.csv"
    assert (
        graph.get(dg.AssetKey(["postscript", "fct_messages"])).metadata["version_column"]
        == "_UPDATED_AT"
    )


def test_bad_app_ids_are_refused(monkeypatch):
    from platform_assets.lib.settings import app_ids, column_names_by_app

    monkeypatch.setenv("ACCENGAGE_APP_IDS", "6, ../x")
    with pytest.raises(ValueError, match=r"\.\./x"):
        app_ids("ACCENGAGE")
    monkeypatch.setenv("ACCENGAGE_APP_IDS", " 6 ,7,6")
    assert app_ids("ACCENGAGE") == ["6", "7"]
    monkeypatch.setenv("ACCENGAGE_MEMBER_ID_COLUMNS", "6")
    with pytest.raises(ValueError, match="app=header"):
        column_names_by_app("ACCENGAGE", "member_id")


def test_materialize_postscript_partition(sshd, remote_dir, warehouse, monkeypatch):
    vendor_env(
        monkeypatch, sshd, remote_dir, "POSTSCRIPT", "password" if sshd.password else "ed25519"
    )
    rows = [postscript_row("dim_shops", SHOP_ID=f"s-{i}") for i in range(4)]
    write_rows(
        remote_dir / "postscript_dim_shops_20261001.csv", POSTSCRIPT_HEADERS["dim_shops"], rows
    )
    assets = build_source_assets(postscript_tables.TABLES, DAILY)
    result = dg.materialize(
        assets,
        selection=[postscript_tables.DIM_SHOPS.asset_key],
        partition_key="2026-10-01",
        resources={
            "postscript_sftp": sftp_from_env("POSTSCRIPT"),
            "duckdb": DuckDBResource(database=warehouse),
        },
    )
    assert result.success
    meta = result.asset_materializations_for_node("postscript__dim_shops")[0].metadata
    assert meta["dagster/row_count"].value == 4 and meta["rows_inserted"].value == 4
    assert query(warehouse, "SELECT count(*) FROM postscript.dim_shops") == [(4,)]


def test_materialize_asapp_with_key_auth(sshd, remote_dir, warehouse, monkeypatch):
    vendor_env(monkeypatch, sshd, remote_dir, "ASAPP", "rsa")
    assert "ASAPP_SFTP_PASSWORD" not in os.environ
    header = ["conversation_externalId", "sender_externalId", "sender_role", "text", "timestamp"]
    rows = [
        dict(
            zip(
                header,
                ["c1", "u1", "customer", "Hi, I need help", "2022-03-16T18:42:24Z"],
                strict=True,
            )
        ),
        dict(
            zip(
                header,
                ["c1", "a1", "agent", "Happy to help", "2022-03-16T18:42:30.5Z"],
                strict=True,
            )
        ),
    ]
    write_rows(remote_dir / "asapp_transcripts_20261001.csv", header, rows)
    assets = build_source_assets(asapp_tables.TABLES, DAILY)
    result = dg.materialize(
        assets,
        selection=[asapp_tables.TRANSCRIPTS.asset_key],
        partition_key="2026-10-01",
        resources={
            "asapp_sftp": sftp_from_env("ASAPP"),
            "duckdb": DuckDBResource(database=warehouse),
        },
    )
    assert result.success
    keys = {k for (k,) in query(warehouse, "SELECT __sync_key FROM asapp.transcripts")}
    assert keys == {
        hashlib.md5(
            f"{r['conversation_externalId']}:{r['sender_externalId']}:{r['timestamp']}".encode()
        ).hexdigest()
        for r in rows
    }


def test_materialize_one_app_of_one_day(sshd, remote_dir, warehouse, monkeypatch):
    vendor_env(
        monkeypatch, sshd, remote_dir, "ACCENGAGE", "password" if sshd.password else "ed25519"
    )
    header = ["client_ref" if h == "member_id" else h for h in ACCENGAGE_HEADERS["devices"]]
    rows = [accengage_row("devices", device_id=f"d{i}", client_ref=f"c{i}") for i in range(2)]
    write_rows(
        remote_dir / accengage_name("devices", "android", "20261001"),
        header,
        rows,
        delimiter=";",
        compress=False,
    )
    write_rows(
        remote_dir / (accengage_name("devices", "ios", "20261001") + ".gz"),
        ACCENGAGE_HEADERS["devices"],
        [accengage_row("devices")],
        delimiter=";",
        compress=True,
    )
    assets = build_source_assets(
        accengage_tables.TABLES, APPS, {"android": {"member_id": "client_ref"}}
    )
    resources = {
        "accengage_sftp": sftp_from_env("ACCENGAGE"),
        "duckdb": DuckDBResource(database=warehouse),
    }
    for app in ("android", "ios"):
        result = dg.materialize(
            assets,
            selection=[accengage_tables.DEVICES.asset_key],
            partition_key=dg.MultiPartitionKey({"date": "2026-10-01", "app": app}),
            resources=resources,
        )
        assert result.success
        meta = result.asset_materializations_for_node("accengage__devices")[0].metadata
        assert meta["app_id"].value == app
    assert query(warehouse, "SELECT app_id, member_id FROM accengage.devices ORDER BY 1, 2") == [
        ("android", "c0"),
        ("android", "c1"),
        ("ios", "1425"),
    ]


def test_accengage_sensor_apps_and_gzip(sshd, remote_dir, monkeypatch):
    vendor_env(
        monkeypatch, sshd, remote_dir, "ACCENGAGE", "password" if sshd.password else "ed25519"
    )
    sensor = build_new_file_sensor("accengage", accengage_tables.TABLES, APPS)
    header = ACCENGAGE_HEADERS["message_statistics"]
    plain = remote_dir / accengage_name("message_statistics", "ios", "20261001")
    write_rows(plain, header, [accengage_row("message_statistics")], delimiter=";")
    write_rows(
        remote_dir / (accengage_name("message_statistics", "android", "20261001") + ".gz"),
        header,
        [accengage_row("message_statistics")],
        delimiter=";",
        compress=True,
    )
    write_rows(  # an app that is not configured: ignored
        remote_dir / accengage_name("message_statistics", "web", "20261001"),
        header,
        [],
        delimiter=";",
    )
    (remote_dir / "exportMessagesStatistics_ios_20261001.csv.txt").write_text("")  # not ours
    sftp = sftp_from_env("ACCENGAGE")
    with dg.build_sensor_context(resources={"accengage_sftp": sftp}) as context:
        first = sensor(context)
    got = sorted(
        (r.partition_key.keys_by_dimension["app"], r.tags["source_file"].rsplit("/", 1)[1])
        for r in first.run_requests
    )
    assert got == [
        ("android", "exportMessagesStatistics_android_20261001.csv.gz"),
        ("ios", "exportMessagesStatistics_ios_20261001.csv"),
    ]
    assert {r.partition_key.keys_by_dimension["date"] for r in first.run_requests} == {"2026-10-01"}
    # the vendor compresses the ios file after 24 hours: not a new file
    write_rows(
        plain.with_name(plain.name + ".gz"),
        header,
        [accengage_row("message_statistics")],
        delimiter=";",
        compress=True,
    )
    with dg.build_sensor_context(resources={"accengage_sftp": sftp}, cursor=first.cursor) as ctx:
        second = sensor(ctx)
    assert second.run_requests == []  # both copies listed: the plain one is unchanged
    plain.unlink()
    with dg.build_sensor_context(resources={"accengage_sftp": sftp}, cursor=second.cursor) as ctx:
        third = sensor(ctx)
    assert third.run_requests == []  # only the gzipped copy now: still the same file
    # a re-sent file (new content) is loaded again
    write_rows(
        plain,
        header,
        [accengage_row("message_statistics"), accengage_row("message_statistics", message_id="9")],
        delimiter=";",
    )
    with dg.build_sensor_context(resources={"accengage_sftp": sftp}, cursor=third.cursor) as ctx:
        fourth = sensor(ctx)
    assert [r.tags["source_file"].rsplit("/", 1)[1] for r in fourth.run_requests] == [
        "exportMessagesStatistics_ios_20261001.csv"
    ]


def test_accengage_schedule_requests_every_app_of_the_gmt1_day():
    schedule = build_daily_schedule("accengage", accengage_tables.TABLES, APPS, cron="0 6 * * *")
    assert schedule.execution_timezone == "Etc/GMT-1"
    tick = dt.datetime(2026, 10, 2, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        requests = schedule(context)
    assert sorted(r.partition_key.keys_by_dimension["app"] for r in requests) == ["android", "ios"]
    assert {r.partition_key.keys_by_dimension["date"] for r in requests} == {"2026-10-01"}
