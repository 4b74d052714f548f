"""Deliveries as assets, end to end against the real sshd (a write-enabled account) and a real
DuckDB file: the relation's rows are written with the documented names, separators, quoting and
columns (parsed back with the ``csv`` module and compared with rows computed here), checked
before upload (a rule-breaking row blocks the delivery: nothing is uploaded), recorded, and
re-delivered idempotently."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from platform_assets.compose import build_definitions
from platform_assets.core.deliveries import StaticList
from platform_assets.core.settings import Settings, SettingsError
from platform_assets.core.transport.files import LocalFolderResource
from platform_assets.defs import VENDOR_SOURCES
from platform_assets.defs.accengage import DELIVERIES as ACCENGAGE_DELIVERIES
from platform_assets.defs.attentive import CONVERSIONS
from platform_assets.ingest.loader.partition import load_partition
from platform_assets_tests.csvfiles import CONVERSION_HEADER, conversion, write_csv
from platform_assets_tests.deliveries import (
    DAY,
    all_quoted,
    failure_message,
    gmt1,
    insert_orders,
    read_csv,
    run,
    sql,
)
from platform_assets_tests.vendorfiles import ASAPP_HEADERS

UTC = dt.UTC
ASAPP_FIELDS = ASAPP_HEADERS["transactions"]  # document 003's fields, typed by the tests

TRANSACTIONS_DDL = (
    "CREATE SCHEMA IF NOT EXISTS deliveries",
    "CREATE TABLE deliveries.asapp_transactions (delivery_date DATE, transaction_id VARCHAR, "
    "transaction_time TIMESTAMPTZ, transaction_value_one_time DOUBLE, "
    "transaction_value_recurring DOUBLE, customer_category VARCHAR, customer_subcategory VARCHAR, "
    "external_customer_id VARCHAR, issue_id VARCHAR, external_session_id VARCHAR, "
    "product_category VARCHAR, product_subcategory VARCHAR, product_name VARCHAR, "
    "product_id VARCHAR, product_quantity BIGINT, product_value_one_time DOUBLE, "
    "product_value_recurring DOUBLE)",
)


ASAPP_TRANSACTIONS = dg.AssetKey(["sftp", "asapp", "delivered", "transactions"])


def transaction(n: int, when: dt.datetime, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "transaction_id": f"t-{n}",
        "transaction_time": when,
        "transaction_value_one_time": 60.0 + n,
        "transaction_value_recurring": None,
        "customer_category": "US",
        "customer_subcategory": None,
        "external_customer_id": hashlib.md5(f"c{n}".encode()).hexdigest(),
        "issue_id": None,
        "external_session_id": f"s-{n}",
        "product_category": "Internet",
        "product_subcategory": "",
        "product_name": "Broadband Gold Package",
        "product_id": f"WI-{n}",
        "product_quantity": n,
        "product_value_one_time": 55.5,
        "product_value_recurring": None,
    }
    row.update(kw)
    return row


def insert_transactions(warehouse: str, rows: list[tuple[dt.date, dict]]) -> None:
    with duckdb.connect(warehouse) as con:
        for s in TRANSACTIONS_DDL:
            con.execute(s)
        con.executemany(
            f"INSERT INTO deliveries.asapp_transactions VALUES ({', '.join(['?'] * 17)})",
            [[day, *(r[f] for f in ASAPP_FIELDS)] for day, r in rows],
        )


def asapp_text(value: object) -> str:
    """How document 003 wants a value written, computed independently of the platform."""
    if value is None or value == "":
        return "NULL"
    if isinstance(value, dt.datetime):
        utc = value.astimezone(UTC)
        fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
        return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text[:1] in "=+-@" and not re.fullmatch(r"[+-]?[0-9][0-9 .,()-]*", text):
        return "'" + text
    return text


def test_asapp_transactions_feed_lands_as_documented(delivery_env, warehouse):
    paris = dt.timezone(dt.timedelta(hours=2))
    rows = [
        (DAY, transaction(1, dt.datetime(2026, 10, 5, 14, 3, 7, tzinfo=UTC))),
        # another zone is converted to UTC; fractions are kept when there are any
        (DAY, transaction(2, dt.datetime(2026, 10, 5, 1, 0, 0, 250000, tzinfo=paris))),
        # a formula is escaped; a negative number and a phone number are not formulas
        (
            DAY,
            transaction(
                3,
                dt.datetime(2026, 10, 5, 23, 59, 59, tzinfo=UTC),
                product_name='=HYPERLINK("http://x","y")',
                customer_category="-12.5",
                customer_subcategory="+1 555 0100",
                product_id="@SUM(A1)",
                external_customer_id=None,
                issue_id="1E10412200CC60EEABBF32",
            ),
        ),
        # other days are not this partition's
        (DAY - dt.timedelta(days=1), transaction(4, dt.datetime(2026, 10, 4, 9, 0, tzinfo=UTC))),
        (DAY + dt.timedelta(days=1), transaction(5, dt.datetime(2026, 10, 6, 9, 0, tzinfo=UTC))),
    ]
    insert_transactions(warehouse, rows)
    key = dg.AssetKey(["sftp", "asapp", "delivered", "transactions"])
    result = run("asapp_deliveries_job", assets=[key])
    assert result.success
    name = "asapp_transactions_20261005.csv"
    assert sorted(p.name for p in delivery_env.iterdir()) == [name]  # no marker for ASAPP
    lines = read_csv(delivery_env / name, ",")
    assert lines[0] == ASAPP_FIELDS
    expected = [[asapp_text(r[f]) for f in ASAPP_FIELDS] for day, r in rows if day == DAY]
    assert sorted(lines[1:]) == sorted(expected)
    assert ['\'=HYPERLINK("http://x","y")', "'@SUM(A1)"] == [
        lines[1:][[r[0] for r in lines[1:]].index("t-3")][i] for i in (11, 12)
    ]
    # recorded: in the metadata and in platform.deliveries, with the file's own SHA-256
    digest = hashlib.sha256((delivery_env / name).read_bytes()).hexdigest()
    [mat] = result.asset_materializations_for_node("sftp__asapp__delivered__transactions")
    assert mat.metadata["dagster/row_count"].value == 3
    assert mat.metadata["sha256"].value == digest
    recorded = sql(
        warehouse,
        "SELECT file_name, rows, bytes, sha256, delivery_date FROM platform.deliveries",
    )
    assert recorded == [(name, 3, (delivery_env / name).stat().st_size, digest, DAY)]
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("file_rules", True)]


def test_a_refused_upload_fails_the_delivery_at_once_without_retries(delivery_env, warehouse, sshd):
    insert_transactions(warehouse, [(DAY, transaction(1, dt.datetime(2026, 10, 5, 9, tzinfo=UTC)))])
    delivery_env.chmod(0o555)  # the delivery account lost its write access
    try:
        result = run("asapp_deliveries_job", assets=[ASAPP_TRANSACTIONS])
    finally:
        delivery_env.chmod(0o755)
    assert not result.success
    message = failure_message(result)
    name = "asapp_transactions_20261005.csv"
    assert "the upload failed: upload of" in message and name in message
    assert f"on {sshd.host}:{sshd.port} refused: permission denied" in message
    events = {e.event_type_value for e in result.all_events}
    assert "STEP_UP_FOR_RETRY" not in events and "STEP_RESTARTED" not in events
    assert list(delivery_env.iterdir()) == []
    assert sql(warehouse, "SELECT count(*) FROM platform.deliveries") == [(0,)]


def test_a_rule_breaking_row_blocks_the_asapp_delivery(delivery_env, warehouse):
    rows = [
        (DAY, transaction(1, dt.datetime(2026, 10, 5, 10, tzinfo=UTC))),
        # neither external_customer_id nor issue_id: ASAPP could not attribute it
        (DAY, transaction(2, dt.datetime(2026, 10, 5, 11, tzinfo=UTC), external_customer_id=None)),
        # product_quantity is required
        (DAY, transaction(3, dt.datetime(2026, 10, 5, 12, tzinfo=UTC), product_quantity=None)),
    ]
    insert_transactions(warehouse, rows)
    result = run("asapp_deliveries_job")
    assert not result.success
    assert list(delivery_env.iterdir()) == []  # nothing uploaded, not even a temporary file
    message = failure_message(result)
    assert "nothing was uploaded" in message
    assert "asapp_transactions_20261005.csv" in message
    assert "one_of_present(external_customer_id,issue_id)" in message
    rejects = sql(
        warehouse,
        'SELECT line, "column", rule FROM platform.delivery_rejects ORDER BY line, "column"',
    )
    # rows are written in order of their text: t-1 on line 2, t-2 on line 3, t-3 on line 4
    assert (3, "external_customer_id", "one_of_present(external_customer_id,issue_id)") in rejects
    assert (4, "product_quantity", "not_nullable") in rejects
    assert {line for line, *_ in rejects} == {3, 4}
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert sql(warehouse, "SELECT count(*) FROM platform.deliveries") == [(0,)]
    # fixed at the source, the same partition goes, and its rejects are cleared
    sql(
        warehouse,
        "UPDATE deliveries.asapp_transactions SET issue_id = 'I-2' WHERE transaction_id = 't-2'",
        "UPDATE deliveries.asapp_transactions SET product_quantity = 1 "
        "WHERE transaction_id = 't-3'",
        "SELECT 1",
    )
    assert run("asapp_deliveries_job").success
    assert [p.name for p in delivery_env.iterdir()] == ["asapp_transactions_20261005.csv"]
    assert sql(warehouse, "SELECT count(*) FROM platform.delivery_rejects") == [(0,)]


def test_asapp_call_metadata_feed_from_a_configured_table(delivery_env, warehouse, monkeypatch):
    """A feed without a default relation exists once a table is named; booleans true/false."""
    monkeypatch.setenv("ASAPP_CALL_METADATA_RELATION", "brand.calls")
    start = dt.datetime(2026, 10, 5, 20, 2, 13, tzinfo=UTC)
    sql(
        warehouse,
        "CREATE SCHEMA brand",
        "CREATE TABLE brand.calls AS SELECT DATE '2026-10-05' AS delivery_date, "
        "'347bdddb' AS customer_id, NULL::VARCHAR AS conversation_id, "
        "TIMESTAMPTZ '2026-10-05 20:02:13+00' AS call_start, "
        "TIMESTAMPTZ '2026-10-05 20:12:13+00' AS call_end, "
        "NULL::TIMESTAMPTZ AS call_assigned_to_agent, 'Wireless Premier' AS customer_type, "
        "true AS survey_offered, false AS survey_taken, NULL::VARCHAR AS survey_answer, "
        "'800-555-0100' AS toll_free_number, 'billing' AS ivr_intent, false AS ivr_resolved, "
        "NULL::BOOLEAN AS ivr_abandoned, 'q1' AS agent_queue_assigned, 42 AS time_in_queue, "
        "false AS queue_abandoned, 600 AS call_handle_time, 30 AS call_wrap_time, "
        "NULL::VARCHAR AS transfer, 'Billing' AS disposition_category, "
        "'Upgrade; Payment' AS disposition_notes, 'Upgrade Completed' AS transaction_completed, "
        "129.45::DECIMAL(18,4) AS caller_account_value",
        "SELECT 1",
    )
    key = dg.AssetKey(["sftp", "asapp", "delivered", "call_metadata"])
    assert run("asapp_deliveries_job", assets=[key]).success
    [header, row] = read_csv(delivery_env / "asapp_call_metadata_20261005.csv", ",")
    values = dict(zip(header, row, strict=True))
    assert header[:4] == ["customer_id", "conversation_id", "call_start", "call_end"]
    assert values["call_start"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert values["call_end"] == "2026-10-05T20:12:13Z"
    assert (values["survey_offered"], values["survey_taken"]) == ("true", "false")
    assert values["ivr_abandoned"] == values["conversation_id"] == "NULL"
    assert values["time_in_queue"] == "42"
    assert values["caller_account_value"] == "129.4500"


# -- Accengage -------------------------------------------------------------------------------
def test_static_lists_and_device_updates_land_as_documented(delivery_env, warehouse):
    at = dt.datetime(2026, 10, 5, 23, 30)  # 00:30 on the 6th in GMT+1
    window_start = DAY - dt.timedelta(days=29)
    rows = [
        (DAY, "ios", "c1", at, 12.5, "attentive"),
        (window_start, "ios", "c2", dt.datetime(2026, 9, 6, 8, 0), 10.0, "postscript"),
        (window_start - dt.timedelta(days=1), "ios", "c3", dt.datetime(2026, 9, 5), 1.0, "x"),
        (DAY + dt.timedelta(days=1), "ios", "c4", dt.datetime(2026, 10, 6, 9), 1.0, "x"),
        # c5 has two days in the window: its latest row's fields
        (DAY - dt.timedelta(days=3), "android", "c5", dt.datetime(2026, 10, 2, 9), 5.0, "old"),
        (DAY - dt.timedelta(days=1), "android", "c5", dt.datetime(2026, 10, 4, 9), 7.0, "=new"),
        (DAY, "android", "c6", dt.datetime(2026, 10, 5, 6), 3.25, "attentive"),
    ]
    insert_orders(warehouse, rows)
    result = run("accengage_deliveries_job")
    assert result.success, failure_message(result)
    files = sorted(p.name for p in delivery_env.iterdir())
    assert files == sorted(
        [
            "staticlist_smsconverters_ios_20261005000000.csv",
            "staticlist_smsconverters_ios_20261005000000.txt",
            "staticlist_smsconverters_android_20261005000000.csv",
            "staticlist_smsconverters_android_20261005000000.txt",
            "updateDevices_ios_20261005.csv",
            "updateDevices_ios_20261005.txt",
            "updateDevices_android_20261005.csv",
            "updateDevices_android_20261005.txt",
        ]
    )
    for name in files:
        if name.endswith(".txt"):
            assert (delivery_env / name).read_bytes() == b""  # the empty done-marker
        else:
            assert all_quoted(delivery_env / name), name
    custom = ["last_sms_order_at", "last_sms_order_value", "last_sms_vendor"]
    expiry = "2026-11-04 00:00:00"  # the day + 30 days
    ios = read_csv(delivery_env / "staticlist_smsconverters_ios_20261005000000.csv", ";")
    assert ios[0] == ["member_id", *custom, "expiry_date"]
    assert sorted(ios[1:]) == [
        ["c1", gmt1(at), "12.5", "attentive", expiry],
        ["c2", gmt1(dt.datetime(2026, 9, 6, 8, 0)), "10.0", "postscript", expiry],
    ]
    android = read_csv(delivery_env / "staticlist_smsconverters_android_20261005000000.csv", ";")
    assert android[0] == ["client_ref", *custom, "expiry_date"]  # the app's own header
    assert sorted(android[1:]) == [
        ["c5", gmt1(dt.datetime(2026, 10, 4, 9)), "7.0", "'=new", expiry],
        ["c6", gmt1(dt.datetime(2026, 10, 5, 6)), "3.25", "attentive", expiry],
    ]
    updates = read_csv(delivery_env / "updateDevices_ios_20261005.csv", ";")
    assert updates == [["member_id", *custom], ["c1", gmt1(at), "12.5", "attentive"]]
    updates = read_csv(delivery_env / "updateDevices_android_20261005.csv", ";")
    assert updates == [
        ["client_ref", *custom],
        ["c6", gmt1(dt.datetime(2026, 10, 5, 6)), "3.25", "attentive"],
    ]
    # each marker came after its file
    for name in files:
        if name.endswith(".csv"):
            marker = delivery_env / (name[:-4] + ".txt")
            assert marker.stat().st_mtime_ns >= (delivery_env / name).stat().st_mtime_ns
    assert sql(warehouse, "SELECT count(*), sum(rows) FROM platform.deliveries") == [(4, 6)]


def test_re_delivery_replaces_the_days_files(delivery_env, warehouse):
    insert_orders(warehouse, [(DAY, "ios", "c1", dt.datetime(2026, 10, 5, 9), 1.0, "a")])
    key = dg.AssetKey(["sftp", "accengage", "delivered", "update_devices_ios"])
    assert run("accengage_deliveries_job", assets=[key]).success
    name = delivery_env / "updateDevices_ios_20261005.csv"
    first = name.read_bytes()
    assert run("accengage_deliveries_job", assets=[key]).success
    assert name.read_bytes() == first  # the same rows, the same bytes
    sql(warehouse, "UPDATE deliveries.accengage_sms_orders SET last_sms_vendor = 'b'", "SELECT 1")
    assert run("accengage_deliveries_job", assets=[key]).success
    assert read_csv(name, ";")[1][-1] == "b"
    assert sorted(p.name for p in delivery_env.iterdir()) == [
        "updateDevices_ios_20261005.csv",
        "updateDevices_ios_20261005.txt",
    ]
    shas = sql(warehouse, "SELECT sha256 FROM platform.deliveries ORDER BY uploaded_at")
    assert len(shas) == 3 and shas[0] == shas[1] != shas[2]
    assert shas[2][0] == hashlib.sha256(name.read_bytes()).hexdigest()


def test_an_empty_value_never_reaches_an_update_devices_file(delivery_env, warehouse):
    key = dg.AssetKey(["sftp", "accengage", "delivered", "update_devices_ios"])
    # a column no row has is left out of the file (it would clear every device's field)
    insert_orders(
        warehouse,
        [
            (DAY, "ios", "c1", dt.datetime(2026, 10, 5, 9), 1.0, None),
            (DAY, "ios", "c2", dt.datetime(2026, 10, 5, 10), 2.0, ""),
        ],
    )
    assert run("accengage_deliveries_job", assets=[key]).success
    lines = read_csv(delivery_env / "updateDevices_ios_20261005.csv", ";")
    assert lines[0] == ["member_id", "last_sms_order_at", "last_sms_order_value"]
    assert all(value != "" for line in lines for value in line)
    # rows that differ in which columns they have are refused: nothing is sent
    for p in delivery_env.iterdir():
        p.unlink()
    sql(
        warehouse,
        "UPDATE deliveries.accengage_sms_orders SET last_sms_vendor = 'attentive' "
        "WHERE member_id = 'c1'",
        "SELECT 1",
    )
    result = run("accengage_deliveries_job", assets=[key])
    assert not result.success
    message = failure_message(result)
    assert "1 rows without ['last_sms_vendor']" in message
    assert "would clear the field" in message
    assert list(delivery_env.iterdir()) == []


def test_custom_fields_over_255_characters_are_refused_before_upload(delivery_env, warehouse):
    long = "x" * 256
    insert_orders(
        warehouse,
        [
            (DAY, "ios", "c1", dt.datetime(2026, 10, 5, 9), 1.0, "fine"),
            (DAY, "android", "c2", dt.datetime(2026, 10, 5, 9), 1.0, long),
        ],
    )
    key = dg.AssetKey(["sftp", "accengage", "delivered", "sms_converters"])
    result = run("accengage_deliveries_job", assets=[key])
    assert not result.success
    assert "max_255_characters" in failure_message(result)
    # the ios file was fine, but a list is sent whole or not at all
    assert list(delivery_env.iterdir()) == []
    assert sql(warehouse, 'SELECT app_id, "column", line FROM platform.delivery_rejects') == [
        ("android", "last_sms_vendor", 2)
    ]
    # 255 characters pass
    sql(
        warehouse,
        f"UPDATE deliveries.accengage_sms_orders SET last_sms_vendor = '{long[:255]}'",
        "SELECT 1",
    )
    assert run("accengage_deliveries_job", assets=[key]).success


def test_more_than_ten_custom_fields_are_refused_when_the_spec_is_made():
    base = next(d for d in ACCENGAGE_DELIVERIES if isinstance(d, StaticList))
    with pytest.raises(ValueError, match="11 custom fields; Accengage takes at most 10"):
        StaticList(
            vendor=base.vendor,
            name="too_many",
            description="",
            file_name="staticlist_toomany_{app-id}_{YYYYMMDDhhmmss}.csv",
            style=base.style,
            custom_fields=tuple(f"f{i}" for i in range(11)),
        )


# -- wiring ----------------------------------------------------------------------------------


def test_deliveries_exist_only_with_an_account_and_follow_their_relation(monkeypatch):
    for name in [n for n in os.environ if "DELIVERY_SFTP" in n or n.endswith("_RELATION")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ACCENGAGE_APP_IDS", "ios,android")
    keys = build_definitions(VENDOR_SOURCES, Settings.from_env()).resolve_asset_graph()
    assert not [k for k in keys.get_all_asset_keys() if "delivered" in k.path]
    monkeypatch.setenv("ASAPP_DELIVERY_SFTP_USERNAME", "brand")
    monkeypatch.setenv("ACCENGAGE_DELIVERY_SFTP_USERNAME", "brand")
    graph = build_definitions(VENDOR_SOURCES, Settings.from_env()).resolve_asset_graph()
    parents = {
        k.to_user_string(): sorted(p.to_user_string() for p in graph.get(k).parent_keys)
        for k in graph.get_all_asset_keys()
        if "delivered" in k.path
    }
    assert parents == {
        "sftp/asapp/delivered/transactions": ["deliveries/asapp_transactions"],
        "sftp/accengage/delivered/sms_converters": ["deliveries/accengage_sms_orders"],
        "sftp/accengage/delivered/update_devices_ios": ["deliveries/accengage_sms_orders"],
        "sftp/accengage/delivered/update_devices_android": ["deliveries/accengage_sms_orders"],
    }
    # the cron sends the last whole day (the vendor's yesterday), never today's partial day
    for key in ("sftp/asapp/delivered/transactions", "sftp/accengage/delivered/sms_converters"):
        partitions = graph.get(dg.AssetKey(key.split("/"))).partitions_def
        zone = ZoneInfo(partitions.timezone)
        yesterday = dt.datetime.now(zone).date() - dt.timedelta(days=1)
        assert partitions.get_last_partition_key() == yesterday.isoformat()
    # the relations are dbt models of the project: the lineage runs from the vendor files
    upstream = graph.get(dg.AssetKey(["deliveries", "asapp_transactions"])).parent_keys
    assert dg.AssetKey(["staging", "stg_attentive__conversions"]) in upstream
    monkeypatch.setenv("ASAPP_TRANSACTIONS_RELATION", "x; DROP TABLE y")
    with pytest.raises(SettingsError, match="ASAPP_TRANSACTIONS_RELATION"):
        build_definitions(VENDOR_SOURCES, Settings.from_env())


def test_the_delivery_never_logs_the_accounts_secret(delivery_env, warehouse, sshd):
    assert sshd.password, "the delivery account's password needs root (CI runs as root)"
    insert_transactions(warehouse, [(DAY, transaction(1, dt.datetime(2026, 10, 5, tzinfo=UTC)))])
    result = run("asapp_deliveries_job")
    assert result.success
    events = io.StringIO()
    for event in result.all_events:
        events.write(repr(event))
    assert sshd.password not in events.getvalue()


def test_money_is_exact_from_the_vendor_file_to_the_file_sent(delivery_env, warehouse, tmp_path):
    """Amounts that a binary float gets wrong (0.1 + 0.2; 1.005 and 2.675, which a double holds
    as 1.00499... and 2.67499...) are loaded as DECIMAL, summed and rounded as decimals in a
    relation, and written into ASAPP's file as the decimal text: expected values by Python's
    ``decimal``, never a float."""
    folder = tmp_path / "attentive"
    folder.mkdir()
    amounts = {"c1": ["0.1", "0.2"], "c2": ["1.005"], "c3": ["2.675"], "c4": ["0.07", "0.07"]}
    rows = [
        conversion(f"+1555123{i:04d}", f"2026-10-05T1{i}:00:00Z", client_id=client, amount=amount)
        for i, (client, amount) in enumerate(
            (c, a) for c, values in amounts.items() for a in values
        )
    ]
    write_csv(folder / "attentive_conversions_20261005.csv", CONVERSION_HEADER, rows)
    load_partition(CONVERSIONS, DAY, LocalFolderResource(remote_dir=str(folder)), warehouse)
    sums = dict(
        sql(
            warehouse,
            "SELECT client_id, sum(amount) FROM attentive_mobile.conversions GROUP BY 1",
        )
    )
    assert sums == {c: sum(map(Decimal, values)) for c, values in amounts.items()}
    assert sums["c1"] == Decimal("0.3") and float(sums["c1"]) != 0.1 + 0.2  # the float artifact
    given = {"transaction_id", "transaction_time", "transaction_value_one_time"}
    given |= {"external_customer_id", "external_session_id", "product_name", "product_quantity"}
    unknown = ", ".join(f"NULL AS {f}" for f in ASAPP_FIELDS if f not in given)
    sql(
        warehouse,
        "CREATE SCHEMA IF NOT EXISTS deliveries",
        "CREATE VIEW deliveries.asapp_transactions AS SELECT DATE '2026-10-05' AS delivery_date, "
        f"*, 'Gift card' AS product_name, 1 AS product_quantity, {unknown} FROM (SELECT "
        "'order-' || client_id AS transaction_id, max(conversion_at) AS transaction_time, "
        "CAST(sum(amount) AS DECIMAL(18, 2)) AS transaction_value_one_time, "
        "md5(client_id) AS external_customer_id, 'session' AS external_session_id "
        "FROM attentive_mobile.conversions GROUP BY client_id)",
        "SELECT 1",
    )
    result = run("asapp_deliveries_job", assets=[ASAPP_TRANSACTIONS])
    assert result.success
    lines = read_csv(delivery_env / "asapp_transactions_20261005.csv", ",")
    column = lines[0].index("transaction_value_one_time")
    sent = {row[lines[0].index("transaction_id")]: row[column] for row in lines[1:]}
    cents = Decimal("0.01")
    assert sent == {
        f"order-{c}": str(sum(map(Decimal, values)).quantize(cents, ROUND_HALF_UP))
        for c, values in amounts.items()
    }
    assert sent["order-c1"] == "0.30" and sent["order-c2"] == "1.01" and sent["order-c3"] == "2.68"
