"""The journal's promises under the faults a user met (issue "Outbound exactly once"): an action
listed twice, a read time-out, a call in doubt on the next runs, a run killed while the server
holds its request and still marked STARTED; and the smaller ones: eligibility asked once per
period, a 401 on eligibility recorded, the first retry after a 429 waits, Annex Cloud's token as
document 001's recipe computes it. Against the local API server and a real DuckDB file."""

from __future__ import annotations

import base64
import datetime as dt
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest

from platform_assets.compose import build_definitions
from platform_assets.core.settings import Settings
from platform_assets.defs import VENDOR_SOURCES
from platform_assets.demo.api_server import MESSAGES, SEGMENT, SUBSCRIBE
from platform_assets.outbound.loyalty.http import SUCCEEDED
from platform_assets.outbound.loyalty.resources import AnnexCloudApi
from platform_assets_tests.loyalty import (
    LOYALTY_TOKEN,
    NOW,
    SITE,
    add_actions,
    attentive,
    check_of,
    journal,
    run_loyalty,
)
from platform_assets_tests.trials import Child


def messages_sent(api) -> list[str]:  # noqa: ANN001
    return [c.body["body"] for c in api.calls("POST", MESSAGES)]


def test_an_action_listed_twice_is_sent_once(api, loyalty_env):
    action = ("a1", "m1", "points_earned", NOW - dt.timedelta(minutes=5), "You earned 50 points")
    add_actions(loyalty_env, [action, action])  # the relation holds the same action twice
    result = run_loyalty("attentive_messages")
    assert result.success and check_of(result).passed
    assert messages_sent(api) == ["You earned 50 points"]
    metadata = result.asset_materializations_for_node("loyalty__attentive_messages")[0].metadata
    assert metadata["calls_duplicate_intents"].value == 1
    assert run_loyalty("attentive_messages").success
    assert messages_sent(api) == ["You earned 50 points"]


def test_a_call_in_doubt_in_this_run_is_listed_by_key(api, loyalty_env, monkeypatch):
    monkeypatch.setenv("ATTENTIVE_API_READ_TIMEOUT_SECONDS", "0.5")
    add_actions(loyalty_env, [("a1", "m1", "x", NOW - dt.timedelta(minutes=1), "hello")])
    api.on_request = lambda got: time.sleep(1.5) if got.path == MESSAGES else None
    result = run_loyalty("attentive_messages")
    evaluation = check_of(result)
    assert not evaluation.passed
    assert evaluation.metadata["in_doubt_call_keys"].value == ["message:a1"]


def test_a_call_in_doubt_stays_listed_and_failing_until_an_operator_decides(
    api, loyalty_env, monkeypatch
):
    monkeypatch.setenv("ATTENTIVE_API_READ_TIMEOUT_SECONDS", "0.5")
    add_actions(loyalty_env, [("a1", "m1", "x", NOW - dt.timedelta(minutes=1), "hello")])
    api.on_request = lambda got: time.sleep(1.5) if got.path == MESSAGES else None
    assert not check_of(run_loyalty("attentive_messages")).passed
    api.on_request = None
    for _ in range(2):  # the next scheduled runs: still failing, still listed, never re-sent
        evaluation = check_of(run_loyalty("attentive_messages"))
        assert not evaluation.passed
        assert evaluation.metadata["in_doubt_call_keys"].value == ["message:a1"]
        assert len(api.calls("POST", MESSAGES)) == 1
    decided = run_loyalty("attentive_messages", {"confirm_sent": ["message:a1"]})
    assert check_of(decided).passed
    assert check_of(decided).metadata["in_doubt_call_keys"].value == []
    assert len(api.calls("POST", MESSAGES)) == 1  # confirmed: never sent again


