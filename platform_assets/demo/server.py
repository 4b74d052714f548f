"""The embedded SFTP server behind ``make demo`` and ``make dev`` (asyncssh, serving a folder).

It listens on 127.0.0.1 only, on a free port, with a generated ed25519 host key (written to a
known_hosts file so the platform verifies it like any vendor's) and a generated password.
It is a development convenience: the tests use OpenSSH's sshd.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    # asyncssh's DSA support, which this server never offers (an ed25519 host key), warns at its
    # import under cryptography 51: ten lines before the demo's own output
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import asyncssh

DEMO_USER = "demo"


@dataclass
class EmbeddedSFTPServer:
    root: Path
    known_hosts: Path
    host: str = "127.0.0.1"
    port: int = 0
    username: str = DEMO_USER
    password: str = ""

    def __post_init__(self) -> None:
        self.password = self.password or secrets.token_urlsafe(18)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncssh.SSHAcceptor | None = None

    def env(self, prefix: str) -> dict[str, str]:
        """The ``<prefix>_SFTP_*`` settings that point the platform at this server."""
        return {
            f"{prefix}_SFTP_HOST": self.host,
            f"{prefix}_SFTP_PORT": str(self.port),
            f"{prefix}_SFTP_USERNAME": self.username,
            f"{prefix}_SFTP_PASSWORD": self.password,
            f"{prefix}_SFTP_KNOWN_HOSTS": str(self.known_hosts),
            f"{prefix}_SFTP_REMOTE_DIR": "/",
        }

    async def _start(self) -> None:
        username, password = self.username, self.password

        class _Auth(asyncssh.SSHServer):
            def begin_auth(self, user: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, user: str, given: str) -> bool:
                return user == username and secrets.compare_digest(given, password)

        host_key = asyncssh.generate_private_key("ssh-ed25519")
        root = str(self.root.resolve()).encode()
        self._server = await asyncssh.listen(
            self.host,
            self.port,
            server_host_keys=[host_key],
            server_factory=_Auth,
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=root),
            allow_scp=False,
            login_timeout=30,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        public = host_key.export_public_key("openssh").decode().split()[:2]
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {' '.join(public)}\n")

    def start(self) -> EmbeddedSFTPServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = None

    def __enter__(self) -> EmbeddedSFTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
