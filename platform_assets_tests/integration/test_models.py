"""The dbt models over loaded vendor tables: the connected graph, each mart's figures, identity,
no personal identifier in clear, and automation rebuilding exactly one mart day.

A small world of six people is written as vendor files (real sshd), loaded through the vendor
jobs and modelled by the dbt jobs, all in one Dagster instance. Every expected figure is computed
here in Python from the rows written (``hashlib``/``hmac`` for keys), not read from the models.
The world is built on every warehouse backend of ``PLATFORM_TEST_WAREHOUSES`` (``make
test-lake``: the DuckDB file and a DuckLake, dbt on the profile's ``lake`` target there).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.compose import build_definitions
from platform_assets.core.partitions import partition_key_for
from platform_assets.core.settings import Settings
from platform_assets.core.warehouse import Warehouse
from platform_assets.defs import VENDOR_SOURCES
from platform_assets.models.assets import PROJECT_DIR
from platform_assets_tests.conftest import vendor_env
from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    NOTIFICATION_HEADER,
    conversion,
    conversion_key,
    notification,
    notification_key,
    write_csv,
)
from platform_assets_tests.vendorfiles import (
    ACCENGAGE_HEADERS,
    ASAPP_HEADERS,
    POSTSCRIPT_HEADERS,
    accengage_name,
    accengage_row,
    asapp_key,
    asapp_row,
    md5_key,
    postscript_row,
    write_rows,
)
from platform_assets_tests.warehouses import BACKEND_PARAMS, lake_env, new_lake, reading

KEY = "test-pii-key-0123456789"
D1, D2 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
APP = "ios"


def h(value: str) -> str:
    """The keyed hash the models must use (HMAC-SHA256 with PLATFORM_PII_KEY)."""
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def asapp_id(client: str) -> str:
    return hashlib.md5(client.encode()).hexdigest()  # ASAPP_CUSTOMER_ID_HASH=md5


# -- the world ---------------------------------------------------------------------------------
# P1 Attentive (phone, email, client c1) + Postscript (same phone, national format) + ASAPP (c1)
#    + Accengage (member c1, device d1); P2 Attentive + Postscript (phone); P3 Postscript only;
# P4 ASAPP only (a call and a purchase within the window); P5 Accengage only;
# P6 Attentive by email and client c6 only, + ASAPP (c6).
NOTIFICATIONS = {
    D1: [
        notification(
            "MESSAGE_RECEIPT",
            "+15550000001",
            "Ann@Example.COM",
            "2026-10-01T09:00:00Z",
            client_id="c1",
        ),
        notification(
            "MESSAGE_RECEIPT", "+15550000002", None, "2026-10-01T09:05:00Z", client_id="c2"
        ),
        notification("CLICK", "+15550000001", None, "2026-10-01T09:10:00Z", client_id="c1"),
        notification(
            "MESSAGE_RECEIPT", "+15550000001", None, "2026-10-01T11:00:00Z", client_id="c1"
        ),
    ],
    D2: [
        notification(
            "MESSAGE_RECEIPT", None, "six@example.com", "2026-10-02T08:00:00Z", client_id="c6"
        ),
        notification(
            "MESSAGE_RECEIPT", "+15550000002", None, "2026-10-02T08:30:00Z", client_id="c2"
        ),
    ],
}
CONVERSIONS = {
    D1: [conversion("+15550000001", "2026-10-01T12:00:00Z", amount="19.99", client_id="c1")],
    D2: [
        conversion("+15550000002", "2026-10-02T10:00:00Z", amount="5.50", client_id="c2"),
        conversion("+15550000001", "2026-10-02T11:00:00Z", amount="100", client_id="c1"),
    ],
}
SUBSCRIBERS = [
    postscript_row("dim_subscribers", SUBSCRIBER_ID="s1", PHONE_NUMBER="555-000-0001"),
    postscript_row("dim_subscribers", SUBSCRIBER_ID="s2", PHONE_NUMBER="(555) 000-0002"),
    postscript_row("dim_subscribers", SUBSCRIBER_ID="s3", PHONE_NUMBER="5550000003"),
]
MESSAGES = {
    D1: [
        postscript_row(
            "fct_messages",
            MESSAGE_ID="m1",
            SUBSCRIBER_ID="s1",
            DIRECTION="outbound",
            CREATED_AT="2026-10-01T10:00:00Z",
        ),
        postscript_row(
            "fct_messages",
            MESSAGE_ID="m2",
            SUBSCRIBER_ID="s3",
            DIRECTION="outbound",
            CREATED_AT="2026-10-01T10:01:00Z",
        ),
        postscript_row(
            "fct_messages",
            MESSAGE_ID="m3",
            SUBSCRIBER_ID="s3",
            DIRECTION="inbound",
            CREATED_AT="2026-10-01T10:02:00Z",
        ),
    ],
    D2: [
        postscript_row(
            "fct_messages",
            MESSAGE_ID="m4",
            SUBSCRIBER_ID="s2",
            DIRECTION="outbound",
            CREATED_AT="2026-10-02T10:00:00Z",
        ),
    ],
}
ATTRIBUTIONS = {
    D1: [
        postscript_row(
            "fct_attribution",
            ATTRIBUTION_ID="a1",
            ORDER_ID="o1",
            SUBSCRIBER_ID="s1",
            AMOUNT_IN_CENTS="2599",
            ORDER_CREATED_AT="2026-10-01T15:00:00Z",
        ),
        postscript_row(
            "fct_attribution",
            ATTRIBUTION_ID="a2",
            ORDER_ID="o1",
            SUBSCRIBER_ID="s1",
            AMOUNT_IN_CENTS="100",
            ORDER_CREATED_AT="2026-10-01T15:00:00Z",
        ),
    ],
    D2: [
        postscript_row(
            "fct_attribution",
            ATTRIBUTION_ID="a3",
            ORDER_ID="o2",
            SUBSCRIBER_ID="s3",
            AMOUNT_IN_CENTS="1000",
            ORDER_CREATED_AT="2026-10-02T09:00:00Z",
        ),
    ],
}
CALLS = {
    D1: [
        asapp_row(
            "call_metadata",
            customer_id=asapp_id("c1"),
            call_start="2026-10-01T08:00:00Z",
            call_end="2026-10-01T08:10:00Z",
            agent_queue_assigned="Sales",
            disposition_category="Upgrade",
        ),
        asapp_row(
            "call_metadata",
            customer_id=asapp_id("c4"),
            call_start="2026-10-01T20:00:00Z",
            call_end="2026-10-01T20:30:00Z",
            agent_queue_assigned="Sales",
            disposition_category="Upgrade",
        ),
        asapp_row(
            "call_metadata",
            customer_id=asapp_id("c6"),
            call_start="2026-10-01T09:00:00Z",
            call_end="2026-10-01T09:10:00Z",
            agent_queue_assigned="Care",
            disposition_category="Billing",
        ),
    ],
    D2: [],
}
TRANSACTIONS = {  # c4 buys 14 h after its call (next day: inside the window); c1 buys 30 h later
    D1: [],
    D2: [
        asapp_row(
            "transactions",
            transaction_id="t1",
            product_id="p1",
            external_customer_id=asapp_id("c4"),
            transaction_time="2026-10-02T10:00:00Z",
            transaction_value_one_time="60.00",
        ),
        asapp_row(
            "transactions",
            transaction_id="t1",
            product_id="p2",
            external_customer_id=asapp_id("c4"),
            transaction_time="2026-10-02T10:00:00Z",
            transaction_value_one_time="60.00",
        ),
        asapp_row(
            "transactions",
            transaction_id="t2",
            product_id="p1",
            external_customer_id=asapp_id("c1"),
            transaction_time="2026-10-02T14:00:00Z",
            transaction_value_one_time="25.00",
        ),
    ],
}
STATISTICS = {
    D1: [
        accengage_row(
            "message_statistics",
            message_id="100",
            number_of_targets="50",
            number_of_bounces="5",
            number_of_messages_sent="45",
            number_of_reactions="9",
        ),
        accengage_row(
            "message_statistics",
            message_id="101",
            number_of_targets="10",
            number_of_bounces="0",
            number_of_messages_sent="10",
            number_of_reactions="0",
        ),
    ],
    D2: [
        accengage_row(
            "message_statistics",
            message_id="100",
            number_of_targets="0",
            number_of_bounces="0",
            number_of_messages_sent="0",
            number_of_reactions="4",
        ),
    ],
}
REACTIONS = {
    D1: [
        accengage_row(
            "device_reactions",
            member_id="c1",
            device_id="d1",
            message_id="100",
            reaction="1",
            sending_date="2026-10-01 08:00:00",
            reaction_date="2026-10-01 09:00:00",
        ),
        accengage_row(
            "device_reactions",
            member_id="c5",
            device_id="d5",
            message_id="100",
            reaction="1",
            sending_date="2026-10-01 08:00:00",
            reaction_date="2026-10-01 10:00:00",
        ),
        accengage_row(
            "device_reactions",
            member_id="c5",
            device_id="d5",
            message_id="101",
            reaction="0",
            sending_date="2026-10-01 08:00:00",
            reaction_date=None,
        ),
    ],
    D2: [],
}
DEVICES = {D1: [accengage_row("devices", device_id="d1", member_id="c1")], D2: []}

PEOPLE = {  # the components the models must find, as identifier nodes
    "P1": {
        "phone:+15550000001",
        "email:ann@example.com",
        f"client:{asapp_id('c1')}",
        "postscript_subscriber:s1",
        f"accengage_device:{APP}:d1",
    },
    "P2": {"phone:+15550000002", f"client:{asapp_id('c2')}", "postscript_subscriber:s2"},
    "P3": {"phone:+15550000003", "postscript_subscriber:s3"},
    "P4": {f"client:{asapp_id('c4')}"},
    "P5": {f"client:{asapp_id('c5')}", f"accengage_device:{APP}:d5"},
    "P6": {"email:six@example.com", f"client:{asapp_id('c6')}"},
}
CLEAR = [
    "+15550000001", "5550000001", "ann@example.com", "Ann@Example.COM", "six@example.com",
    "c1", "c2", "c4", "c5", "c6", *(asapp_id(c) for c in ("c1", "c2", "c4", "c5", "c6")),
]  # fmt: skip


def customer_key(person: str) -> str:
    return h(min(PEOPLE[person]))


def person_of(node: str) -> str:
    return next(p for p, nodes in PEOPLE.items() if node in nodes)


def write_day(folder: Path, day: dt.date) -> None:
    ymd = day.strftime("%Y%m%d")
    write_csv(folder / f"attentive_email_SMS_{ymd}.csv", NOTIFICATION_HEADER, NOTIFICATIONS[day])
    write_csv(folder / f"attentive_conversions_{ymd}.csv", CONVERSION_HEADER, CONVERSIONS[day])
    postscript = {
        "dim_subscribers": SUBSCRIBERS if day == D1 else [],
        "fct_messages": MESSAGES[day],
        "fct_attribution": ATTRIBUTIONS[day],
    }
    for table in POSTSCRIPT_HEADERS:
        rows = postscript.get(table, [])
        write_rows(folder / f"postscript_{table}_{ymd}.csv", POSTSCRIPT_HEADERS[table], rows)
    asapp = {"call_metadata": CALLS[day], "transactions": TRANSACTIONS[day], "transcripts": []}
    for table, rows in asapp.items():
        write_rows(folder / f"asapp_{table}_{ymd}.csv", ASAPP_HEADERS[table], rows)
    accengage = {
        "message_statistics": STATISTICS[day],
        "device_reactions": REACTIONS[day],
        "devices": DEVICES[day],
    }
    for table, rows in accengage.items():
        path = folder / accengage_name(table, APP, ymd)
        write_rows(path, ACCENGAGE_HEADERS[table], rows, delimiter=";")


WARM_BUILDS: dict[str, list[str]] = {}
"""Per backend: the commands the warm dbt logged while the world's models were built."""


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def world(request, sshd, tmp_path_factory, warm_dbt):
    """The world loaded for D1 and D2 and every model built, in one instance, on the
    parametrized warehouse backend; dbt run by the worker's warm dbt (``PLATFORM_DBT_SERVER``),
    as ``make demo`` and ``make dev`` run it."""
    folder = sshd.remote_dir / f"models_world_{request.param}_{os.getpid()}"
    folder.mkdir()
    folder.chmod(0o755)
    for day in (D1, D2):
        write_day(folder, day)
    warehouse: str | Warehouse = str(tmp_path_factory.mktemp("models") / "warehouse.duckdb")
    mp = pytest.MonkeyPatch()
    if request.param == "ducklake":
        catalog = new_lake(
            request.getfixturevalue("lake_postgres"), tmp_path_factory.mktemp("lake")
        )
        warehouse = Warehouse(lake=catalog)
        for name, value in lake_env(catalog).items():
            mp.setenv(name, value)
    auth = "password" if sshd.password else "ed25519"
    for prefix in ("ATTENTIVE", "POSTSCRIPT", "ASAPP", "ACCENGAGE"):
        vendor_env(mp, sshd, folder, prefix, auth)
    env = {
        "DUCKDB_PATH": str(tmp_path_factory.mktemp("file") / "warehouse.duckdb")
        if isinstance(warehouse, Warehouse)
        else warehouse,
        "PLATFORM_START_DATE": "2026-09-01",
        "ACCENGAGE_APP_IDS": APP,
        "ASAPP_CUSTOMER_ID_HASH": "md5",
        "PLATFORM_PII_KEY": KEY,
        "RAW_ARCHIVE_DIR": str(tmp_path_factory.mktemp("raw")),
        "PLATFORM_DBT_SERVER": warm_dbt[0],
    }
    for name, value in env.items():
        mp.setenv(name, value)
    defs = build_definitions(VENDOR_SOURCES, Settings.from_env())
    instance = dg.DagsterInstance.ephemeral()
    for source in VENDOR_SOURCES:  # both days in one range run per source, as a backfill does
        app = APP if source.has_apps else None
        loads = {
            "dagster/asset_partition_range_start": str(partition_key_for(D1, app)),
            "dagster/asset_partition_range_end": str(partition_key_for(D2, app)),
        }
        run(defs, instance, f"{source.name}_daily_job", None, loads)
    days = {  # the two days in one run and one dbt invocation per group
        "dagster/asset_partition_range_start": D1.isoformat(),
        "dagster/asset_partition_range_end": D2.isoformat(),
    }
    logged = len(warm_dbt[1].read_text().splitlines())
    run(defs, instance, "models_app_daily_job", None, days)
    run(defs, instance, "models_daily_job", None, days)
    run(defs, instance, "models_full_job", None)
    WARM_BUILDS[request.param] = warm_dbt[1].read_text().splitlines()[logged:]
    yield defs, instance, warehouse, folder
    mp.undo()
    instance.dispose()


