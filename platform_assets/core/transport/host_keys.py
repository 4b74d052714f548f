"""What an SFTP connection does with a server's host key that the known_hosts file lacks: refuse it
(the default), or, as an explicit development opt-in, trust it on first use and record it."""

from __future__ import annotations

import logging
from pathlib import Path

import paramiko

from platform_assets.core.transport.failures import SFTPHostKeyError

logger = logging.getLogger(__name__)


class RejectUnknownHostKey(paramiko.MissingHostKeyPolicy):
    """The default: a host key not in the known_hosts file refuses the connection, naming it."""

    def missing_host_key(self, client, hostname, key):  # noqa: ANN001 - paramiko's signature
        raise SFTPHostKeyError(
            f"host key of {hostname} ({key.get_name()} {key.fingerprint}) is not in the "
            "known_hosts file; add it (ssh-keyscan) after checking the fingerprint with the vendor"
        )


class TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Dev only: accept an unknown host key and append it to the known_hosts file."""

    def __init__(self, known_hosts: Path):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):  # noqa: ANN001 - paramiko's signature
        logger.warning(
            "trust_on_first_use: accepting new host key %s %s for %s and saving it to %s",
            key.get_name(),
            key.fingerprint,
            hostname,
            self.known_hosts,
        )
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        with self.known_hosts.open("a", encoding="utf-8") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
