"""A loopback double of Attentive's messages endpoint (``POST /v1/subscriptions/messages``) that
misbehaves on purpose, for the randomized trials of the journal's promises.

Each request draws a fault from the trial's seeded random generator:

- ``ok``: the message is sent (logged) and answered 200;
- ``slow``: sent, answered after the client's read time-out (the answer arrives too late: the
  client cannot tell whether it was sent);
- ``drop_before``: the connection is closed before anything is done (not sent, no answer);
- ``drop_after``: sent, then the connection is closed without an answer;
- ``busy`` / ``throttled``: 503 or 429 (with or without ``Retry-After: 0``), not sent;
- ``duplicate``: sent, and the answer written twice before the connection closes;
- ``reordered``: not sent; the answer is an earlier request's (answers out of order), which the
  client must not take for its own.

A kill can be armed: on the n-th request the client process is SIGKILLed while the server holds
the request, before or after the message is sent. The log (``sent``) is the server's own count:
what a phone would receive. Every answer closes its connection, so a late or repeated answer can
never be read as the answer to another request.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MESSAGES = "/v1/subscriptions/messages"
FAULTS = (
    ("ok", 60),
    ("slow", 8),
    ("drop_before", 6),
    ("drop_after", 6),
    ("busy", 8),
    ("throttled", 8),
    ("duplicate", 4),
    ("reordered", 4),
)


@dataclass
class Kill:
    pid: int
    on_request: int
    """The n-th request (1-based) of this process."""
    after_sending: bool


@dataclass
class ChaosApi:
    read_timeout: float
    rng: random.Random = field(default_factory=random.Random)
    faults: bool = True
    kill: Kill | None = None
    sent: list[str] = field(default_factory=list)
    seen: int = 0
    answers: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                api._handle(self, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _draw(self) -> str:
        if not self.faults:
            return "ok"
        names, weights = zip(*FAULTS, strict=True)
        return self.rng.choices(names, weights)[0]

    def _handle(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        with self._lock:
            self.seen += 1
            fault = self._draw()
            kill = self.kill if self.kill and self.kill.on_request == self.seen else None
            delay = self.rng.uniform(1.5, 2.5) * self.read_timeout
        if kill is not None:  # the server holds the request; its client dies
            if kill.after_sending:
                self._send(body)
            os.kill(kill.pid, signal.SIGKILL)
            handler.close_connection = True
            return
        if fault == "drop_before":
            handler.close_connection = True
            return
        if fault == "reordered" and self.answers:
            self._answer(handler, 200, self.rng.choice(self.answers), {})
            return
        if fault in ("busy", "throttled"):
            status = 503 if fault == "busy" else 429
            headers = (
                {"Retry-After": "0"} if fault == "throttled" and self.rng.random() < 0.5 else {}
            )
            self._answer(handler, status, {"errors": [{"message": fault}]}, headers)
            return
        self._send(body)
        if fault == "drop_after":
            handler.close_connection = True
            return
        if fault == "slow":
            time.sleep(delay)
        answer = {"type": "v1", "to": body.get("to"), "body": body.get("body")}
        with self._lock:
            self.answers.append(answer)
        self._answer(handler, 200, answer, {}, twice=fault == "duplicate")

    def _send(self, body: dict) -> None:
        with self._lock:
            self.sent.append(str(body.get("body")))

    @staticmethod
    def _answer(
        handler: BaseHTTPRequestHandler,
        status: int,
        answer: dict,
        headers: dict[str, str],
        *,
        twice: bool = False,
    ) -> None:
        data = json.dumps(answer).encode()
        try:
            for _ in range(2 if twice else 1):
                handler.send_response(status)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(data)))
                handler.send_header("Connection", "close")
                for name, value in headers.items():
                    handler.send_header(name, value)
                handler.end_headers()
                handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:
            pass  # the client gave up (a read time-out): the answer is lost, as it would be
        handler.close_connection = True