def run(defs, instance, job, partition_key, tags=None):
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition_key, tags=tags, raise_on_error=False
    )
    assert result.success, f"{job} {partition_key} failed"
    return result


def query(warehouse: str | Warehouse, sql: str) -> list[tuple]:
    with reading(warehouse) as con:
        return con.execute(sql).fetchall()


# -- the graph ---------------------------------------------------------------------------------


def test_the_models_runs_are_forks_of_the_warm_dbt(world, request):
    """Each of the three groups' runs started ``platform-dbt``, and the warm dbt ran its
    ``dbt build`` (one command each, none by a new ``dbt`` process: the log has its line)."""
    backend = request.node.callspec.params["world"]
    builds = [line for line in WARM_BUILDS[backend] if line.startswith("warm dbt: ")]
    assert [line.split(" in pid ")[0] for line in builds] == ["warm dbt: build"] * 3
    assert world[0].resources["dbt"].dbt_executable.endswith("/platform-dbt")


def test_each_target_keeps_its_own_parse_state(world, request):
    """The world's dbt invocations ran in its target's own folder (the profile's default: the
    project's ``target/``; the lake's: ``target/lake/``) and left their parse state there, so a
    run on the other target never makes the next one parse again ("profile has changed")."""
    backend = request.node.callspec.params["world"]
    target = PROJECT_DIR / "target"
    folder = target / "lake" if backend == "ducklake" else target
    runs = [r for r in world[1].get_runs() if r.job_name.startswith("models_")]
    assert len(runs) == 3
    ids = {r.run_id for r in runs}
    began = min(
        r.start_time or 0 for r in world[1].get_run_records() if r.dagster_run.run_id in ids
    )
    for run in runs:
        (invocation,) = [p for p in target.rglob(f"*-{run.run_id[:7]}-*") if p.is_dir()]
        assert invocation.parent == folder, invocation
        state = (invocation / "partial_parse.msgpack").read_bytes()
        assert state, invocation
    assert (folder / "partial_parse.msgpack").stat().st_mtime >= began


