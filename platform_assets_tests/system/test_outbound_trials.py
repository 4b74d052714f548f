"""Randomized trials of the outbound promises, with real processes killed at random points.

**API (300 trials).** Each trial journals a few loyalty actions (some listed twice) into a fresh
DuckDB file and sends them through the platform's own code (``intents.send_messages``: the claim,
the call, the record) against :mod:`platform_assets_tests.chaos_api`, which delays, drops,
refuses, throttles, answers twice and answers out of order (another request's answer). Three
runs, each a forked process:

1. run A, SIGKILLed at a random intent at one of four points: after its claim and before the
   request, while the server holds the request (before or after sending it), after the answer
   and before the journal write, after the journal write;
2. run B, with faults, while A still looks alive (half the trials) or is known dead;
3. run C, without faults, A and B known dead.

After every run: no message was sent twice (the server's own count), and every intent the
journal says succeeded was sent. After C: every intent is either sent exactly once and recorded
succeeded, or listed in doubt (sent once or not at all) — never sent twice, never silently
missing — and the server's log holds nothing the journal does not account for.

Seeds: ``TRIAL_SEED`` (``platform_assets_tests/trials.py``) + the trial's number; a failure names
its seed. Slow. The delivery trials are ``test_delivery_trials.py`` (a file of their own, so the
slow lane's two workers run them beside these).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from functools import partial
from pathlib import Path

import duckdb
import pytest
from pydantic import PrivateAttr

from platform_assets.core.warehouse import attached_warehouse
from platform_assets.outbound.loyalty import intents, journal
from platform_assets.outbound.loyalty.http import IN_DOUBT, SUCCEEDED
from platform_assets.outbound.loyalty.resources import AttentiveApi
from platform_assets_tests.chaos_api import ChaosApi, Kill
from platform_assets_tests.trials import SEED, TIME_LIMIT_SECONDS, die, forked

pytestmark = pytest.mark.slow

API_TRIALS = int(os.environ.get("API_TRIALS", "300"))  # fewer only to debug locally
READ_TIMEOUT = 0.15
PHONE = "+17707651750"
API_KILL_POINTS = ("before_request", "server_holds", "after_response", "after_journal")


class TrialApi(AttentiveApi):
    """The platform's Attentive client, with a kill point around its n-th message call."""

    kill_point: str = ""
    kill_at: int = 0
    _calls: int = PrivateAttr(default=0)

    def message(self, to: str, text: str):  # noqa: ANN201
        self._calls += 1
        if self._calls == self.kill_at and self.kill_point == "before_request":
            die()  # claimed and committed; the request never left
        outcome = super().message(to, text)
        if self._calls == self.kill_at and self.kill_point == "after_response":
            die()  # answered; the journal never heard
        return outcome


def _run_messages(
    db: Path, run_id: str, alive: set[str], actions: list[tuple], api: TrialApi, kill_at: int
) -> None:
    """One run of the messages asset's work, in the current (forked) process."""
    if api.kill_point == "after_journal":
        finish = journal.Journal.finish
        done = Counter()

        def finish_then_die(self, call, attempt, outcome, status=None):  # noqa: ANN001, ANN202
            finish(self, call, attempt, outcome, status)
            done["n"] += 1
            if done["n"] == kill_at:
                die()

        journal.Journal.finish = finish_then_die  # type: ignore[method-assign]  (this child only)
    with duckdb.connect() as con:
        book = journal.Journal(con, partial(attached_warehouse, con, str(db), 30), run_id)
        book.settle(alive)
        intents.send_messages(book, api, actions, "US", Counter())


_READER = duckdb.connect()
"""The test's one DuckDB for reading the trials' journals: a file attached read-only per read
(~1 ms) instead of a new DuckDB per read (~14 ms: 900 reads in 300 trials)."""


def _state(db: Path) -> dict[str, str]:
    with _READER.cursor() as con:
        con.execute(f"ATTACH '{db}' AS journal (READ_ONLY)")
        try:
            return dict(
                con.execute("SELECT call_key, state FROM journal.platform.api_intents").fetchall()
            )
        finally:
            con.execute("DETACH journal")


