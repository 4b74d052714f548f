"""Document 001's loyalty program against a local HTTP server that implements the documented
contract (``platform_assets/demo/api_server.py``: no real Attentive or Annex Cloud can run here)
and a real DuckDB file: each call's documented body, retries and their limits, no duplicate call
on re-run, exactly-once messages, a run killed between a call and its journal entry, segments,
and the tokens in no log, event, error or file."""

from __future__ import annotations

import base64
import datetime as dt
import json
import signal
import time

import dagster as dg
import duckdb

from platform_assets.compose import build_definitions
from platform_assets.core.settings import Settings
from platform_assets.defs import VENDOR_SOURCES
from platform_assets.demo.api_server import MESSAGES, SEGMENT, SUBSCRIBE, UNSUBSCRIBE
from platform_assets.outbound.loyalty.http import FAILED, IN_DOUBT, SUCCEEDED
from platform_assets.outbound.loyalty.resources import AnnexCloudApi
from platform_assets_tests.loyalty import (
    LOYALTY_TOKEN,
    MESSAGES_TOKEN,
    NOW,
    SITE,
    SOURCE_ID,
    TOKEN,
    add_actions,
    attentive,
    check_of,
    journal,
    run_loyalty,
)
from platform_assets_tests.trials import Child

# -- the resources -----------------------------------------------------------------------------


def test_each_call_sends_the_documented_body(api):
    client = attentive(api)
    assert client.subscribe("+17707651750", "test@gmail.com").ok
    assert client.eligibility("+17707651750", "test@gmail.com").ok
    assert client.unsubscribe("+17707651750", "test@gmail.com").ok
    sent = client.message("+17707651750", "Hello check the test message please7")
    assert sent.ok and sent.body["to"] == "+17707651750"
    [sub] = api.calls("POST", SUBSCRIBE)
    assert sub.body == {
        "user": {"phone": "+17707651750", "email": "test@gmail.com"},
        "signUpSourceId": SOURCE_ID,
    }
    assert sub.authorization == f"Bearer {TOKEN}"
    [get] = api.calls("GET", SUBSCRIBE)
    assert get.query == {"phone": ["+17707651750"], "email": ["test@gmail.com"]}
    [unsub] = api.calls("POST", UNSUBSCRIBE)
    assert unsub.body["user"] == {"phone": "+17707651750", "email": "test@gmail.com"}
    assert {(s["type"], s["channel"]) for s in unsub.body["subscriptions"]} == {
        ("MARKETING", "EMAIL"),
        ("MARKETING", "TEXT"),
    }
    [msg] = api.calls("POST", MESSAGES)
    assert msg.body == {"to": "+17707651750", "body": "Hello check the test message please7"}
    assert msg.authorization == f"Bearer {MESSAGES_TOKEN}"  # the separate legacy token


def test_annex_cloud_segment_and_its_access_token(api):
    client = AnnexCloudApi(base_url=api.url, site_id=SITE, loyalty_token=LOYALTY_TOKEN)
    made = client.create_segment(
        name="Only Members",
        segment_type="Current Data",
        from_date="2020-01-17",
        to_date="2020-02-14",
        members=["jacobsmith@gmail.com", "brianpaul@gmail.com"],
        external_id="123",
        external_name="Members specific",
    )
    assert made.ok and made.body["segmentId"] == 101
    [seg] = api.calls("POST", SEGMENT)
    # the document: base64 of a JSON array of the loyalty token and the site id (PHP's compact
    # json_encode, as test_loyalty_promises.py checks)
    expected = base64.b64encode(f'["{LOYALTY_TOKEN}","{SITE}"]'.encode()).decode()
    assert seg.authorization == f"Bearer {expected}"
    assert seg.body == {
        "name": "Only Members",
        "type": "Current Data",
        "fromDate": "2020-01-17",
        "toDate": "2020-02-14",
        "member": "jacobsmith@gmail.com,brianpaul@gmail.com",
        "status": "ACTIVE",
        "externalId": "123",
        "externalName": "Members specific",
    }
    # an error answered with 200 is an error (the documented errorCode/errorMessage shape)
    api.fail("POST", SEGMENT, 200, body={"errorCode": "AC1001", "errorMessage": "Oops!"})
    failed = client.create_segment(
        name="x", segment_type="Current Data", from_date="2020-01-01", to_date="2020-01-02",
        members=["a@b.c"],
    )  # fmt: skip
    assert failed.outcome == FAILED and failed.error == "AC1001: Oops!"