def test_the_graph_is_connected_from_files_to_marts(world):
    defs = world[0]
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()

    def vendors_upstream(key: dg.AssetKey) -> set[str]:
        seen, todo = set(), [key]
        while todo:
            for parent in graph.get(todo.pop()).parent_keys:
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        assert any(k.path[0] == "sftp" for k in seen), key  # back to the SFTP files
        return {graph.get(k).group_name for k in seen} & {s.name for s in VENDOR_SOURCES}

    marts = {k for k in keys if k.path[0] == "marts"}
    assert {k.path[1] for k in marts} == {
        "sms_daily_performance",
        "customer_timeline",
        "contact_center_outcomes",
        "push_message_performance",
    }
    assert vendors_upstream(dg.AssetKey(["marts", "customer_timeline"])) == {
        "attentive", "postscript", "asapp", "accengage"
    }  # fmt: skip
    assert vendors_upstream(dg.AssetKey(["identity", "customer_identity"])) >= {
        "attentive", "postscript", "asapp"
    }  # fmt: skip
    assert vendors_upstream(dg.AssetKey(["marts", "sms_daily_performance"])) == {
        "attentive", "postscript"
    }  # fmt: skip
    for key in marts:
        assert graph.get(key).group_name == "marts"
    # every dbt source is a vendor table the loaders define (no orphans)
    vendor_tables = {t.asset_key for s in VENDOR_SOURCES for t in s.tables}
    staging = [k for k in keys if k.path[0] == "staging"]
    assert len(staging) == len(vendor_tables) == 15
    assert {p for k in staging for p in graph.get(k).parent_keys} == vendor_tables
    # dbt tests are asset checks, and the day-grain marts are partitioned like their vendors
    assert any(c.asset_key.path[0] == "marts" for c in graph.asset_check_keys)
    sms = graph.get(dg.AssetKey(["marts", "sms_daily_performance"]))
    assert (
        sms.partitions_def
        == graph.get(dg.AssetKey(["attentive_mobile", "conversions"])).partitions_def
    )
    sensor = defs.resolve_sensor_def("models_automation_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # the push mart: Accengage's GMT+1 days, every app in one run (each (date, app) maps to its day)
    push = graph.get(dg.AssetKey(["marts", "push_message_performance"]))
    by_app = graph.get(dg.AssetKey(["accengage", "devices"])).partitions_def
    assert isinstance(by_app, dg.MultiPartitionsDefinition)
    assert push.partitions_def == by_app.get_partitions_def_for_dimension("date")


# -- the marts ---------------------------------------------------------------------------------


def expected_sms() -> dict[tuple, tuple]:
    out: dict[tuple, list] = defaultdict(lambda: [0, set(), set(), Decimal(0)])
    for day, rows in NOTIFICATIONS.items():
        for r in rows:
            if r["type"] == "MESSAGE_RECEIPT":
                row = out[(day, "attentive")]
                row[0] += 1
                if r["phone"]:
                    row[1].add(r["phone"])
    for day, rows in CONVERSIONS.items():
        for r in rows:
            out[(day, "attentive")][2].add(conversion_key(r))
            out[(day, "attentive")][3] += Decimal(r["amount"])
    for rows in MESSAGES.values():
        for r in rows:
            if r["DIRECTION"] == "outbound":
                day = dt.date.fromisoformat(r["CREATED_AT"][:10])
                out[(day, "postscript")][0] += 1
                out[(day, "postscript")][1].add(r["SUBSCRIBER_ID"])
    for rows in ATTRIBUTIONS.values():
        for r in rows:
            day = dt.date.fromisoformat(r["ORDER_CREATED_AT"][:10])
            out[(day, "postscript")][2].add(r["ORDER_ID"])
            out[(day, "postscript")][3] += Decimal(r["AMOUNT_IN_CENTS"]) / 100
    return {k: (v[0], len(v[1]), len(v[2]), v[3]) for k, v in out.items()}


def test_sms_daily_performance(world):
    warehouse = world[2]
    got = query(
        warehouse,
        "SELECT day, platform, messages, subscribers_reached, attributed_orders, "
        "attributed_revenue, revenue_per_message FROM marts.sms_daily_performance",
    )
    assert {(d, p): (m, s, o, r) for d, p, m, s, o, r, _ in got} == expected_sms()
    for _, _, messages, _, _, revenue, per_message in got:
        expected = (revenue / messages).quantize(Decimal("0.000001")) if messages else None
        assert per_message == expected


def test_contact_center_outcomes(world):
    warehouse = world[2]
    window = dt.timedelta(hours=24)
    buys = {}  # transaction -> (customer, time, value), once per transaction
    for rows in TRANSACTIONS.values():
        for r in rows:
            at = dt.datetime.fromisoformat(r["transaction_time"].replace("Z", "+00:00"))
            buys[r["transaction_id"]] = (
                r["external_customer_id"],
                at,
                Decimal(r["transaction_value_one_time"]),
            )
    expected: dict[tuple, list] = defaultdict(lambda: [0, 0, Decimal(0)])
    for rows in CALLS.values():
        for c in rows:
            start = dt.datetime.fromisoformat(c["call_start"].replace("Z", "+00:00"))
            key = (start.date(), c["agent_queue_assigned"], c["disposition_category"])
            matched = [
                v
                for who, at, v in buys.values()
                if who == c["customer_id"] and start <= at < start + window
            ]
            expected[key][0] += 1
            expected[key][1] += 1 if matched else 0
            expected[key][2] += sum(matched, Decimal(0))
    got = query(
        warehouse,
        "SELECT day, queue, disposition, calls, calls_with_purchase, purchase_share, "
        "purchase_value FROM marts.contact_center_outcomes",
    )
    assert {(d, q, s): [n, p, Decimal(str(v))] for d, q, s, n, p, _, v in got} == dict(expected)
    assert expected[(D1, "Sales", "Upgrade")] == [2, 1, Decimal("60.00")]  # t1 once, c1 too late
    for *_, calls, with_purchase, share, _ in got:
        assert share == pytest.approx(with_purchase / calls)


def test_push_message_performance(world):
    warehouse = world[2]
    expected = {}
    for day, rows in STATISTICS.items():
        for r in rows:
            targets, bounces = int(r["number_of_targets"]), int(r["number_of_bounces"])
            sends, reactions = int(r["number_of_messages_sent"]), int(r["number_of_reactions"])
            expected[(APP, r["message_id"], day)] = (targets, sends, bounces, reactions)
    got = query(
        warehouse,
        "SELECT app_id, message_id, day, targets, sends, bounces, reactions, reaction_rate "
        "FROM marts.push_message_performance",
    )
    assert {(a, m, d): (t, s, b, r) for a, m, d, t, s, b, r, _ in got} == expected
    for *_, sends, _, reactions, rate in got:
        assert rate == (pytest.approx(reactions / sends) if sends else None)


def test_identity_links_people_across_vendors(world):
    warehouse = world[2]
    got = set(
        query(
            warehouse,
            "SELECT identifier_kind, identifier_hash, customer_key FROM identity.customer_identity",
        )
    )
    expected = {
        (node.split(":", 1)[0], h(node.split(":", 1)[1]), customer_key(person))
        for person, nodes in PEOPLE.items()
        for node in nodes
    }
    assert got == expected
    assert len({k for _, _, k in got}) == len(PEOPLE)


def test_customer_timeline_puts_each_event_with_its_person(world):
    warehouse = world[2]
    events = []  # (vendor, event id, node of its first identifier)
    for rows in NOTIFICATIONS.values():
        for r in rows:
            node = f"phone:{r['phone']}" if r["phone"] else f"email:{r['email'].strip().lower()}"
            events.append(("attentive", notification_key(r), node))
    for rows in CONVERSIONS.values():
        events += [("attentive", conversion_key(r), f"phone:{r['phone']}") for r in rows]
    for rows in MESSAGES.values():
        events += [
            ("postscript", r["MESSAGE_ID"], f"postscript_subscriber:{r['SUBSCRIBER_ID']}")
            for r in rows
        ]
    for rows in ATTRIBUTIONS.values():
        events += [
            ("postscript", r["ATTRIBUTION_ID"], f"postscript_subscriber:{r['SUBSCRIBER_ID']}")
            for r in rows
        ]
    for rows in CALLS.values():
        events += [
            ("asapp", asapp_key("call_metadata", r), f"client:{r['customer_id']}") for r in rows
        ]
    transactions = {
        r["transaction_id"]: r["external_customer_id"]
        for rows in TRANSACTIONS.values()
        for r in rows
    }
    events += [("asapp", t, f"client:{who}") for t, who in transactions.items()]
    for rows in REACTIONS.values():
        events += [
            (
                "accengage",
                md5_key(APP, r["device_id"], r["message_id"], r["sending_date"]),
                f"accengage_device:{APP}:{r['device_id']}",
            )
            for r in rows
            if r["reaction"] == "1"
        ]
    expected = {(h(f"{v}:{e}"), customer_key(person_of(n))) for v, e, n in events}
    got = set(query(warehouse, "SELECT event_key, customer_key FROM marts.customer_timeline"))
    assert got == expected
    per_person = defaultdict(set)
    for v, _, n in events:
        per_person[person_of(n)].add(v)
    assert per_person["P1"] == {"attentive", "postscript", "asapp", "accengage"}


def test_no_personal_identifier_in_clear_in_any_mart(world):
    warehouse = world[2]
    tables = query(
        warehouse,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema = 'marts' OR (table_schema, table_name) = ('identity', 'customer_identity')",
    )
    assert len(tables) == 5
    with reading(warehouse) as con:
        for schema, table in tables:
            columns = [c[0] for c in con.execute(f'DESCRIBE "{schema}"."{table}"').fetchall()]
            for column in columns:
                values = {
                    str(v)
                    for (v,) in con.execute(
                        f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}"'
                    ).fetchall()
                }
                leaked = {c for c in CLEAR for v in values if c == v or (len(c) > 3 and c in v)}
                assert not leaked, f"{schema}.{table}.{column} holds {leaked}"


