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

**Deliveries (100 trials).** Each trial uploads a file and its done-marker to the real sshd and
records it in a DuckDB file (the platform's ``SFTPDeliveryResource.upload`` and
``record_delivery``) in a forked process SIGKILLed at one of the boundaries (temp file written,
renamed, marker written, recorded); then, as the next run would, uploads again unkilled. After
the kill and after the re-run: the vendor's folder never shows a file under its final name that
is not the whole file, never a marker without its whole file, and every recorded upload is held
by the server with the recorded SHA-256.

Seeds: ``TRIAL_SEED`` (default below) + the trial's number; a failure names its seed. Slow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb
import paramiko
import pytest
from pydantic import PrivateAttr

from platform_assets.core.transport import upload as upload_module
from platform_assets.core.transport.upload import SFTPDeliveryResource, marker_name
from platform_assets.core.warehouse import attached_warehouse
from platform_assets.outbound.deliveries import records
from platform_assets.outbound.loyalty import intents, journal
from platform_assets.outbound.loyalty.http import IN_DOUBT, SUCCEEDED
from platform_assets.outbound.loyalty.resources import AttentiveApi
from platform_assets_tests.chaos_api import ChaosApi, Kill

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("TRIAL_SEED", "20261202"))
API_TRIALS = int(os.environ.get("API_TRIALS", "300"))  # fewer only to debug locally
DELIVERY_TRIALS = int(os.environ.get("DELIVERY_TRIALS", "100"))
TIME_LIMIT_SECONDS = 600
READ_TIMEOUT = 0.15
PHONE = "+17707651750"
API_KILL_POINTS = ("before_request", "server_holds", "after_response", "after_journal")
UPLOAD_KILL_POINTS = ("temp_written", "renamed", "marker_written", "recorded")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _forked(body: Callable[[], None], armed: Callable[[int], None] = lambda pid: None) -> int:
    """Run ``body`` in a forked process (after ``armed(pid)``); its exit status (-9: killed)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: wait for the go, run, leave without Python's clean-up
        code = 0
        try:
            os.close(write)
            os.read(read, 1)
            body()
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    os.close(read)
    armed(pid)
    os.write(write, b"g")
    os.close(write)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


# -- the API trials ------------------------------------------------------------------------------


class TrialApi(AttentiveApi):
    """The platform's Attentive client, with a kill point around its n-th message call."""

    kill_point: str = ""
    kill_at: int = 0
    _calls: int = PrivateAttr(default=0)

    def message(self, to: str, text: str):  # noqa: ANN201
        self._calls += 1
        if self._calls == self.kill_at and self.kill_point == "before_request":
            _die()  # claimed and committed; the request never left
        outcome = super().message(to, text)
        if self._calls == self.kill_at and self.kill_point == "after_response":
            _die()  # answered; the journal never heard
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
                _die()

        journal.Journal.finish = finish_then_die  # type: ignore[method-assign]  (this child only)
    with duckdb.connect() as con:
        book = journal.Journal(con, partial(attached_warehouse, con, str(db), 30), run_id)
        book.settle(alive)
        intents.send_messages(book, api, actions, "US", Counter())