def test_retries_on_429_and_5xx_honour_retry_after_and_stop_at_their_limit(api):
    client = attentive(api, max_retries=3)
    api.fail("POST", MESSAGES, 429, times=1, retry_after="1")
    started = time.monotonic()
    assert client.message("+17707651750", "hi").ok
    assert time.monotonic() - started >= 1.0  # Retry-After honoured
    assert len(api.calls("POST", MESSAGES)) == 2
    api.fail("POST", SUBSCRIBE, 503, times=2)
    outcome = client.subscribe("+17707651750", None)
    assert outcome.ok and outcome.attempts == 3
    api.fail("POST", UNSUBSCRIBE, 502, times=10)
    outcome = client.unsubscribe("+17707651750", None)
    assert outcome.outcome == FAILED and outcome.status == 502
    assert len(api.calls("POST", UNSUBSCRIBE)) == 4  # 1 + max_retries, then it stops
    # a Retry-After of an hour is capped
    capped = attentive(api, max_retries=1, retry_after_max_seconds=1)
    api.fail("GET", SUBSCRIBE, 429, times=1, retry_after="3600")
    started = time.monotonic()
    assert capped.eligibility("+17707651750", None).ok
    assert time.monotonic() - started < 5


def test_other_4xx_are_never_retried_and_never_show_the_token(api):
    api.fail("POST", MESSAGES, 400, times=5)
    outcome = attentive(api).message("+17707651750", "hi")
    assert outcome.outcome == FAILED and outcome.status == 400
    assert len(api.calls("POST", MESSAGES)) == 1
    wrong = attentive(api, token="not-the-token").subscribe("+17707651750", None)
    assert wrong.status == 401 and len(api.calls("POST", SUBSCRIBE)) == 1
    assert "not-the-token" not in repr(wrong) and TOKEN not in repr(wrong)


def test_no_answer_after_sending_is_in_doubt_and_not_retried(api):
    api.on_request = lambda got: time.sleep(1.5) if got.path == MESSAGES else None
    outcome = attentive(api, read_timeout_seconds=0.5).message("+17707651750", "hi")
    assert outcome.outcome == IN_DOUBT
    assert len(api.calls("POST", MESSAGES)) == 1  # a read time-out is never re-sent
    refused = attentive(api, base_url="http://127.0.0.1:9", max_retries=1).message("+1", "x")
    assert refused.outcome == FAILED  # nothing reached a server: safe to retry next run


# -- the assets --------------------------------------------------------------------------------


def test_subscriptions_reconciled_once_each(api, loyalty_env):
    first = run_loyalty("attentive_subscriptions")
    assert first.success
    # m1 eligible and subscribed with its phone in E.164; m3 checked but not eligible; m2
    # opted out: unsubscribed; m4 has no valid phone: no call at all
    assert [c.query["phone"] for c in api.calls("GET", SUBSCRIBE)] == [
        ["+17707651750"],
        ["+17707651752"],
    ]
    [sub] = api.calls("POST", SUBSCRIBE)
    assert sub.body["user"] == {"phone": "+17707651750", "email": "Ann@Example.com"}
    [unsub] = api.calls("POST", UNSUBSCRIBE)
    assert unsub.body["user"]["phone"] == "+17707651751"
    metadata = first.asset_materializations_for_node("loyalty__attentive_subscriptions")[0].metadata
    assert metadata["calls_invalid_phone"].value == 1
    assert metadata["calls_ineligible"].value == 1
    # a re-run changes nothing that is done: no second subscribe or unsubscribe
    assert run_loyalty("attentive_subscriptions").success
    assert len(api.calls("POST", SUBSCRIBE)) == 1 and len(api.calls("POST", UNSUBSCRIBE)) == 1
    # m1 opts out: one unsubscribe, once
    with duckdb.connect(str(loyalty_env)) as con:
        con.execute("UPDATE loyalty.members SET sms_opt_in = false WHERE member_id = 'm1'")
    assert run_loyalty("attentive_subscriptions").success
    assert run_loyalty("attentive_subscriptions").success
    unsubs = [c.body["user"]["phone"] for c in api.calls("POST", UNSUBSCRIBE)]
    assert unsubs == ["+17707651751", "+17707651750"]


