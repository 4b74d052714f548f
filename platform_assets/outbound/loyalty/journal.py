"""The journal of API calls, in the warehouse: the single source of truth of what was sent.

- ``platform.api_intents``: one row per intent, keyed by its idempotency key (``message:<action
  id>``, ``subscribe:<member>:<n>``, ``segment:<key>:<day>``; the primary key), in one state:
  ``claimed`` (a run holds it: its call may be on the wire), ``succeeded``, ``failed`` (known
  not done: the next run may claim it again), ``in_doubt`` (sent, no answer: never re-sent until
  an operator decides).
- ``platform.api_calls``: one row per attempt (the history), written with the claim and completed
  with the answer; eligibility questions (reads, not intents) are journaled here only.

A call is made only by the run that claimed its key, in a committed transaction, before the
request: a key that is claimed (by a run alive or not), succeeded or in doubt cannot be claimed
again. A claim whose run is over (failed, canceled, or its process gone and the run marked so by
run monitoring) becomes ``in_doubt``: the request may have reached the server. Only an operator
moves a key out of doubt (run config ``confirm_sent`` / ``resend``). No personal data is
journaled: members by their loyalty id, phones and emails by a hash.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import duckdb

from platform_assets.outbound.loyalty.http import FAILED, IN_DOUBT, SUCCEEDED, Outcome

STARTED = "started"
CLAIMED = "claimed"
INELIGIBLE = "ineligible"
DDL = (
    "CREATE SCHEMA IF NOT EXISTS {wh}.platform",
    "CREATE TABLE IF NOT EXISTS {wh}.platform.api_calls (call_key VARCHAR, kind VARCHAR, "
    "member_id VARCHAR, action_id VARCHAR, subject_hash VARCHAR, attempt INTEGER, "
    "status VARCHAR, http_status INTEGER, http_attempts INTEGER, response_id VARCHAR, "
    "error VARCHAR, run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS {wh}.platform.api_intents (call_key VARCHAR PRIMARY KEY, "
    "kind VARCHAR, state VARCHAR, run_id VARCHAR, attempts INTEGER, updated_at TIMESTAMP)",
    # a journal from before the intents table (once, while it is empty): each key's latest
    # attempt is its state
    "INSERT OR IGNORE INTO {wh}.platform.api_intents SELECT call_key, arg_max(kind, attempt), "
    "CASE arg_max(status, attempt) WHEN 'started' THEN 'claimed' ELSE arg_max(status, attempt) "
    "END, arg_max(run_id, attempt), max(attempt), max(coalesce(finished_at, started_at)) "
    "FROM {wh}.platform.api_calls WHERE kind <> 'eligibility' "
    "AND NOT EXISTS (SELECT 1 FROM {wh}.platform.api_intents) GROUP BY call_key",
)
NOT_CLAIMED = {
    SUCCEEDED: "already_sent",
    IN_DOUBT: "left_in_doubt",
    INELIGIBLE: "ineligible",
}
"""A key's state -> why it is not claimed again (a count in the asset's metadata)."""


@dataclass(frozen=True)
class Call:
    key: str
    kind: str
    member_id: str | None = None
    action_id: str | None = None
    subject_hash: str | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


Attach = Callable[[], AbstractContextManager[str]]
"""Attaches the warehouse to the journal's connection for one transaction; yields its name."""