# -- automation --------------------------------------------------------------------------------


def test_reloading_one_vendor_day_rebuilds_that_mart_day_only(world):
    defs, instance, warehouse, folder = world
    before = dict(
        ((d, p), (o, r))
        for d, p, o, r in query(
            warehouse,
            "SELECT day, platform, attributed_orders, attributed_revenue FROM marts.sms_daily_performance",
        )
    )
    at = dt.datetime(2026, 10, 3, 10, 0, tzinfo=dt.UTC)
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at)
    # the vendor resends D2's conversions with one more order
    extra = conversion("+15550000002", "2026-10-02T18:00:00Z", amount="7.25", client_id="c2")
    rows = [*CONVERSIONS[D2], extra]
    write_csv(folder / "attentive_conversions_20261002.csv", CONVERSION_HEADER, rows)
    reload = dg.define_asset_job(
        "reload", selection=[dg.AssetKey(["attentive_mobile", "conversions"])]
    )
    with_reload = dg.Definitions.merge(defs, dg.Definitions(jobs=[reload]))
    run(with_reload, instance, "reload", "2026-10-02")

    second = dg.evaluate_automation_conditions(
        defs=defs,
        instance=instance,
        evaluation_time=at + dt.timedelta(minutes=5),
        cursor=first.cursor,
    )
    requested = {
        (key.to_user_string(), partition)
        for key in defs.resolve_asset_graph().get_all_asset_keys()
        for partition in second.get_requested_partitions(key)
    }
    assert requested == {
        ("staging/stg_attentive__conversions", "2026-10-02"),
        ("marts/sms_daily_performance", "2026-10-02"),
    }
    rebuild = dg.define_asset_job(
        "rebuild", selection=[dg.AssetKey(k.split("/")) for k, _ in requested]
    )
    run(
        dg.Definitions.merge(defs, dg.Definitions(jobs=[rebuild])),
        instance,
        "rebuild",
        "2026-10-02",
    )
    after = dict(
        ((d, p), (o, r))
        for d, p, o, r in query(
            warehouse,
            "SELECT day, platform, attributed_orders, attributed_revenue FROM marts.sms_daily_performance",
        )
    )
    orders, revenue = before[(D2, "attentive")]
    assert after[(D2, "attentive")] == (orders + 1, revenue + Decimal("7.25"))
    assert {k: v for k, v in after.items() if k != (D2, "attentive")} == {
        k: v for k, v in before.items() if k != (D2, "attentive")
    }