@pytest.mark.parametrize(
    ("asset", "path", "key"),
    [
        ("attentive_messages", MESSAGES, "message:a1"),
        ("attentive_subscriptions", SUBSCRIBE, "subscribe:m1:0"),
    ],
)
def test_a_killed_runs_unanswered_call_is_not_resent_while_its_run_looks_alive(
    api, loyalty_env, tmp_path, monkeypatch, asset, path, key
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # one instance for both runs
    add_actions(loyalty_env, [("a1", "m1", "x", NOW - dt.timedelta(minutes=1), "hello")])
    # the run in a process of its own (forked from this one), on the instance of DAGSTER_HOME
    run = Child(lambda: run_loyalty(asset, instance=dg.DagsterInstance.get()))

    def kill(got) -> None:  # noqa: ANN001
        if got.method == "POST" and got.path == path:
            run.kill()  # the request arrived; no answer will go back

    api.on_request = kill
    run.go()
    assert run.wait(timeout=180) == -signal.SIGKILL
    api.on_request = None
    assert len(api.calls("POST", path)) == 1
    with dg.DagsterInstance.get() as instance:
        [killed] = instance.get_runs()
        assert killed.status == dg.DagsterRunStatus.STARTED  # nothing has marked it dead yet
        # the next run, while the killed one still looks alive: the key is held, not re-sent
        held = run_loyalty(asset, instance=instance)
        assert held.success
        assert len(api.calls("POST", path)) == 1
        evaluation = check_of(held)
        assert evaluation.metadata["held_call_keys"].value == [key]
        # run monitoring marks the killed run failed: now the key is in doubt, listed, not sent
        instance.report_run_failed(killed)
        after = run_loyalty(asset, instance=instance)
        assert len(api.calls("POST", path)) == 1
        assert not check_of(after).passed
        assert check_of(after).metadata["in_doubt_call_keys"].value == [key]
        # the operator says it did not arrive: sent again, once
        resent = run_loyalty(asset, {"resend": [key]}, instance=instance)
        assert check_of(resent).passed
        assert len(api.calls("POST", path)) == 2
    assert [s for k, _, s in journal(loyalty_env) if k == key][-1] == SUCCEEDED


def test_eligibility_is_asked_once_per_period(api, loyalty_env, monkeypatch):
    # m3 is opted in but not TEXT-eligible: asked once, not on every run
    for _ in range(3):
        assert run_loyalty("attentive_subscriptions").success
    asked = [c.query["phone"] for c in api.calls("GET", SUBSCRIBE)]
    assert asked.count(["+17707651752"]) == 1
    monkeypatch.setenv("LOYALTY_ELIGIBILITY_TTL_HOURS", "0")  # a period of 0: asked every run
    assert run_loyalty("attentive_subscriptions").success
    asked = [c.query["phone"] for c in api.calls("GET", SUBSCRIBE)]
    assert asked.count(["+17707651752"]) == 2


def test_a_401_on_eligibility_is_recorded_and_stops_the_run(api, loyalty_env, monkeypatch):
    monkeypatch.setenv("ATTENTIVE_API_TOKEN", "canary-wrong-TOKEN-0c0c")
    result = run_loyalty("attentive_subscriptions")
    assert not result.success
    statuses = {s for k, _, s in journal(loyalty_env) if k.startswith("eligibility:")}
    assert statuses and "started" not in statuses


def test_the_first_retry_after_a_429_without_retry_after_waits(api):
    client = attentive(api, max_retries=2, backoff_seconds=0.4)
    api.fail("POST", MESSAGES, 429, times=1)  # no Retry-After header
    started = time.monotonic()
    assert client.message("+17707651750", "hi").ok
    assert time.monotonic() - started >= 0.4


def test_the_annex_cloud_token_is_documents_recipe(api):
    # document 001: a JSON array of the token and the site id, then PHP's base64_encode();
    # PHP's json_encode writes it without spaces. Computed here by hand:
    expected = base64.b64encode(f'["{LOYALTY_TOKEN}","{SITE}"]'.encode()).decode()
    client = AnnexCloudApi(base_url=api.url, site_id=SITE, loyalty_token=LOYALTY_TOKEN)
    client.create_segment(
        name="x", segment_type="Current Data", from_date="2020-01-01", to_date="2020-01-02",
        members=["a@b.c"],
    )  # fmt: skip
    [seg] = api.calls("POST", SEGMENT)
    assert seg.authorization == f"Bearer {expected}"


def test_each_endpoint_keeps_its_rate_limit(api):
    client = attentive(api, rate_limits={"messages": 5})
    arrived: list[float] = []
    api.on_request = lambda got: arrived.append(time.monotonic())
    for n in range(11):
        assert client.message("+17707651750", f"m{n}").ok
    # no second holds more than 5 requests of the endpoint: the 11th waits for the 2nd second
    assert arrived[-1] - arrived[0] >= 1.8
    for i in range(len(arrived) - 5):
        assert arrived[i + 5] - arrived[i] >= 0.95, arrived
    fast = attentive(api)  # the published default for messages: 150/s, no wait for 11
    started = time.monotonic()
    for n in range(11):
        assert fast.message("+17707651750", f"f{n}").ok
    assert time.monotonic() - started < 1.5


def test_rate_limits_are_settings_checked_by_endpoint(monkeypatch):
    from platform_assets.core.settings import SettingsError
    from platform_assets.outbound.loyalty.resources import attentive_api

    monkeypatch.setenv("ATTENTIVE_API_RATE_LIMITS", "messages=50, unsubscribe=2")
    limits = attentive_api(Settings.from_env()).rate_limits
    assert limits == {"subscriptions": 10, "unsubscribe": 2, "messages": 50}
    for bad in ("messages=0", "mesages=5", "messages=fast"):
        monkeypatch.setenv("ATTENTIVE_API_RATE_LIMITS", bad)
        with pytest.raises(SettingsError, match="ATTENTIVE_API_RATE_LIMITS"):
            attentive_api(Settings.from_env())


WRITER = """
import sys, duckdb
with duckdb.connect(sys.argv[1]) as con:  # a writer of the warehouse, as a load would be
    con.execute("CREATE TABLE IF NOT EXISTS main.written_meanwhile (n INTEGER)")
    con.execute("INSERT INTO main.written_meanwhile VALUES (1)")
"""


def test_a_run_waiting_on_the_vendor_holds_no_warehouse_lock_or_pool(api, loyalty_env):
    add_actions(loyalty_env, [("a1", "m1", "x", NOW - dt.timedelta(minutes=1), "hello")])
    writes: list[int] = []

    def meanwhile(got) -> None:  # noqa: ANN001
        if got.path == MESSAGES:  # the run is waiting for this answer: another process writes
            done = subprocess.run([sys.executable, "-c", WRITER, str(loyalty_env)], timeout=60)
            writes.append(done.returncode)

    api.on_request = meanwhile
    assert run_loyalty("attentive_messages").success
    assert writes == [0]  # the warehouse was free while the call was out
    defs = build_definitions(VENDOR_SOURCES, Settings.from_env())
    node = defs.resolve_assets_def(dg.AssetKey(["loyalty", "attentive_messages"]))
    assert node.node_def.pool is None  # no writer-pool slot either
