"""The journal of API calls: ``platform.api_calls`` in the warehouse, one row per attempt of a
call, written *before* the call (``started``) and completed *after* it (``succeeded``,
``failed``, ``in_doubt``, ``ineligible``), each write committed on its own.

A call is named by its idempotency key (``message:<action id>``, ``subscribe:<member>:...``):
a key with a ``succeeded`` attempt is never called again; a ``failed`` one is called again by
the next run (its next attempt); a ``started`` attempt of a run that is over means the process
died between the call and the journal entry: the call may have happened, so it becomes
``in_doubt`` and is reported, never re-sent unless an operator says so (run config).
No personal data is journaled: members by their loyalty id, phones and emails by a hash.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from platform_assets.outbound.loyalty.http import IN_DOUBT, SUCCEEDED, Outcome

STARTED = "started"
INELIGIBLE = "ineligible"
DDL = (
    "CREATE SCHEMA IF NOT EXISTS {wh}.platform",
    "CREATE TABLE IF NOT EXISTS {wh}.platform.api_calls (call_key VARCHAR, kind VARCHAR, "
    "member_id VARCHAR, action_id VARCHAR, subject_hash VARCHAR, attempt INTEGER, "
    "status VARCHAR, http_status INTEGER, http_attempts INTEGER, response_id VARCHAR, "
    "error VARCHAR, run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP)",
)


@dataclass(frozen=True)
class Call:
    key: str
    kind: str
    member_id: str | None = None
    action_id: str | None = None
    subject_hash: str | None = None


class Journal:
    """The journal as one run sees it (``wh``: the attached warehouse's name)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, wh: str, run_id: str):
        self.con, self.table, self.run_id = con, f"{wh}.platform.api_calls", run_id
        for statement in DDL:
            con.execute(statement.format(wh=wh))

    def settle_crashed(self, active_runs: set[str]) -> list[Call]:
        """Attempts left ``started`` by runs that are over: now ``in_doubt``; returned."""
        rows = self.con.execute(
            f"SELECT call_key, kind, member_id, action_id, subject_hash, run_id FROM {self.table} "
            "WHERE status = $started",
            {"started": STARTED},
        ).fetchall()
        crashed = [r for r in rows if r[5] not in active_runs | {self.run_id}]
        for key, *_rest, run in crashed:
            self.con.execute(
                f"UPDATE {self.table} SET status = $doubt, finished_at = now()::TIMESTAMP, "
                "error = 'the run ended between the call and its journal entry' "
                "WHERE call_key = $key AND run_id = $run AND status = $started",
                {"doubt": IN_DOUBT, "key": key, "run": run, "started": STARTED},
            )
        return [Call(k, kind, m, a, s) for k, kind, m, a, s, _ in crashed]

    def latest(self, kinds: tuple[str, ...]) -> dict[str, str]:
        """Each key of ``kinds`` -> the status of its latest attempt."""
        kinds_sql = ", ".join(f"'{k}'" for k in kinds)
        return dict(
            self.con.execute(
                f"SELECT call_key, arg_max(status, attempt) FROM {self.table} "
                f"WHERE kind IN ({kinds_sql}) GROUP BY call_key"
            ).fetchall()
        )

    def succeeded_per_member(self, kinds: tuple[str, ...]) -> dict[str, tuple[str, str, int]]:
        """Each member -> (kind, subject hash) of its latest succeeded call of ``kinds``, and
        how many such calls succeeded (the next call's sequence number)."""
        kinds_sql = ", ".join(f"'{k}'" for k in kinds)
        rows = self.con.execute(
            f"SELECT member_id, arg_max(kind, finished_at), arg_max(subject_hash, finished_at), "
            f"count(DISTINCT call_key) FROM {self.table} WHERE kind IN ({kinds_sql}) "
            "AND status = $ok GROUP BY member_id",
            {"ok": SUCCEEDED},
        ).fetchall()
        return {m: (kind, subject, n) for m, kind, subject, n in rows}

    def begin(self, call: Call) -> int:
        """Record the attempt before the call (committed); its attempt number."""
        row = self.con.execute(
            f"SELECT coalesce(max(attempt), 0) + 1 FROM {self.table} WHERE call_key = $key",
            {"key": call.key},
        ).fetchone()
        attempt = int(row[0]) if row else 1
        self.con.execute(
            f"INSERT INTO {self.table} VALUES ($key, $kind, $member, $action, $subject, $attempt, "
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
                "now": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            },
        )
        return attempt

    def finish(self, call: Call, attempt: int, outcome: Outcome, status: str | None = None) -> None:
        """Complete the attempt with what the call came to."""
        self.con.execute(
            f"UPDATE {self.table} SET status = $status, http_status = $http, "
            "http_attempts = $tries, response_id = $rid, error = $error, finished_at = $now "
            "WHERE call_key = $key AND attempt = $attempt",
            {
                "status": status or outcome.outcome,
                "http": outcome.status,
                "tries": outcome.attempts,
                "rid": response_id(outcome.body),
                "error": outcome.error or None,
                "now": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                "key": call.key,
                "attempt": attempt,
            },
        )

    def resolve(self, keys: list[str], status: str) -> int:
        """An operator's decision on in-doubt calls: ``succeeded`` (it did happen) or ``failed``
        (send it again); returns how many were changed."""
        changed = 0
        for key in keys:
            row = self.con.execute(
                f"UPDATE {self.table} SET status = $status, error = 'resolved by an operator' "
                "WHERE call_key = $key AND status = $doubt RETURNING 1",
                {"status": status, "key": key, "doubt": IN_DOUBT},
            ).fetchall()
            changed += len(row)
        return changed


def response_id(body: dict) -> str | None:
    """The id an answer gives the created thing (a segment's id), if any."""
    for name in ("segmentId", "id", "messageId"):
        if body.get(name) is not None:
            return str(body[name])
    return None