def test_messages_exactly_once_across_runs_and_a_failed_one_retried(api, loyalty_env):
    add_actions(
        loyalty_env,
        [
            ("a1", "m1", "points_earned", NOW - dt.timedelta(hours=1), "You earned 50 points"),
            ("a2", "m1", "tier_up", NOW - dt.timedelta(minutes=5), "Welcome to Gold"),
            ("a3", "m2", "points_earned", NOW, "opted out: never sent"),
            ("a4", "m1", "points_earned", NOW - dt.timedelta(days=5), "too old: not sent"),
        ],
    )
    api.fail("POST", MESSAGES, 400, times=1)  # a1's first attempt is refused
    first = run_loyalty("attentive_messages")
    assert first.success
    assert not check_of(first).passed  # one failed call: reported
    assert [c.body["body"] for c in api.calls("POST", MESSAGES)] == [
        "You earned 50 points",
        "Welcome to Gold",
    ]
    second = run_loyalty("attentive_messages")
    assert check_of(second).passed
    third = run_loyalty("attentive_messages")
    assert check_of(third).passed
    # a1 was retried once by the next run; a2 was never sent twice; nothing else was sent
    assert [c.body["body"] for c in api.calls("POST", MESSAGES)] == [
        "You earned 50 points",
        "Welcome to Gold",
        "You earned 50 points",
    ]
    assert all(c.body["to"] == "+17707651750" for c in api.calls("POST", MESSAGES))
    assert journal(loyalty_env) == [
        ("message:a1", 1, FAILED),
        ("message:a2", 1, SUCCEEDED),
        ("message:a1", 2, SUCCEEDED),
    ]


def test_a_run_killed_between_the_call_and_its_journal_entry_is_reported_not_resent(
    api, loyalty_env
):
    add_actions(
        loyalty_env,
        [
            ("a1", "m1", "points_earned", NOW - dt.timedelta(minutes=3), "first"),
            ("a2", "m1", "points_earned", NOW - dt.timedelta(minutes=2), "second"),
            ("a3", "m1", "points_earned", NOW - dt.timedelta(minutes=1), "third"),
        ],
    )
    run = Child(lambda: run_loyalty("attentive_messages"))  # a process of its own, forked

    def crash(got) -> None:  # noqa: ANN001
        if got.path == MESSAGES and got.body.get("body") == "second":
            run.kill()  # the call arrived; its answer never will

    api.on_request = crash
    run.go()
    assert run.wait(timeout=120) == -signal.SIGKILL
    api.on_request = None
    assert journal(loyalty_env) == [("message:a1", 1, SUCCEEDED), ("message:a2", 1, "started")]
    after = run_loyalty("attentive_messages")
    assert after.success
    evaluation = check_of(after)
    assert not evaluation.passed
    assert evaluation.metadata["in_doubt_call_keys"].value == ["message:a2"]
    # a2 was not re-sent; a3 went
    assert [c.body["body"] for c in api.calls("POST", MESSAGES)] == ["first", "second", "third"]
    assert run_loyalty("attentive_messages").success  # still not re-sent by a later run
    assert len(api.calls("POST", MESSAGES)) == 3
    # the operator says it did not arrive: sent again, once
    assert run_loyalty("attentive_messages", {"resend": ["message:a2"]}).success
    assert [c.body["body"] for c in api.calls("POST", MESSAGES)][3:] == ["second"]
    statuses = {(k, a): s for k, a, s in journal(loyalty_env)}
    assert statuses[("message:a2", 1)] == FAILED and statuses[("message:a2", 2)] == SUCCEEDED


