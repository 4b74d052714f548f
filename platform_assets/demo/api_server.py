"""A local stand-in for Attentive's REST API and Annex Cloud's segment API, for the demo and the
tests: no real peer can run here, so this implements the contract that Annex Cloud's "Attentive
SMS integration" states, and only it:

- ``POST /v1/subscriptions`` (``user.phone``, ``user.email``, ``signUpSourceId``) -> the user
  and ``subscriptionResponses`` (``NEWLY_CREATED``, or ``ALREADY_SUBSCRIBED`` the second time);
- ``GET /v1/subscriptions?phone=&email=`` -> ``subscriptionEligibilities``;
- ``POST /v1/subscriptions/unsubscribe`` (``user``, ``subscriptions``) -> ``NEWLY_UNSUBSCRIBED``;
- ``POST /v1/subscriptions/messages`` (``to``, ``body``) with the separate messages token ->
  ``{"type": "v1", "to": "+1...", "body": ...}``;
- ``POST /api/3.0/segment`` -> the documented output fields with a ``segmentId``, or
  ``{"errorCode", "errorMessage"}``.

Every Attentive call needs ``Authorization: Bearer <token>`` (401 otherwise); a body without its
required fields is a 400. The document shows no error bodies for these: the stand-in answers
``{"errors": [{"message": ...}]}``. Tests script faults per path (``fail(path, status, times,
retry_after)``) and read what was received (``requests``).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SUBSCRIBE = "/v1/subscriptions"
UNSUBSCRIBE = "/v1/subscriptions/unsubscribe"
MESSAGES = "/v1/subscriptions/messages"
SEGMENT = "/api/3.0/segment"
CHANNELS = ({"type": "MARKETING", "channel": "TEXT"}, {"type": "MARKETING", "channel": "EMAIL"})


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict
    authorization: str


@dataclass
class _Fault:
    status: int
    times: int
    retry_after: str | None
    body: dict | None


@dataclass
class ApiServer:
    """Attentive and Annex Cloud on 127.0.0.1 (one port for both)."""

    token: str
    messages_token: str
    annex_access_token: str
    ineligible_phones: set[str] = field(default_factory=set)
    requests: list[Received] = field(default_factory=list)
    on_request: Callable[[Received], None] | None = None
    """Called with each request before it is answered (a test's crash hook)."""
    _faults: dict[tuple[str, str], list[_Fault]] = field(default_factory=dict)
    _subscribed: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(101))

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        times: int = 1,
        retry_after: str | None = None,
        body: dict | None = None,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status``."""
        self._faults.setdefault((method, path), []).append(_Fault(status, times, retry_after, body))

    def calls(self, method: str, path: str) -> list[Received]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # -- the server ---------------------------------------------------------------------------

    def start(self) -> ApiServer:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                return

            def do_GET(self) -> None:
                api._handle(self, "GET")

            def do_POST(self) -> None:
                api._handle(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"__invalid__": raw.decode(errors="replace")}
        got = Received(
            method,
            parts.path,
            parse_qs(parts.query),
            body,
            handler.headers.get("Authorization", ""),
        )
        with self._lock:
            self.requests.append(got)
        if self.on_request:
            self.on_request(got)
        status, answer, headers = self._answer(got)
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, got: Received) -> tuple[int, dict, dict[str, str]]:
        with self._lock:
            faults = self._faults.get((got.method, got.path), [])
            if faults:
                fault = faults[0]
                fault.times -= 1
                if fault.times <= 0:
                    faults.pop(0)
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                body = fault.body or {"errors": [{"message": f"scripted {fault.status}"}]}
                return fault.status, body, headers
        if got.path == SEGMENT:
            return self._segment(got)
        wanted = self.messages_token if got.path == MESSAGES else self.token
        if got.authorization != f"Bearer {wanted}":
            return 401, {"errors": [{"message": "Unauthorized"}]}, {}
        if got.method == "GET" and got.path == SUBSCRIBE:
            phone = (got.query.get("phone") or [""])[0]
            if not phone and not got.query.get("email"):
                return 400, {"errors": [{"message": "phone or email is required"}]}, {}
            eligible = phone not in self.ineligible_phones
            return (
                200,
                {
                    "subscriptionEligibilities": [
                        {"subscription": c, "eligibility": {"isEligible": eligible}}
                        for c in CHANNELS
                    ]
                },
                {},
            )
        user = got.body.get("user") or {}
        if got.path == SUBSCRIBE:
            if not user.get("phone") or not got.body.get("signUpSourceId"):
                return 400, {"errors": [{"message": "user.phone and signUpSourceId required"}]}, {}
            with self._lock:
                status = (
                    "ALREADY_SUBSCRIBED" if user["phone"] in self._subscribed else ("NEWLY_CREATED")
                )
                self._subscribed.add(user["phone"])
            return (
                200,
                {
                    "user": user,
                    "subscriptionResponses": [
                        {"subscription": c, "subscriptionCreationStatus": status} for c in CHANNELS
                    ],
                },
                {},
            )
        if got.path == UNSUBSCRIBE:
            if not user.get("phone") and not user.get("email"):
                return 400, {"errors": [{"message": "user.phone or user.email required"}]}, {}
            with self._lock:
                self._subscribed.discard(user.get("phone", ""))
            return (
                200,
                {
                    "user": user,
                    "subscriptionResponses": [
                        {"subscription": c, "subscriptionUnsubscribeStatus": "NEWLY_UNSUBSCRIBED"}
                        for c in got.body.get("subscriptions") or CHANNELS
                    ],
                },
                {},
            )
        if got.path == MESSAGES:
            if not got.body.get("to") or not got.body.get("body"):
                return 400, {"errors": [{"message": "to and body are required"}]}, {}
            to = got.body["to"]
            return (
                200,
                {
                    "type": "v1",
                    "to": to if to.startswith("+") else "+1" + to,
                    "body": got.body["body"],
                    "skipFatigue": True,
                    "createShortLink": False,
                    "addSubscriber": "true",
                },
                {},
            )
        return 404, {"errors": [{"message": "not found"}]}, {}

    def _segment(self, got: Received) -> tuple[int, dict, dict[str, str]]:
        if got.authorization != f"Bearer {self.annex_access_token}":
            return 401, {"errorCode": "AC1001", "errorMessage": "Invalid access token."}, {}
        wanted = ("name", "type", "fromDate", "toDate", "member", "status")
        missing = [f for f in wanted if not got.body.get(f)]
        if missing:
            return 200, {"errorCode": "AC1002", "errorMessage": f"Missing {missing}"}, {}
        body = got.body
        return (
            200,
            {
                "segmentId": next(self._ids),
                "segmentName": body["name"],
                "segmentType": body["type"],
                "segmentFromDate": f"{body['fromDate']}T00:00:00+0000",
                "segmentToDate": f"{body['toDate']}T23:59:00+0000",
                "member": body["member"],
                "status": body["status"],
                "externalId": body.get("externalId", ""),
                "externalName": body.get("externalName", ""),
            },
            {},
        )
