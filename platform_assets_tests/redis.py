"""A real Redis server for the scale-out tests, the Celery workers' broker: Debian's
``redis-server`` (``make redis`` installs it) on 127.0.0.1 and a free port, a generated password,
no persistence, in a temporary folder. Stopped and deleted afterwards."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from platform_assets_tests.sshd import free_port


@dataclass
class RedisServer:
    host: str
    port: int
    password: str = field(repr=False)

    @property
    def url(self) -> str:
        """The broker URL (its password inside: only ever in an environment variable)."""
        return f"redis://:{self.password}@{self.host}:{self.port}/0"


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise RuntimeError("Redis is needed: `make redis` installs Debian's redis-server")
    root = Path(tempfile.mkdtemp(prefix="platform-redis-"))
    password = secrets.token_urlsafe(16)
    port = free_port()
    config = root / "redis.conf"
    config.write_text(
        f'bind 127.0.0.1\nport {port}\nrequirepass {password}\ndir {root}\nsave ""\n'
        f"appendonly no\nlogfile {root / 'log'}\ndaemonize no\n"
    )
    config.chmod(0o600)
    server = subprocess.Popen(
        [binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(f"AUTH {password}\r\nPING\r\n".encode())
                    answer = b""
                    while b"\n" not in answer.partition(b"\n")[2]:  # two lines: +OK, +PONG
                        answer += s.recv(100) or b"\n\n"
                    if b"+PONG" in answer:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Redis did not start: {(root / 'log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield RedisServer("127.0.0.1", port, password)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)