class Journal:
    """The journal as one run sees it. The warehouse is attached for each transaction only
    (``attach``; a few milliseconds), so a run that waits on a vendor (a rate limit, a
    ``Retry-After``, a slow answer) holds neither the warehouse's lock nor its writer pool."""

    def __init__(self, con: duckdb.DuckDBPyConnection, attach: Attach, run_id: str):
        self.con, self.attach, self.run_id = con, attach, run_id
        with self.transaction() as wh:
            for statement in DDL:
                con.execute(statement.format(wh=wh))

    @contextmanager
    def transaction(self) -> Iterator[str]:
        """The warehouse attached (its name) for one committed transaction."""
        with self.attach() as wh:
            self.calls, self.intents = f"{wh}.platform.api_calls", f"{wh}.platform.api_intents"
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield wh
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    def read(self, sql: str, params: dict | None = None) -> list[tuple]:
        """The rows of ``sql`` over the warehouse (``{wh}`` stands for its name)."""
        with self.transaction() as wh:
            return self.con.execute(sql.format(wh=wh), params or {}).fetchall()

    # -- the claims ------------------------------------------------------------------------

    def settle(self, alive_runs: set[str]) -> int:
        """Claims held by runs that are over become ``in_doubt`` (their call may have reached
        the server); how many."""
        with self.transaction():
            rows = self.con.execute(
                f"SELECT call_key, run_id FROM {self.intents} WHERE state = $claimed",
                {"claimed": CLAIMED},
            ).fetchall()
            dead = [(k, r) for k, r in rows if r not in alive_runs | {self.run_id}]
            for key, run in dead:
                self.con.execute(
                    f"UPDATE {self.intents} SET state = $doubt, updated_at = $now "
                    "WHERE call_key = $key",
                    {"doubt": IN_DOUBT, "now": _now(), "key": key},
                )
                self.con.execute(
                    f"UPDATE {self.calls} SET status = $doubt, finished_at = $now, "
                    "error = 'the run ended between the call and its answer' "
                    "WHERE call_key = $key AND run_id = $run AND status = $started",
                    {"doubt": IN_DOUBT, "now": _now(), "key": key, "run": run, "started": STARTED},
                )
        return len(dead)

    def state(self, key: str) -> str | None:
        """Why ``key`` cannot be claimed now (a :data:`NOT_CLAIMED` reason, or ``held``), or
        None when it can."""
        with self.transaction():
            return self._state(key)

    def _state(self, key: str) -> str | None:
        row = self.con.execute(
            f"SELECT state, run_id FROM {self.intents} WHERE call_key = $key", {"key": key}
        ).fetchone()
        if row is None or row[0] == FAILED:
            return None
        state, run = row
        if state == CLAIMED:
            return "held_by_another_run" if run != self.run_id else "claimed_by_this_run"
        return NOT_CLAIMED.get(state, state)

    def claim(self, call: Call) -> int | None:
        """Claim ``call``'s key for this run and record the attempt, in one committed
        transaction, before the call; the attempt number, or None when the key is not free."""
        with self.transaction():
            if self._state(call.key) is not None:
                return None
            self.con.execute(
                f"INSERT OR REPLACE INTO {self.intents} VALUES ($key, $kind, $claimed, $run, "
                f"coalesce((SELECT attempts FROM {self.intents} WHERE call_key = $key), 0) + 1, "
                "$now)",
                {
                    "key": call.key,
                    "kind": call.kind,
                    "claimed": CLAIMED,
                    "run": self.run_id,
                    "now": _now(),
                },
            )
            return self._attempt(call)

    def finish(self, call: Call, attempt: int, outcome: Outcome, status: str | None = None) -> None:
        """Complete the attempt, and the key's state, with what the call came to."""
        status = status or outcome.outcome
        with self.transaction():
            self._finish_attempt(call, attempt, outcome, status)
            self.con.execute(
                f"UPDATE {self.intents} SET state = $status, updated_at = $now "
                "WHERE call_key = $key AND run_id = $run",
                {"status": status, "now": _now(), "key": call.key, "run": self.run_id},
            )

    def keys(self, kinds: tuple[str, ...], state: str) -> list[str]:
        """Keys of ``kinds`` in ``state`` (``claimed``: held by other runs), sorted."""
        with self.transaction():
            rows = self.con.execute(
                f"SELECT call_key FROM {self.intents} WHERE kind IN (SELECT unnest($kinds)) "
                "AND state = $state AND ($state <> $claimed OR run_id <> $run) ORDER BY 1",
                {"kinds": list(kinds), "state": state, "claimed": CLAIMED, "run": self.run_id},
            ).fetchall()
        return [k for (k,) in rows]

    def resolve(self, keys: list[str], status: str) -> int:
        """An operator's decision on keys in doubt (or held by a run the operator knows is
        gone): ``succeeded`` (it did happen) or ``failed`` (send it again); how many changed."""
        changed = 0
        with self.transaction():
            for key in keys:
                row = self.con.execute(
                    f"UPDATE {self.intents} SET state = $status, updated_at = $now "
                    "WHERE call_key = $key AND (state = $doubt OR (state = $claimed "
                    "AND run_id <> $run)) RETURNING 1",
                    {
                        "status": status,
                        "now": _now(),
                        "key": key,
                        "doubt": IN_DOUBT,
                        "claimed": CLAIMED,
                        "run": self.run_id,
                    },
                ).fetchall()
                self.con.execute(
                    f"UPDATE {self.calls} SET status = $status, error = 'resolved by an operator' "
                    "WHERE call_key = $key AND status IN ($doubt, $started)",
                    {"status": status, "key": key, "doubt": IN_DOUBT, "started": STARTED},
                )
                changed += len(row)
        return changed

    # -- the history -----------------------------------------------------------------------

    def begin(self, call: Call) -> int:
        """Record an attempt that is not an intent (an eligibility question); its number."""
        with self.transaction():
            return self._attempt(call)

    def finish_read(self, call: Call, attempt: int, outcome: Outcome, status: str | None) -> None:
        with self.transaction():
            self._finish_attempt(call, attempt, outcome, status or outcome.outcome)

    def eligibility(self, member: str, subject: str, ttl_hours: int) -> str | None:
        """The answer to the latest eligibility question about ``member`` at ``subject`` in the
        last ``ttl_hours``: ``succeeded`` (eligible), ``ineligible``, or None (ask)."""
        if ttl_hours <= 0:
            return None
        with self.transaction():
            row = self.con.execute(
                f"SELECT arg_max(status, finished_at) FROM {self.calls} WHERE kind = 'eligibility' "
                "AND member_id = $member AND subject_hash = $subject "
                "AND status IN ($ok, $no) AND finished_at >= $since",
                {
                    "member": member,
                    "subject": subject,
                    "ok": SUCCEEDED,
                    "no": INELIGIBLE,
                    "since": _now() - dt.timedelta(hours=ttl_hours),
                },
            ).fetchone()
        return row[0] if row else None

    def succeeded_per_member(self, kinds: tuple[str, ...]) -> dict[str, tuple[str, str, int]]:
        """Each member -> (kind, subject hash) of its latest succeeded call of ``kinds``, and
        how many such calls succeeded (the next call's sequence number)."""
        with self.transaction():
            rows = self.con.execute(
                f"SELECT member_id, arg_max(kind, finished_at), arg_max(subject_hash, "
                f"finished_at), count(DISTINCT call_key) FROM {self.calls} "
                "WHERE kind IN (SELECT unnest($kinds)) AND status = $ok GROUP BY member_id",
                {"ok": SUCCEEDED, "kinds": list(kinds)},
            ).fetchall()
        return {m: (kind, subject, n) for m, kind, subject, n in rows}

    def _attempt(self, call: Call) -> int:
        row = self.con.execute(
            f"SELECT coalesce(max(attempt), 0) + 1 FROM {self.calls} WHERE call_key = $key",
            {"key": call.key},
        ).fetchone()
        attempt = int(row[0]) if row else 1
        self.con.execute(
            f"INSERT INTO {self.calls} VALUES ($key, $kind, $member, $action, $subject, $attempt, "
            "$status, NULL, NULL, NULL, NULL, $run, $now, NULL)",
            {
                "key": call.key,
                "kind": call.kind,
                "member": call.member_id,
                "action": call.action_id,
                "subject": call.subject_hash,
                "attempt": attempt,
                "status": STARTED,
                "run": self.run_id,
                "now": _now(),
            },
        )
        return attempt

    def _finish_attempt(self, call: Call, attempt: int, outcome: Outcome, status: str) -> None:
        self.con.execute(
            f"UPDATE {self.calls} SET status = $status, http_status = $http, "
            "http_attempts = $tries, response_id = $rid, error = $error, finished_at = $now "
            "WHERE call_key = $key AND attempt = $attempt",
            {
                "status": status,
                "http": outcome.status,
                "tries": outcome.attempts,
                "rid": response_id(outcome.body),
                "error": outcome.error or None,
                "now": _now(),
                "key": call.key,
                "attempt": attempt,
            },
        )


def response_id(body: dict) -> str | None:
    """The id an answer gives the created thing (a segment's id), if any."""
    for name in ("segmentId", "id", "messageId"):
        if body.get(name) is not None:
            return str(body[name])
    return None
