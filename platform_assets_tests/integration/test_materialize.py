"""The Dagster layer end to end: materializations over the real sshd into real DuckDB files,
their metadata and checks, failures and secrets, for every vendor source."""

from __future__ import annotations

import hashlib
import json
import logging
import os

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from platform_assets.core.settings import Settings
from platform_assets.defs import accengage, asapp, attentive, postscript
from platform_assets.defs.attentive import CONVERSIONS, NOTIFICATIONS
from platform_assets.ingest.arrival import ARRIVAL_CHECK
from platform_assets.ingest.assets import SCHEMA_CHECK, VOLUME_CHECK, build_source_assets
from platform_assets_tests.conftest import vendor_env
from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    NOTIFICATION_HEADER,
    conversion,
    conversion_key,
    notification,
    write_csv,
)
from platform_assets_tests.vendorfiles import (
    ACCENGAGE_HEADERS,
    POSTSCRIPT_HEADERS,
    accengage_name,
    accengage_row,
    postscript_row,
    write_rows,
)


def attentive_assets() -> list:
    """Attentive's assets as the test's environment configures them (its raw archive)."""
    return build_source_assets(attentive.SOURCE.configure(Settings.from_env()))


TABLE_KEYS = [s.asset_key for s in attentive.TABLES]


def resources(warehouse: str) -> dict[str, object]:
    return {
        "attentive_sftp": Settings.from_env().sftp("ATTENTIVE"),
        "duckdb": DuckDBResource(database=warehouse),
    }


