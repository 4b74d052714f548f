"""Preview before sending (issue "Outbound exactly once"): every outbound asset's preview computes
exactly what its real run then sends (the same files with the same SHA-256, the same call keys),
keeps it in ``platform.outbound_previews`` and an observation, sends nothing and materializes
nothing. Real sshd, real DuckDB file, the local API server."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import dagster as dg
import duckdb

from platform_assets.compose import build_definitions
from platform_assets.core.settings import Settings
from platform_assets.defs import VENDOR_SOURCES
from platform_assets.demo.api_server import MESSAGES, SEGMENT, SUBSCRIBE, UNSUBSCRIBE
from platform_assets_tests.deliveries import DAY, failure_message, insert_orders, sql
from platform_assets_tests.loyalty import NOW, add_actions, run_loyalty

AT = dt.datetime(2026, 10, 5, 9)


def previews(warehouse: str) -> list[tuple]:
    return sql(
        warehouse,
        "SELECT asset, kind, name, rows, sha256, sample FROM platform.outbound_previews ORDER BY 3",
    )


def test_a_delivery_preview_sends_nothing_and_equals_what_is_then_sent(delivery_env, warehouse):
    insert_orders(
        warehouse,
        [(DAY, "ios", "c1", AT, 1.0, "attentive"), (DAY, "android", "c2", AT, 2.0, "postscript")],
    )
    defs = build_definitions(VENDOR_SOURCES, Settings.from_env())
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("accengage_deliveries_preview_job").execute_in_process(
        partition_key=DAY.isoformat(), instance=instance, raise_on_error=False
    )
    assert result.success, failure_message(result)
    assert list(delivery_env.iterdir()) == []  # nothing uploaded
    assert result.get_asset_materialization_events() == []  # a preview is not a delivery
    kept = previews(warehouse)
    assert sorted(name for _, _, name, *_ in kept) == [
        "staticlist_smsconverters_android_20261005000000.csv",
        "staticlist_smsconverters_ios_20261005000000.csv",
        "updateDevices_android_20261005.csv",
        "updateDevices_ios_20261005.csv",
    ]
    for _, kind, _, rows, _, sample in kept:
        assert kind == "file" and rows == 1
        [first] = json.loads(sample)
        assert first.get("member_id", first.get("client_ref")) in ("x9", None)  # masked shape
    observed = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    assert len(observed) == 3  # the static lists (both apps) and each app's device updates
    assert sql(warehouse, "SELECT count(*) FROM platform.deliveries") == [(0,)]  # none recorded
    # the real run sends exactly the previewed files: the same bytes
    sent = defs.resolve_job_def("accengage_deliveries_job").execute_in_process(
        partition_key=DAY.isoformat(), instance=instance, raise_on_error=False
    )
    assert sent.success, failure_message(sent)
    for _, _, name, _, sha, _ in kept:
        assert hashlib.sha256((delivery_env / name).read_bytes()).hexdigest() == sha
    diff = sql(
        warehouse,
        "SELECT count(*) FROM platform.outbound_previews p JOIN platform.deliveries d "
        "ON d.file_name = p.name AND d.sha256 = p.sha256",
    )
    assert diff == [(4,)]  # a brand's diff: every previewed file sent as previewed


def run_preview(job: str) -> dg.ExecuteInProcessResult:
    defs = build_definitions(VENDOR_SOURCES, Settings.from_env())
    return defs.resolve_job_def(job).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def test_the_loyalty_preview_calls_nothing_and_lists_what_the_run_then_sends(
    api, loyalty_env, tmp_path
):
    add_actions(loyalty_env, [("a1", "m1", "x", NOW - dt.timedelta(minutes=1), "hello there")])
    with duckdb.connect(str(loyalty_env)) as con:
        con.execute(
            "INSERT INTO deliveries.sms_converters VALUES (current_date, 'ann@example.com')"
        )
    result = run_preview("loyalty_preview_job")
    assert result.success
    assert api.requests == []  # not one call: no eligibility question, no message, no segment
    assert result.get_asset_materialization_events() == []
    assert not (tmp_path / "exports").exists() or not any((tmp_path / "exports").iterdir())
    kept = previews(str(loyalty_env))
    names = {name for _, _, name, *_ in kept}
    today = dt.datetime.now(dt.UTC).date()
    segment = f"segment:sms_converters_30d:{today}"
    assert names == {
        "subscribe:m1:0", "subscribe:m3:0", "unsubscribe:m2:0", "message:a1", segment,
        f"attentive_segment_sms_converters_30d_{today:%Y%m%d}.csv",
    }  # fmt: skip
    text = json.dumps(kept)
    assert "7707651750" not in text and "ann@example.com" not in text  # masked
    # the real runs send what was previewed (m3 turns out not eligible when asked)
    assert run_preview("loyalty_job").success
    assert [c.body["body"] for c in api.calls("POST", MESSAGES)] == ["hello there"]
    assert [c.body["user"]["phone"] for c in api.calls("POST", SUBSCRIBE)] == ["+17707651750"]
    assert [c.body["user"]["phone"] for c in api.calls("POST", UNSUBSCRIBE)] == ["+17707651751"]
    assert len(api.calls("POST", SEGMENT)) == 1
    done = sql(
        str(loyalty_env), "SELECT call_key FROM platform.api_intents WHERE state = 'succeeded'"
    )
    assert {k for (k,) in done} == names - {
        "subscribe:m3:0",  # previewed as "would subscribe once eligible": asked, it is not
        f"attentive_segment_sms_converters_30d_{today:%Y%m%d}.csv",
    }
    export = tmp_path / "exports" / f"attentive_segment_sms_converters_30d_{today:%Y%m%d}.csv"
    [previewed] = [sha for _, kind, _, _, sha, _ in kept if kind == "export"]
    assert hashlib.sha256(export.read_bytes()).hexdigest() == previewed


def test_one_loyalty_asset_previewed_by_its_run_config(api, loyalty_env):
    add_actions(loyalty_env, [("a1", "m1", "x", NOW - dt.timedelta(minutes=1), "hello")])
    result = run_loyalty("attentive_messages", {"preview": True})
    assert result.success and result.get_asset_materialization_events() == []
    assert api.requests == []
    [(asset, kind, name, *_)] = previews(str(loyalty_env))
    assert (asset, kind, name) == ("loyalty/attentive_messages", "message", "message:a1")
    assert run_loyalty("attentive_messages").success  # then sent, once
    assert len(api.calls("POST", MESSAGES)) == 1
