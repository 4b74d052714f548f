"""SFTP access for ingestion: list, stat and streamed, atomic downloads over paramiko.

Security defaults: the server's host key must be in the configured known_hosts file (unknown and
changed keys are refused); trust-on-first-use exists only as an explicit, dev-only policy. Secrets
arrive through ``dg.EnvVar`` and are never logged or put in exception messages.
"""

from __future__ import annotations

import logging
import random
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import dagster as dg
import paramiko
from pydantic import Field, PrivateAttr

from platform_assets.core.transport.arrival import Arrival
from platform_assets.core.transport.failures import (
    DownloadIncompleteError,
    SFTPAuthError,
    SFTPConfigError,
    SFTPFileNotFound,
    SFTPHostKeyError,
    SFTPTimeoutError,
    SFTPTransientError,
    is_timeout,
    is_transient,
)
from platform_assets.core.transport.files import DownloadResult, RemoteFile, part_file
from platform_assets.core.transport.host_keys import RejectUnknownHostKey, TrustOnFirstUse

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Requests of ~255 KiB in flight with prefetch are what makes paramiko fast (OpenSSH's
# sftp-server serves up to 256 KiB per read; a server that returns less is still read correctly:
# paramiko falls back to plain reads for a gap, and the size check below catches anything else).
DEFAULT_MAX_REQUEST_SIZE = 261_120
READ_BLOCK = 1024 * 1024
# How many bytes the server may send before our acknowledgement (the SSH channel's window, which
# we advertise): paramiko's default 2 MiB caps a download at ~2 MiB per round trip (~10 MB/s at
# 100 ms, as OpenSSH's `sftp`); 4 MiB makes it ~1.8 x OpenSSH at 50 and 100 ms
# (benchmarks/long_link.py) and is the fastest on loopback (~230 MB/s). Not more: paramiko buffers
# what arrives ahead of the reader and copies that buffer on each read (8 MiB: ~175 MB/s on
# loopback; 16 MiB: ~72).
CHANNEL_WINDOW = 4 * 1024 * 1024
# AES-GCM is the fastest cipher paramiko speaks; keep the others as fallbacks.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _drop(client: paramiko.SSHClient) -> None:
    """Close the connection's socket at once, without waiting on the server."""
    transport = client.get_transport()
    if transport is not None:
        transport.close()


class SFTPResource(dg.ConfigurableResource):
    """A vendor's SFTP server, read-only: list a folder, stat and download files.

    Implements :class:`~platform_assets.core.transport.files.FileSource`. Configured from the
    ``<VENDOR>_SFTP_*`` environment variables by :mod:`platform_assets.core.settings`.
    """

    host: str = Field(description="Server host name or address.")
    port: int = Field(default=22, description="Server port.")
    username: str = Field(description="Login name.")
    password: str | None = Field(default=None, description="Password (use dg.EnvVar).")
    private_key_path: str | None = Field(
        default=None, description="Private key file (ed25519, ECDSA or RSA; OpenSSH or PEM)."
    )
    private_key_passphrase: str | None = Field(default=None, description="Key passphrase.")
    known_hosts: str | None = Field(
        default=None, description="known_hosts file holding the server's host key."
    )
    host_key_policy: Literal["strict", "trust_on_first_use"] = Field(
        default="strict",
        description="strict refuses unknown and changed host keys. trust_on_first_use (DEV ONLY) "
        "accepts and records an unknown key; a changed key is still refused.",
    )
    remote_dir: str = Field(default=".", description="Folder that holds the vendor's files.")
    env_prefix: str = Field(
        default="SFTP", description="Environment prefix the settings came from (for messages)."
    )
    connect_timeout: float = 15.0
    banner_timeout: float = 15.0
    auth_timeout: float = 20.0
    channel_timeout: float = 20.0
    operation_timeout: float = 60.0
    keepalive_seconds: int = 15
    retries: int = Field(default=3, description="Retries of transient failures (not auth/keys).")
    retry_backoff_seconds: float = 1.0
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    # inside session(): the connection kept between operations, and who may use it (one at a time)
    _kept: list[tuple[paramiko.SSHClient, paramiko.SFTPClient]] = PrivateAttr(default_factory=list)
    _sessions: list[int] = PrivateAttr(default_factory=lambda: [0])
    _kept_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    # -- connection -------------------------------------------------------------------------

    def _check_settings(self) -> None:
        if not self.password and not self.private_key_path:
            raise SFTPConfigError(
                f"set {self.env_prefix}_SFTP_PASSWORD or {self.env_prefix}_SFTP_PRIVATE_KEY_PATH"
            )
        if self.host_key_policy == "strict" and not self.known_hosts:
            raise SFTPConfigError(
                f"set {self.env_prefix}_SFTP_KNOWN_HOSTS to a known_hosts file with the server's "
                "host key (or, in development only, "
                f"{self.env_prefix}_SFTP_HOST_KEY_POLICY=trust_on_first_use)"
            )
        if self.known_hosts and self.host_key_policy == "strict":
            if not Path(self.known_hosts).is_file():
                raise SFTPConfigError(
                    f"{self.env_prefix}_SFTP_KNOWN_HOSTS: no such file: {self.known_hosts}"
                )
        if self.private_key_path and not Path(self.private_key_path).is_file():
            raise SFTPConfigError(
                f"{self.env_prefix}_SFTP_PRIVATE_KEY_PATH: no such file: {self.private_key_path}"
            )

    def _load_key(self) -> paramiko.PKey | None:
        if not self.private_key_path:
            return None
        try:
            # positional: paramiko 5 renamed the keyword (passphrase -> password). Bytes: it is
            # handed to cryptography's key loaders, which take bytes (paramiko annotates str).
            return paramiko.PKey.from_path(
                self.private_key_path,
                self.private_key_passphrase.encode() if self.private_key_passphrase else None,  # type: ignore[arg-type]
            )
        except (paramiko.PasswordRequiredException, TypeError) as exc:
            if isinstance(exc, TypeError) and "password" not in str(exc).lower():
                raise
            raise SFTPConfigError(
                f"{self.env_prefix}_SFTP_PRIVATE_KEY_PATH is encrypted: set "
                f"{self.env_prefix}_SFTP_PRIVATE_KEY_PASSPHRASE"
            ) from exc
        except (paramiko.SSHException, ValueError) as exc:
            raise SFTPConfigError(
                f"{self.env_prefix}_SFTP_PRIVATE_KEY_PATH ({self.private_key_path}) could not be "
                f"loaded: {type(exc).__name__} (wrong passphrase or unsupported key type)"
            ) from None

    def _transport_factory(self, sock: Any, /, **kwargs: Any) -> paramiko.Transport:
        transport = paramiko.Transport(sock, **kwargs)
        options = transport.get_security_options()
        available = tuple(options.ciphers)
        options.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in available) + tuple(
            c for c in available if c not in PREFERRED_CIPHERS
        )
        return transport

    def _open_client(self) -> paramiko.SSHClient:
        self._check_settings()
        pkey = self._load_key()
        client = paramiko.SSHClient()
        if self.known_hosts and Path(self.known_hosts).is_file():
            # load into system host keys so paramiko never writes the file back
            client.load_system_host_keys(self.known_hosts)
        if self.host_key_policy == "trust_on_first_use":
            if not self.known_hosts:
                raise SFTPConfigError(
                    f"{self.env_prefix}_SFTP_KNOWN_HOSTS must name the file that "
                    "trust_on_first_use records keys in"
                )
            client.set_missing_host_key_policy(TrustOnFirstUse(Path(self.known_hosts)))
        else:
            client.set_missing_host_key_policy(RejectUnknownHostKey())
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.username,
                password=self.password or None,
                pkey=pkey,
                timeout=self.connect_timeout,
                banner_timeout=self.banner_timeout,
                auth_timeout=self.auth_timeout,
                channel_timeout=self.channel_timeout,
                allow_agent=False,
                look_for_keys=False,
                transport_factory=self._transport_factory,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise SFTPHostKeyError(
                f"host key of {self.host}:{self.port} CHANGED: server sent "
                f"{exc.key.get_name()} {exc.key.fingerprint}, known_hosts has "
                f"{exc.expected_key.get_name()} {exc.expected_key.fingerprint}; refusing to "
                "connect (possible man-in-the-middle)"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise SFTPAuthError(
                f"authentication as {self.username!r} on {self.host}:{self.port} failed; check "
                f"{self.env_prefix}_SFTP_USERNAME and the password or key"
            ) from None
        except BaseException:
            client.close()
            raise
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(self.keepalive_seconds)
        return client

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep connections for every operation inside, instead of one per operation (a range
        run's downloads and stats: one SSH handshake, not two per file). An operation takes an
        idle kept connection, or opens one when all are busy (a range run downloading several
        files at once holds one per download); one that fails is dropped, and its retry
        connects anew (a file not found is an answer: its connection is kept). Closed on
        leaving."""
        with self._kept_lock:
            self._sessions[0] += 1
        try:
            yield
        finally:
            with self._kept_lock:
                self._sessions[0] -= 1
                idle = [] if self._sessions[0] else self._kept[:]
                if idle:
                    self._kept.clear()
            for client, sftp in idle:
                sftp.close()
                client.close()

    @contextmanager
    def _sftp(self) -> Iterator[paramiko.SFTPClient]:
        if self._sessions[0]:
            with self._kept_lock:
                pair = self._kept.pop() if self._kept else None
            client, sftp = pair or self._open_sftp()
            try:
                yield sftp
            except SFTPFileNotFound:
                # the server's answer, not a failure: the connection is sound (a table whose file
                # may be gzipped asks for the plain name first, every day of a range)
                self._give_back(client, sftp)
                raise
            except BaseException:
                _drop(client)
                raise
            self._give_back(client, sftp)
            return
        client, sftp = self._open_sftp()
        try:
            yield sftp
        except BaseException:
            _drop(client)  # no polite close: a stalled server would hold it another time-out
            raise
        finally:
            sftp.close()
            client.close()

    def _give_back(self, client: paramiko.SSHClient, sftp: paramiko.SFTPClient) -> None:
        """An idle connection back to the session's (closed if the session ended meanwhile)."""
        with self._kept_lock:
            kept = bool(self._sessions[0])
            if kept:
                self._kept.append((client, sftp))
        if not kept:
            sftp.close()
            client.close()

    def _open_sftp(self) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
        client = self._open_client()
        try:
            transport = client.get_transport()
            assert transport is not None  # a connected client has its transport
            sftp = paramiko.SFTPClient.from_transport(transport, window_size=CHANNEL_WINDOW)
            assert sftp is not None
            channel = sftp.get_channel()
            assert channel is not None  # an open SFTP client has its channel
            channel.settimeout(self.operation_timeout)
        except BaseException:
            client.close()
            raise
        return client, sftp

    def _with_retries(self, what: str, fn: Callable[[paramiko.SFTPClient], T]) -> T:
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                with self._sftp() as sftp:
                    return fn(sftp)
            except Exception as exc:
                if not is_transient(exc) or attempt >= self.retries:
                    elapsed = time.monotonic() - started
                    shortest = min(self.connect_timeout, self.banner_timeout, self.auth_timeout)
                    if is_timeout(exc, elapsed, shortest):
                        raise SFTPTimeoutError(
                            f"{what} on {self.host}:{self.port} timed out after "
                            f"{elapsed:.0f} s (the server stopped answering; "
                            f"time-outs: connect {self.connect_timeout:g} s, banner "
                            f"{self.banner_timeout:g} s, operation {self.operation_timeout:g} s; "
                            f"{attempt + 1} attempts)"
                        ) from exc
                    if is_transient(exc):
                        raise SFTPTransientError(
                            f"{what} on {self.host}:{self.port} failed after {attempt + 1} "
                            f"attempts: {type(exc).__name__}: {exc}"
                        ) from exc
                    raise
                delay = self.retry_backoff_seconds * (2**attempt) * (0.5 + random.random())
                logger.warning(
                    "%s on %s:%s failed (%s: %s); retry %d/%d in %.1fs",
                    what,
                    self.host,
                    self.port,
                    type(exc).__name__,
                    exc,
                    attempt + 1,
                    self.retries,
                    delay,
                )
                time.sleep(delay)
                attempt += 1

    # -- operations -------------------------------------------------------------------------

    def remote_path(self, name: str) -> str:
        """``name`` inside ``remote_dir`` (``.`` is the login folder)."""
        if self.remote_dir in ("", "."):
            return name
        return f"{self.remote_dir.rstrip('/')}/{name}"

    def check_connection(self) -> None:
        """Connect, authenticate and open the SFTP subsystem once (raises on failure)."""
        self._with_retries("connect", lambda sftp: sftp.normalize("."))

    def list_files(self) -> list[RemoteFile]:
        """Regular files in ``remote_dir`` with their sizes and modification times."""

        def _list(sftp: paramiko.SFTPClient) -> list[RemoteFile]:
            try:
                entries = list(sftp.listdir_iter(self.remote_dir))
            except FileNotFoundError:
                raise SFTPFileNotFound(
                    f"remote folder {self.remote_dir!r} does not exist on {self.host}:{self.port}"
                ) from None
            return [
                RemoteFile(
                    name=e.filename,
                    path=self.remote_path(e.filename),
                    size=int(e.st_size or 0),
                    mtime=int(e.st_mtime or 0),
                )
                for e in entries
                if e.st_mode is not None and stat.S_ISREG(e.st_mode)
            ]

        return self._with_retries(f"listing {self.remote_dir}", _list)

    def _stat(self, sftp: paramiko.SFTPClient, name: str) -> RemoteFile:
        path = self.remote_path(name)
        try:
            st = sftp.stat(path)
        except FileNotFoundError:
            raise SFTPFileNotFound(
                f"expected remote file {path} is not on {self.host}:{self.port}"
            ) from None
        return RemoteFile(name, path, int(st.st_size or 0), int(st.st_mtime or 0))

    def stat(self, name: str) -> RemoteFile:
        return self._with_retries(
            f"stat {self.remote_path(name)}", lambda sftp: self._stat(sftp, name)
        )

    def download(
        self, name: str, local_path: Path, *, arrival: Arrival | None = None
    ) -> DownloadResult:
        """Stream ``remote_dir/name`` to ``local_path``.

        Bytes go to ``<local_path>.part`` with prefetch and 1 MiB reads, hashed on the way; the
        part file is renamed to ``local_path`` only when the byte count equals the size the server
        reported. Transient failures restart the download (with backoff). ``arrival`` hears of
        each block written (a reader may follow the part file; a restart breaks it).
        """
        path = self.remote_path(name)
        local_path = Path(local_path)

        def _get(sftp: paramiko.SFTPClient) -> DownloadResult:
            started = time.perf_counter()
            remote_file = self._stat(sftp, name)
            size = remote_file.size
            with part_file(local_path, arrival) as part, sftp.open(path, "rb") as remote:
                remote.MAX_REQUEST_SIZE = self.max_request_size
                remote.prefetch(size)
                part.begin(size)
                try:
                    while block := remote.read(READ_BLOCK):
                        part.write(block)
                except BaseException:
                    # before the file's close: a stalled server would hold it a time-out more
                    channel = sftp.get_channel()
                    if channel is not None:
                        channel.get_transport().close()
                    raise
                if part.received != size:
                    raise DownloadIncompleteError(
                        f"download of {path} got {part.received} bytes, server reported {size}"
                    )
            return DownloadResult(
                remote=remote_file,
                local_path=local_path,
                sha256=part.sha256,
                seconds=time.perf_counter() - started,
            )

        return self._with_retries(f"download {path}", _get)