def query(warehouse: str, sql: str) -> list[tuple]:
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_materialize_both_assets_with_metadata_and_checks(attentive_env, warehouse):
    rows = [conversion(f"+1555123000{i}") for i in range(3)]
    write_csv(attentive_env / "attentive_conversions_20261001.csv", CONVERSION_HEADER, rows)
    write_csv(
        attentive_env / "attentive_email_SMS_20261001.csv", NOTIFICATION_HEADER, [notification()]
    )
    result = dg.materialize(
        attentive_assets(),
        selection=TABLE_KEYS,
        partition_key="2026-10-01",
        resources=resources(warehouse),
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
    size = (attentive_env / "attentive_conversions_20261001.csv").stat().st_size
    assert meta["source_size_bytes"].value == size
    assert meta["source_size"].value == (
        f"{size / 1000:.1f} KB" if size >= 1000 else f"{size} bytes"
    )
    # the columns are the asset's, stated once by its definition (not again by each partition)
    assert "dagster/column_schema" not in meta
    definition = result.job_def.asset_layer.get(CONVERSIONS.asset_key).metadata
    assert [c.name for c in definition["dagster/column_schema"].columns][:2] == [
        "conversion_id",
        "phone",
    ]
    for timing in ("seconds_download", "seconds_validate", "seconds_write"):
        assert meta[timing].value >= 0
    evaluations = result.get_asset_check_evaluations()
    assert {(e.asset_key, e.check_name, e.passed) for e in evaluations} == {
        (CONVERSIONS.asset_key, SCHEMA_CHECK, True),
        (NOTIFICATIONS.asset_key, SCHEMA_CHECK, True),
        (CONVERSIONS.asset_key, VOLUME_CHECK, True),  # no previous day to compare with
        (NOTIFICATIONS.asset_key, VOLUME_CHECK, True),
        (CONVERSIONS.asset_key, ARRIVAL_CHECK, True),  # it loaded (late: a 2026 file today)
        (NOTIFICATIONS.asset_key, ARRIVAL_CHECK, True),
    }
    assert {e.partition for e in evaluations} == {"2026-10-01"}  # each result is the day's
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
        attentive_assets(),
        selection=[CONVERSIONS.asset_key],
        partition_key="2026-10-01",
        resources=resources(warehouse),
        raise_on_error=False,
    )
    assert not result.success
    evaluations = result.get_asset_check_evaluations()
    assert [(e.check_name, e.passed, e.partition) for e in evaluations] == [
        (SCHEMA_CHECK, False, "2026-10-01"),
        # the refused file did arrive and was read whole: its other checks have a verdict
        (VOLUME_CHECK, True, "2026-10-01"),
        (ARRIVAL_CHECK, True, "2026-10-01"),
    ]
    check = evaluations[0]
    assert check.metadata["rows_rejected"].value == 1
    assert check.description == (
        "1 of 2 rows failed: column 'phone' rule e164_phone (1 rows); first at line 3"
    )
    samples = check.metadata["sample_lines"].value.records
    assert [r.data for r in samples] == [
        {"line": 3, "column": "phone", "rule": "e164_phone", "value": "99"}  # masked: '12'
    ]
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "attentive_conversions_20261001.csv" in failure.message
    assert "e164_phone" in failure.message and "line 3" in failure.message
    assert "value '99'" in failure.message and "'12'" not in failure.message
    # the table has no new materialization; its rejects table has the day's one failure
    mats = result.get_asset_materialization_events()
    assert [(e.asset_key, e.partition) for e in mats] == [
        (dg.AssetKey(["attentive_mobile", "conversions__rejects"]), "2026-10-01")
    ]
    assert mats[0].materialization.metadata["dagster/row_count"].value == 1
    with duckdb.connect(warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM attentive_mobile.conversions").fetchone() == (0,)
        assert con.execute(
            "SELECT count(*) FROM attentive_mobile.conversions__rejects"
        ).fetchone() == (1,)


def test_missing_file_fails_naming_the_remote_path(attentive_env, warehouse):
    result = dg.materialize(
        attentive_assets(),
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
            attentive_assets(),
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
        attentive_assets(),
        selection=[CONVERSIONS.asset_key],
        partition_key="2026-10-01",
        resources=resources(warehouse),
    )
    assert result.success
    everything = json.dumps([str(e) for e in result.all_events]) + str(capsys.readouterr())
    assert sshd.password not in everything


def test_materialize_postscript_partition(sshd, remote_dir, warehouse, monkeypatch):
    vendor_env(
        monkeypatch, sshd, remote_dir, "POSTSCRIPT", "password" if sshd.password else "ed25519"
    )
    rows = [postscript_row("dim_shops", SHOP_ID=f"s-{i}") for i in range(4)]
    write_rows(
        remote_dir / "postscript_dim_shops_20261001.csv", POSTSCRIPT_HEADERS["dim_shops"], rows
    )
    assets = build_source_assets(postscript.SOURCE.configure(Settings.from_env()))
    result = dg.materialize(
        assets,
        selection=[postscript.DIM_SHOPS.asset_key],
        partition_key="2026-10-01",
        resources={
            "postscript_sftp": Settings.from_env().sftp("POSTSCRIPT"),
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
    assets = build_source_assets(asapp.SOURCE.configure(Settings.from_env()))
    result = dg.materialize(
        assets,
        selection=[asapp.TRANSCRIPTS.asset_key],
        partition_key="2026-10-01",
        resources={
            "asapp_sftp": Settings.from_env().sftp("ASAPP"),
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
    settings = Settings.from_env(
        {
            **os.environ,
            "ACCENGAGE_APP_IDS": "ios,android",
            "ACCENGAGE_MEMBER_ID_COLUMNS": "android=client_ref",
        }
    )
    assets = build_source_assets(accengage.SOURCE.configure(settings))
    resources = {
        "accengage_sftp": settings.sftp("ACCENGAGE"),
        "duckdb": DuckDBResource(database=warehouse),
    }
    for app in ("android", "ios"):
        result = dg.materialize(
            assets,
            selection=[accengage.DEVICES.asset_key],
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


def test_a_partition_whose_file_the_vendor_deleted_loads_from_the_raw_archive(
    attentive_env, warehouse, raw_archive
):
    path = write_csv(
        attentive_env / "attentive_conversions_20261001.csv", CONVERSION_HEADER, [conversion()]
    )
    instance = dg.DagsterInstance.ephemeral()
    kwargs = dict(
        selection=[CONVERSIONS.asset_key],
        partition_key="2026-10-01",
        resources=resources(warehouse),
        instance=instance,
    )
    first = dg.materialize(attentive_assets(), **kwargs)
    meta = first.asset_materializations_for_node("attentive_mobile__conversions")[0].metadata
    assert meta["loaded_from"].value == "vendor"
    archived = raw_archive / "attentive" / "2026" / "10" / "01" / path.name
    assert meta["archive_path"].value == str(archived)
    assert archived.read_bytes() == path.read_bytes()
    path.unlink()  # deleted on the server
    second = dg.materialize(attentive_assets(), **kwargs)
    meta = second.asset_materializations_for_node("attentive_mobile__conversions")[0].metadata
    assert meta["loaded_from"].value.startswith("raw archive")
    assert meta["dagster/row_count"].value == 1
    # the exception is logged (a warning naming the file); a download from the vendor is not
    logged = {
        result.run_id: [
            r.user_message for r in instance.all_logs(result.run_id) if r.level == logging.WARNING
        ]
        for result in (first, second)
    }
    assert not any("raw archive" in m for m in logged[first.run_id])
    assert any(
        path.name in m and "restored from the raw archive" in m for m in logged[second.run_id]
    )


def test_volume_check_warns_on_a_header_only_file_and_a_thin_day(attentive_env, warehouse):
    def load(day: str, rows: int) -> dg.AssetCheckEvaluation:
        ymd = day.replace("-", "")
        write_csv(
            attentive_env / f"attentive_conversions_{ymd}.csv",
            CONVERSION_HEADER,
            [conversion(f"+1555000{i:04d}") for i in range(rows)],
        )
        result = dg.materialize(
            attentive_assets(),
            selection=[CONVERSIONS.asset_key],
            partition_key=day,
            resources=resources(warehouse),
        )
        assert result.success  # a volume warning never fails the load
        [volume] = [e for e in result.get_asset_check_evaluations() if e.check_name == VOLUME_CHECK]
        assert volume.severity == dg.AssetCheckSeverity.WARN
        return volume

    assert load("2026-10-01", 10).passed
    assert load("2026-10-02", 20).passed
    empty = load("2026-10-03", 0)
    assert not empty.passed and empty.description == "header-only file: no rows"
    thin = load("2026-10-04", 4)  # the previous days average (10 + 20 + 0) / 3 = 10 rows
    assert not thin.passed
    assert thin.metadata["trailing_average_rows"].value == pytest.approx(10.0)
    assert load("2026-10-05", 6).passed  # above half of (10 + 20 + 0 + 4) / 4 = 8.5