# -- the deliveries' relations -----------------------------------------------------------------


def test_the_delivery_models_carry_the_sms_orders_of_known_clients(world):
    """asapp_transactions: every SMS-attributed order whose buyer has a client id (Attentive's
    own; Postscript's through the identity graph), hashed as ASAPP expects; o2's buyer (P3) has
    none and is left out. accengage_sms_orders: the Accengage member's last order per GMT+1 day."""
    _, _, warehouse, _ = world
    feed = query(
        warehouse,
        "SELECT delivery_date, transaction_time, transaction_value_one_time, "
        "external_customer_id, customer_subcategory, product_quantity "
        "FROM deliveries.asapp_transactions ORDER BY transaction_time",
    )
    # money is exact (DECIMAL, never a binary float): the Postscript order is its attributions'
    # cents summed, and every value compares equal to the decimal text, not to a float
    assert feed == [
        (D1, dt.datetime(2026, 10, 1, 12), Decimal("19.99"), asapp_id("c1"), "attentive", 1),
        (D1, dt.datetime(2026, 10, 1, 15), Decimal("26.99"), asapp_id("c1"), "postscript", 1),
        (D2, dt.datetime(2026, 10, 2, 10), Decimal("5.50"), asapp_id("c2"), "attentive", 1),
        (D2, dt.datetime(2026, 10, 2, 11), Decimal("100.00"), asapp_id("c1"), "attentive", 1),
    ]
    assert all(isinstance(value, Decimal) for _, _, value, *_ in feed)
    orders = query(
        warehouse,
        "SELECT delivery_date, app_id, member_id, last_sms_order_at, last_sms_order_value, "
        "last_sms_vendor FROM deliveries.accengage_sms_orders ORDER BY 1",
    )
    assert orders == [
        (D1, APP, "c1", dt.datetime(2026, 10, 1, 15), Decimal("26.99"), "postscript"),
        (D2, APP, "c1", dt.datetime(2026, 10, 2, 11), Decimal("100.00"), "attentive"),
    ]


def test_sms_converters_finds_each_buyers_email_through_the_identity_graph(world):
    """P1 ordered through Attentive (by phone) on D1 and D2 and through Postscript (s1) on D1:
    its email, once a day; P2 and P3 ordered too but no vendor gave their email."""
    _, _, warehouse, _ = world
    rows = query(warehouse, "SELECT delivery_date, email FROM deliveries.sms_converters ORDER BY 1")
    assert rows == [(D1, "ann@example.com"), (D2, "ann@example.com")]