def test_segments_pushed_once_a_day_and_exported(api, loyalty_env, tmp_path):
    today = NOW.date()
    with duckdb.connect(str(loyalty_env)) as con:
        con.executemany(
            "INSERT INTO deliveries.sms_converters VALUES (?, ?)",
            [
                (today, "ann@example.com"),  # m1, opted in
                (today - dt.timedelta(days=29), "cy@example.com"),  # m3, opted in, in window
                (today - dt.timedelta(days=30), "dee@example.com"),  # out of the window
                (today, "bob@example.com"),  # m2 opted out: not an SMS subscriber
                (today, "stranger@example.com"),  # not a member
            ],
        )
    first = run_loyalty("annex_cloud_segments")
    assert first.success and check_of(first).passed
    [seg] = api.calls("POST", SEGMENT)
    assert seg.body["member"] == "ann@example.com,cy@example.com"
    assert (seg.body["fromDate"], seg.body["toDate"]) == (
        (today - dt.timedelta(days=29)).isoformat(),
        today.isoformat(),
    )
    assert seg.body["type"] == "Current Data" and seg.body["status"] == "ACTIVE"
    assert seg.body["externalId"] == f"sms_converters_30d-{today:%Y%m%d}"
    export = tmp_path / "exports" / f"attentive_segment_sms_converters_30d_{today:%Y%m%d}.csv"
    assert export.read_text().splitlines() == ["email", "ann@example.com", "cy@example.com"]
    metadata = first.asset_materializations_for_node("loyalty__annex_cloud_segments")[0].metadata
    assert metadata["segment_ids"].value == "101"
    assert "@" not in json.dumps({k: str(v.value) for k, v in metadata.items() if k != "exports"})
    assert run_loyalty("annex_cloud_segments").success
    assert len(api.calls("POST", SEGMENT)) == 1  # once a day


def test_tokens_and_personal_data_in_no_log_event_error_or_file(
    api, loyalty_env, caplog, monkeypatch
):
    add_actions(loyalty_env, [("a1", "m1", "x", NOW, "hello")])
    results = [run_loyalty("attentive_subscriptions"), run_loyalty("attentive_messages")]
    monkeypatch.setenv("ATTENTIVE_API_TOKEN", "canary-wrong-TOKEN-0c0c")  # a 401: the run fails
    with duckdb.connect(str(loyalty_env)) as con:
        con.execute("UPDATE loyalty.members SET sms_opt_in = false WHERE member_id = 'm1'")
    failed = run_loyalty("attentive_subscriptions")
    results.append(failed)
    assert not failed.success
    text = "\n".join(repr(e) for r in results for e in r.all_events) + caplog.text
    for secret in (TOKEN, MESSAGES_TOKEN, LOYALTY_TOKEN, "canary-wrong-TOKEN-0c0c"):
        assert secret not in text
        assert secret.encode() not in loyalty_env.read_bytes()
    assert "401" in text and "ATTENTIVE_API_TOKEN" in text  # the failure names the setting
    metadata = "\n".join(
        repr(e.step_materialization_data.materialization.metadata)
        for r in results
        for e in r.get_asset_materialization_events()
    )
    for personal in ("7707651750", "ann@example.com", "Ann@Example.com"):
        assert personal not in metadata
    with duckdb.connect(str(loyalty_env), read_only=True) as con:
        journaled = repr(con.execute("SELECT * FROM platform.api_calls").fetchall())
    assert "7707651750" not in journaled and "example.com" not in journaled.lower()


def test_the_loyalty_program_exists_only_with_a_token_and_runs_on_its_cron(monkeypatch):
    monkeypatch.delenv("ATTENTIVE_API_TOKEN", raising=False)
    graph = build_definitions(VENDOR_SOURCES, Settings.from_env()).resolve_asset_graph()
    assert dg.AssetKey(["loyalty", "attentive_messages"]) not in graph.get_all_asset_keys()
    monkeypatch.setenv("ATTENTIVE_API_TOKEN", "t")
    monkeypatch.setenv("LOYALTY_CRON", "*/10 * * * *")
    defs = build_definitions(VENDOR_SOURCES, Settings.from_env())
    schedule = defs.resolve_schedule_def("loyalty_schedule")
    assert schedule.cron_schedule == "*/10 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # texts customers
    parents = defs.resolve_asset_graph().get(dg.AssetKey(["loyalty", "annex_cloud_segments"]))
    assert dg.AssetKey(["deliveries", "sms_converters"]) in parents.parent_keys
