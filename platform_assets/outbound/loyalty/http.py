"""HTTP for the platform's API calls: ``requests`` with urllib3's ``Retry`` (no hand-written
retry loop), time-outs on connect and read, and an outcome for every call.

Retried: 429 and 5xx answers (with exponential backoff and jitter, honouring ``Retry-After`` up
to a cap) and connections that could not be made. Never retried: other 4xx answers, and a
connection lost or a read that timed out *after* the request went out: the server may have acted
on it, so the call's outcome is unknown (``in_doubt``) and it is reported, never silently
re-sent.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

SUCCEEDED = "succeeded"
FAILED = "failed"
"""Definitely not done (a final error answer, or no connection): retried by the next run."""
IN_DOUBT = "in_doubt"
"""Sent, but no answer: the server may have acted on it; reported, never re-sent silently."""


@dataclass(frozen=True)
class HttpPolicy:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.5
    """Exponential backoff factor (0.5 s, 1 s, 2 s, ... before each retry), plus jitter."""
    backoff_max: float = 30.0
    jitter: float = 0.5
    retry_after_max: float = 60.0


@dataclass(frozen=True)
class Outcome:
    """What became of one call (after urllib3's retries)."""

    outcome: str
    status: int | None
    body: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == SUCCEEDED


class _Backoff(Retry):
    """urllib3's ``Retry``, with the first retry waiting too: urllib3 retries the first error at
    once (its backoff starts from the second consecutive error), which against a 429 without
    ``Retry-After`` is one more request into a server that just said "too many". Here the n-th
    retry waits ``backoff * 2**(n-1)`` (capped) plus up to ``jitter`` seconds; a ``Retry-After``
    still wins (urllib3 sleeps it instead, up to the cap)."""

    def get_backoff_time(self) -> float:
        errors = len(self.history)
        if errors == 0:
            return 0.0
        wait = min(self.backoff_max, self.backoff_factor * (2 ** (errors - 1)))
        if self.backoff_jitter:
            wait += random.random() * self.backoff_jitter
        return max(0.0, min(self.backoff_max, wait))


def session(policy: HttpPolicy) -> requests.Session:
    """A session whose adapters retry as the module says."""
    retry = _Backoff(
        total=policy.retries,
        connect=policy.retries,
        read=0,
        status=policy.retries,
        other=0,
        allowed_methods=None,  # every method: a 429 or 5xx answer means "not done, try later"
        status_forcelist=RETRY_STATUSES,
        backoff_factor=policy.backoff,
        backoff_max=policy.backoff_max,
        backoff_jitter=policy.jitter,
        respect_retry_after_header=True,
        raise_on_status=False,
        retry_after_max=int(policy.retry_after_max),  # a server asking for an hour: capped
    )
    http = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    return http


def call(
    http: requests.Session,
    policy: HttpPolicy,
    method: str,
    url: str,
    *,
    token: str,
    json_body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> Outcome:
    """One API call; the token goes in the ``Authorization`` header and nowhere else."""
    try:
        response = http.request(
            method,
            url,
            json=json_body,
            params=params,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=(policy.connect_timeout, policy.read_timeout),
        )
    except requests.exceptions.ConnectionError as exc:
        if _never_sent(exc):
            return Outcome(FAILED, None, error=f"could not connect ({type(exc).__name__})")
        return Outcome(IN_DOUBT, None, error=f"no answer after sending ({type(exc).__name__})")
    except requests.exceptions.Timeout as exc:  # a read time-out: it was sent
        return Outcome(IN_DOUBT, None, error=f"no answer after sending ({type(exc).__name__})")
    retries = getattr(response.raw, "retries", None)
    attempts = len(retries.history) + 1 if retries is not None else 1
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"value": body}
    if 200 <= response.status_code < 300:
        return Outcome(SUCCEEDED, response.status_code, body, attempts)
    return Outcome(FAILED, response.status_code, body, attempts, error=error_text(body))


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """A connection that could not be made (refused, unreachable, connect time-out): nothing
    reached the server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    text = repr(exc)
    return any(
        marker in text
        for marker in ("NewConnectionError", "ConnectTimeoutError", "Connection refused")
    )


EMAIL = re.compile(r"[^@\s\"',;]+@[^@\s\"',;]+")
DIGITS = re.compile(r"\+?\d[\d\s().-]{5,}\d")


def error_text(body: dict[str, Any]) -> str:
    """An error answer's message, personal data masked (a server may echo the phone or email)."""
    if "errorCode" in body:  # Annex Cloud's shape
        text = f"{body.get('errorCode')}: {body.get('errorMessage', '')}"
    elif isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        text = str(first.get("message", first)) if isinstance(first, dict) else str(first)
    else:
        text = str(body.get("message") or body.get("error") or "")
    return DIGITS.sub("<number>", EMAIL.sub("<email>", text))[:300]