def _state(db: Path) -> dict[str, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT call_key, state FROM platform.api_intents").fetchall())


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
        status = _forked(lambda: _run_messages(db, "run-a", set(), actions, api, kill_at), arm)
        server.kill = None
        assert status in (0, -signal.SIGKILL), f"run A exited {status}"
        outcome["killed"] += status == -signal.SIGKILL
        outcome[f"killed_{point}"] += status == -signal.SIGKILL
        _check_never_twice(server, db, keys)
        # run B: faults; run A still looks alive in half the trials
        alive = {"run-a"} if rng.random() < 0.5 else set()
        status = _forked(lambda: _run_messages(db, "run-b", alive, actions, _api(server.url), 0))
        assert status == 0, f"run B exited {status}"
        _check_never_twice(server, db, keys)
        # run C: no faults, everyone known dead
        server.faults = False
        status = _forked(lambda: _run_messages(db, "run-c", set(), actions, _api(server.url), 0))
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


# -- the delivery trials ---------------------------------------------------------------------


def _upload_and_record(
    sftp: SFTPDeliveryResource, local: Path, name: str, db: Path, point: str
) -> None:
    """One delivery's upload and record, dying at ``point`` (in the forked child)."""
    renames = Counter()
    if point in ("temp_written", "renamed", "marker_written"):
        put, rename = upload_module.write_part, paramiko.SFTPClient.posix_rename

        def put_then_die(*args, **kw):  # noqa: ANN002, ANN003, ANN202
            result = put(*args, **kw)  # the whole temporary file (one channel, or four)
            if point == "temp_written":
                _die()
            return result

        def rename_then_die(self, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
            rename(self, *args, **kw)
            renames["n"] += 1
            if (point, renames["n"]) in (("renamed", 1), ("marker_written", 2)):
                _die()

        upload_module.write_part = put_then_die  # (this child only)
        paramiko.SFTPClient.posix_rename = rename_then_die  # type: ignore[method-assign]
    upload = sftp.upload(local, name, marker=True)
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{db}' AS wh")
        records.record_delivery(con, "wh", "trial", dt.date(2026, 10, 5), "ios", 1, upload, "r")
    if point == "recorded":
        _die()


def _check_folder(folder: Path, whole: dict[str, set[str]], db: Path) -> None:
    """No partial file under a final name, no marker without its whole file, no record of an
    upload the server does not hold."""
    names = {p.name for p in folder.iterdir()}
    for name in names:
        if name.startswith("."):
            continue  # a temporary file (hidden; removed by the next upload)
        path = folder / name
        if name.endswith(".txt"):
            csv = name[:-4] + ".csv"
            assert csv in names, f"a marker without its file: {name}"
            assert hashlib.sha256((folder / csv).read_bytes()).hexdigest() in whole[csv]
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest in whole[name], f"{name} is not a whole file"
    if db.exists():
        with duckdb.connect(str(db), read_only=True) as con:
            rows = con.execute(  # each file's latest upload (a re-delivery replaces the file)
                "SELECT file_name, arg_max(sha256, uploaded_at) FROM platform.deliveries GROUP BY 1"
            ).fetchall()
        for name, sha in rows:
            assert name in names, f"recorded but not on the server: {name}"
            got = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            assert got == sha, f"recorded {name} with another content"


def test_100_delivery_trials_no_partial_file_marker_or_false_record(
    sshd, remote_dir: Path, tmp_path: Path
):
    if os.geteuid() == 0:
        import shutil

        shutil.chown(remote_dir, sshd.user)
    auth = {"password": sshd.password} if sshd.password else {
        "private_key_path": str(sshd.client_keys["ed25519"])
    }  # fmt: skip
    sftp = SFTPDeliveryResource(
        host=sshd.host, port=sshd.port, username=sshd.user, known_hosts=str(sshd.known_hosts),
        remote_dir=str(remote_dir), env_prefix="TEST", retry_backoff_seconds=0.05, **auth,
    )  # fmt: skip
    started = time.monotonic()
    killed: Counter = Counter()
    whole: dict[str, set[str]] = {}  # every file name -> the contents uploaded under it
    for trial in range(DELIVERY_TRIALS):
        seed = SEED + trial
        rng = random.Random(seed)
        point = UPLOAD_KILL_POINTS[trial % len(UPLOAD_KILL_POINTS)]
        name = f"staticlist_trial_ios_{seed}.csv"
        db = tmp_path / f"deliveries-{seed}.duckdb"
        contents = {}
        try:
            for attempt in ("killed", "next run"):
                local = tmp_path / f"{seed}-{attempt}.csv"
                big = rng.random() < 0.25  # a quarter over several channels at once
                size = rng.randint(5_000_000, 6_000_000) if big else rng.randint(1, 400_000)
                local.write_bytes(rng.randbytes(size))
                contents[attempt] = hashlib.sha256(local.read_bytes()).hexdigest()
                whole.setdefault(name, set()).add(contents[attempt])
                how = point if attempt == "killed" else ""
                status = _forked(lambda: _upload_and_record(sftp, local, name, db, how))  # noqa: B023
                assert status == (-signal.SIGKILL if how else 0), f"{attempt} exited {status}"
                killed[point] += bool(how)
                _check_folder(remote_dir, whole, db)
            assert (remote_dir / marker_name(name)).exists()
            final = hashlib.sha256((remote_dir / name).read_bytes()).hexdigest()
            assert final == contents["next run"]  # the next run's file replaced the killed one's
        except AssertionError as exc:
            raise AssertionError(f"delivery trial seed {seed} ({point}): {exc}") from exc
        assert time.monotonic() - started < TIME_LIMIT_SECONDS, f"{trial} trials in the limit"
    print(f"delivery trials (seeds {SEED}..{SEED + DELIVERY_TRIALS - 1}): {dict(killed)}")  # noqa: T201
    assert sum(killed.values()) == DELIVERY_TRIALS