def _api(url: str, kill_point: str = "", kill_at: int = 0) -> TrialApi:
    return TrialApi(
        base_url=url,
        token="t",
        messages_token="m",
        sign_up_source_id="1",
        read_timeout_seconds=READ_TIMEOUT,
        connect_timeout_seconds=1,
        max_retries=2,
        backoff_seconds=0.01,
        backoff_jitter_seconds=0.01,
        retry_after_max_seconds=0.05,
        kill_point=kill_point,
        kill_at=kill_at,
    )


def _api_trial(seed: int, folder: Path) -> dict[str, int]:
    rng = random.Random(seed)
    db = folder / f"trial-{seed}.duckdb"
    n = rng.randint(3, 7)
    actions = [(f"a{i}", "m1", f"msg a{i}", PHONE) for i in range(n)]
    for _ in range(rng.randint(0, 2)):  # the same action listed twice
        actions.insert(rng.randrange(len(actions) + 1), rng.choice(actions[:n]))
    keys = {f"message:a{i}" for i in range(n)}
    server = ChaosApi(READ_TIMEOUT, rng=random.Random(seed * 7919))
    point = rng.choice(API_KILL_POINTS)
    kill_at = rng.randint(1, n)
    outcome: Counter = Counter()
    try:
        # run A: killed at a random point of its kill_at-th intent (if it gets that far)
        def arm(pid: int) -> None:
            if point == "server_holds":
                server.kill = Kill(pid, server.seen + kill_at, after_sending=rng.random() < 0.5)

        api = _api(server.url, point if point != "server_holds" else "", kill_at)
        status = forked(lambda: _run_messages(db, "run-a", set(), actions, api, kill_at), arm)
        server.kill = None
        assert status in (0, -signal.SIGKILL), f"run A exited {status}"
        outcome["killed"] += status == -signal.SIGKILL
        outcome[f"killed_{point}"] += status == -signal.SIGKILL
        _check_never_twice(server, db, keys)
        # run B: faults; run A still looks alive in half the trials
        alive = {"run-a"} if rng.random() < 0.5 else set()
        status = forked(lambda: _run_messages(db, "run-b", alive, actions, _api(server.url), 0))
        assert status == 0, f"run B exited {status}"
        _check_never_twice(server, db, keys)
        # run C: no faults, everyone known dead
        server.faults = False
        status = forked(lambda: _run_messages(db, "run-c", set(), actions, _api(server.url), 0))
        assert status == 0, f"run C exited {status}"
        state = _check_never_twice(server, db, keys)
        sent = Counter(server.sent)
        for key in keys:
            count = sent[f"msg {key.split(':')[1]}"]
            assert state.get(key) in (SUCCEEDED, IN_DOUBT), (key, state.get(key))
            if state[key] == SUCCEEDED:
                assert count == 1, (key, count)  # delivered exactly once, recorded so
            outcome[state[key]] += 1
            outcome["doubt_sent"] += state[key] == IN_DOUBT and count == 1
    except AssertionError as exc:
        raise AssertionError(f"API trial seed {seed} ({point} at intent {kill_at}): {exc}") from exc
    finally:
        server.stop()
    return outcome


def _check_never_twice(server: ChaosApi, db: Path, keys: set[str]) -> dict[str, str]:
    sent = Counter(server.sent)
    assert max(sent.values(), default=0) <= 1, f"sent twice: {sent}"
    assert set(sent) <= {f"msg {k.split(':')[1]}" for k in keys}
    state = _state(db)
    for key, value in state.items():
        if value == SUCCEEDED:  # the journal never claims a message the server does not have
            assert sent[f"msg {key.split(':')[1]}"] == 1, (key, sent)
    return state


def test_300_api_trials_every_intent_once_or_in_doubt(tmp_path: Path):
    started = time.monotonic()
    totals: Counter = Counter()
    for trial in range(API_TRIALS):
        totals.update(_api_trial(SEED + trial, tmp_path))
        assert time.monotonic() - started < TIME_LIMIT_SECONDS, f"{trial} trials in the limit"
    print(f"API trials (seeds {SEED}..{SEED + API_TRIALS - 1}): {dict(totals)}")  # noqa: T201
    assert totals["killed"] >= API_TRIALS // 2  # most runs A were really killed
    assert totals[IN_DOUBT] > 0 and totals[SUCCEEDED] > 0
