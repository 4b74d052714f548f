"""A real OpenSSH ``sshd`` on 127.0.0.1 for the tests, with generated host and client keys.

As root (CI) it creates a dedicated user ``platformtest<random>`` (one per test session, removed
at the end, so concurrent sessions on one machine do not reset each other's password) with a
fresh random password so that
password authentication is tested for real; as another user, sshd runs as that user with key
authentication only.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
TEST_USER = "platformtest"


def find_sshd() -> str:
    for candidate in (*SSHD_CANDIDATES, shutil.which("sshd") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "OpenSSH sshd not found: install it (apt-get install openssh-server); "
        "`make test` does this when run as root"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path, kind: str, passphrase: str = "", fmt: str | None = None) -> Path:
    args = ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-f", str(path), "-C", kind]
    if kind == "rsa":
        args += ["-b", "3072"]
    if fmt:
        args += ["-m", fmt]
    subprocess.run(args, check=True, capture_output=True)
    return path


@dataclass
class SshServer:
    root: Path
    port: int
    user: str
    password: str | None
    remote_dir: Path
    known_hosts: Path
    client_keys: dict[str, Path]
    host_public_keys: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def env(self, prefix: str, auth: str = "password") -> dict[str, str]:
        env = {
            f"{prefix}_SFTP_HOST": self.host,
            f"{prefix}_SFTP_PORT": str(self.port),
            f"{prefix}_SFTP_USERNAME": self.user,
            f"{prefix}_SFTP_KNOWN_HOSTS": str(self.known_hosts),
            f"{prefix}_SFTP_REMOTE_DIR": str(self.remote_dir),
        }
        if auth == "password":
            assert self.password, "password auth needs root (a system user with a password)"
            env[f"{prefix}_SFTP_PASSWORD"] = self.password
        else:
            env[f"{prefix}_SFTP_PRIVATE_KEY_PATH"] = str(self.client_keys[auth])
        return env

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.password and self.user.startswith(TEST_USER):  # the session's own user
            subprocess.run(["userdel", self.user], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)  # keys, config and the served files


def _ensure_user(user: str, password: str) -> None:
    """The session's user with its password. Parallel test workers create theirs at the same
    moment: a busy /etc/passwd lock is waited for, a few times."""
    for attempt in range(20):
        exists = subprocess.run(["id", user], capture_output=True).returncode == 0
        made = (
            exists
            or not subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", user],
                capture_output=True,
            ).returncode
        )
        if (
            made
            and not subprocess.run(
                ["chpasswd"], input=f"{user}:{password}\n", text=True, capture_output=True
            ).returncode
        ):
            return
        time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"could not create the test user {user} (/etc/passwd stayed locked)")


def start_sshd() -> SshServer:
    sshd = find_sshd()
    root = Path(tempfile.mkdtemp(prefix="platform-sshd-"))
    root.chmod(0o755)
    as_root = os.geteuid() == 0
    password = secrets.token_urlsafe(18) if as_root else None
    if as_root:
        session_user = f"{TEST_USER}{secrets.token_hex(3)}"
        _ensure_user(session_user, password)  # type: ignore[arg-type]
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    user = session_user if as_root else getpass.getuser()

    host_keys = [keygen(root / f"host_{k}", k) for k in ("ed25519", "ecdsa", "rsa")]
    client_keys = {
        "ed25519": keygen(root / "id_ed25519", "ed25519"),
        "ecdsa": keygen(root / "id_ecdsa", "ecdsa"),
        "rsa": keygen(root / "id_rsa", "rsa"),
        "rsa_pem": keygen(root / "id_rsa_pem", "rsa", fmt="PEM"),
        "ed25519_passphrase": keygen(root / "id_ed25519_pp", "ed25519", passphrase="s3cret pp"),
    }
    for key in client_keys.values():
        key.chmod(0o600)
    authorized = root / "authorized_keys"
    authorized.write_text(
        "".join(Path(f"{k}.pub").read_text() for k in client_keys.values()), encoding="utf-8"
    )
    authorized.chmod(0o644)
    remote_dir = root / "files"
    remote_dir.mkdir()
    remote_dir.chmod(0o755)
    port = free_port()
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                *(f"HostKey {k}" for k in host_keys),
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                f"PasswordAuthentication {'yes' if as_root else 'no'}",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin no",
                f"AllowUsers {user}",
                "Subsystem sftp internal-sftp",
                "ForceCommand internal-sftp",
                "MaxStartups 100",
                "LogLevel VERBOSE",
                "",
            ]
        ),
        encoding="utf-8",
    )
    host_pubs = [Path(f"{k}.pub").read_text().split()[:2] for k in host_keys]
    known_hosts = root / "known_hosts"
    known_hosts.write_text(
        "".join(f"[127.0.0.1]:{port} {kind} {b64}\n" for kind, b64 in host_pubs), encoding="utf-8"
    )
    log_path = root / "sshd.log"
    proc = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("wb"),
    )
    server = SshServer(
        root=root,
        port=port,
        user=user,
        password=password,
        remote_dir=remote_dir,
        known_hosts=known_hosts,
        client_keys=client_keys,
        host_public_keys=[" ".join(p) for p in host_pubs],
        log_path=log_path,
        proc=proc,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {log_path.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return server
        except OSError:
            time.sleep(0.1)
    log = log_path.read_text(errors="replace")
    server.stop()
    raise RuntimeError(f"sshd did not start: {log}")
