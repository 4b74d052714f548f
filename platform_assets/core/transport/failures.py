"""What can go wrong talking to an SFTP server, and which of it is worth another attempt.

Each error carries a clear message without secrets; :func:`is_transient` and :func:`is_timeout`
are the retry rule of the SFTP resources (``sftp.py`` downloads, ``upload.py`` deliveries).
"""

from __future__ import annotations

import socket

import paramiko

from platform_assets.core.transport.files import RemoteFileNotFound


class SFTPError(Exception):
    """Base class for errors this module raises with a clear, secret-free message."""


class SFTPConfigError(SFTPError):
    """A setting is missing or contradictory."""


class SFTPHostKeyError(SFTPError):
    """The server's host key is unknown or differs from the known_hosts entry. Never retried."""


class SFTPAuthError(SFTPError):
    """The server refused the credentials. Never retried."""


class SFTPFileNotFound(SFTPError, RemoteFileNotFound):
    """The remote file does not exist."""


class SFTPTransientError(SFTPError):
    """The server or network failed in a way that did not stop after the retries."""


class SFTPTimeoutError(SFTPTransientError):
    """The server stopped answering: no banner, no reply, no data within a time-out."""


class DownloadIncompleteError(SFTPError):
    """The bytes received do not match the size the server reported."""


def is_timeout(exc: BaseException, elapsed: float, shortest: float) -> bool:
    """A wait that ran out: a socket time-out in the exception's chain or its words, or a session
    that died with no answer ("Error reading SSH protocol banner", "No existing session") after
    at least the ``shortest`` time-out had passed (a dropped connection dies at once)."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and len(chain) < 8:
        chain.append(link)
        link = link.__cause__ or link.__context__
    if any(isinstance(e, socket.timeout | TimeoutError) for e in chain):
        return True
    text = " ".join(str(e) for e in chain).lower()
    if "timed out" in text or "timeout" in text:
        return True
    silent = "banner" in text or "no existing session" in text
    return silent and elapsed >= 0.9 * shortest


def is_transient(exc: BaseException) -> bool:
    """A failure worth another attempt (a dropped or silent connection, a short read); never
    a refused key or login, a bad setting or a missing file."""
    if isinstance(
        exc,
        SFTPHostKeyError
        | SFTPAuthError
        | SFTPConfigError
        | SFTPFileNotFound
        | paramiko.AuthenticationException
        | paramiko.BadHostKeyException
        | FileNotFoundError
        | PermissionError,
    ):
        return False
    return isinstance(
        exc,
        OSError | EOFError | socket.timeout | paramiko.SSHException | DownloadIncompleteError,
    )
