"""The SFTP resource against a real OpenSSH sshd: auth, host keys, retries, timeouts, downloads."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from platform_assets.core.transport.failures import (
    SFTPAuthError,
    SFTPConfigError,
    SFTPFileNotFound,
    SFTPHostKeyError,
    SFTPTimeoutError,
    SFTPTransientError,
)
from platform_assets_tests.conftest import make_sftp
from platform_assets_tests.netutil import TcpProxy
from platform_assets_tests.sshd import SshServer, keygen


def _known_hosts_for_port(sshd: SshServer, port: int, path: Path) -> Path:
    path.write_text("".join(f"[127.0.0.1]:{port} {k}\n" for k in sshd.host_public_keys))
    return path


def test_password_auth_lists_files_with_sizes_and_mtimes(sshd, remote_dir):
    (remote_dir / "a.csv").write_bytes(b"x" * 123)
    (remote_dir / "b.csv").write_bytes(b"")
    (remote_dir / "sub").mkdir()
    os.utime(remote_dir / "a.csv", (1_700_000_000, 1_700_000_000))
    files = {f.name: f for f in make_sftp(sshd, remote_dir, "password").list_files()}
    assert set(files) == {"a.csv", "b.csv"}  # folders are not files
    assert files["a.csv"].size == 123
    assert files["a.csv"].mtime == 1_700_000_000
    assert files["a.csv"].path == f"{remote_dir}/a.csv"


@pytest.mark.parametrize("key", ["ed25519", "ecdsa", "rsa", "rsa_pem"])
def test_key_auth_with_every_key_type(sshd, remote_dir, key):
    (remote_dir / "f.csv").write_text("a\n")
    assert [f.name for f in make_sftp(sshd, remote_dir, key).list_files()] == ["f.csv"]


def test_encrypted_key_needs_its_passphrase(sshd, remote_dir):
    (remote_dir / "f.csv").write_text("a\n")
    sftp = make_sftp(sshd, remote_dir, "ed25519_passphrase", private_key_passphrase="s3cret pp")
    assert [f.name for f in sftp.list_files()] == ["f.csv"]
    without = make_sftp(sshd, remote_dir, "ed25519_passphrase")
    with pytest.raises(SFTPConfigError, match="TEST_SFTP_PRIVATE_KEY_PASSPHRASE"):
        without.list_files()


def test_wrong_password_fails_once_without_retry_and_without_leaking_it(sshd, remote_dir):
    with TcpProxy(sshd.port) as proxy:
        kh = _known_hosts_for_port(sshd, proxy.port, remote_dir.parent / f"kh_{proxy.port}")
        sftp = make_sftp(
            sshd,
            remote_dir,
            "password",
            port=proxy.port,
            known_hosts=str(kh),
            password="not-the-password-42",
        )
        with pytest.raises(SFTPAuthError) as info:
            sftp.list_files()
    assert proxy.connections == 1
    assert "not-the-password-42" not in str(info.value)
    assert sshd.user in str(info.value)


def test_unknown_key_not_authorized(sshd, remote_dir, tmp_path):
    stranger = keygen(tmp_path / "stranger", "ed25519")
    sftp = make_sftp(sshd, remote_dir, "ed25519", private_key_path=str(stranger))
    with pytest.raises(SFTPAuthError):
        sftp.list_files()


def test_unknown_host_key_is_refused_and_not_retried(sshd, remote_dir, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with TcpProxy(sshd.port) as proxy:
        sftp = make_sftp(sshd, remote_dir, port=proxy.port, known_hosts=str(empty))
        with pytest.raises(SFTPHostKeyError, match="not in the known_hosts"):
            sftp.list_files()
    assert proxy.connections == 1
    assert empty.read_text() == ""  # nothing was trusted or written


def test_changed_host_key_is_refused(sshd, remote_dir, tmp_path):
    impostor = keygen(tmp_path / "impostor", "ed25519")
    kind, b64 = Path(f"{impostor}.pub").read_text().split()[:2]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {kind} {b64}\n")
    with pytest.raises(SFTPHostKeyError, match="CHANGED"):
        make_sftp(sshd, remote_dir, known_hosts=str(kh)).list_files()


def test_strict_policy_requires_a_known_hosts_file(sshd, remote_dir):
    with pytest.raises(SFTPConfigError, match="TEST_SFTP_KNOWN_HOSTS"):
        make_sftp(sshd, remote_dir, known_hosts=None).list_files()


def test_trust_on_first_use_records_the_key_then_strict_accepts_it(sshd, remote_dir, tmp_path):
    kh = tmp_path / "tofu_known_hosts"
    (remote_dir / "f.csv").write_text("a\n")
    tofu = make_sftp(sshd, remote_dir, known_hosts=str(kh), host_key_policy="trust_on_first_use")
    assert [f.name for f in tofu.list_files()] == ["f.csv"]
    recorded = kh.read_text()
    assert f"[127.0.0.1]:{sshd.port}" in recorded
    recorded_key = recorded.split()[2]
    assert any(recorded_key in k for k in sshd.host_public_keys)
    strict = make_sftp(sshd, remote_dir, known_hosts=str(kh))
    assert [f.name for f in strict.list_files()] == ["f.csv"]


def test_missing_credentials_name_the_variables(sshd, remote_dir):
    sftp = make_sftp(sshd, remote_dir, "ed25519", private_key_path=None)
    with pytest.raises(SFTPConfigError, match="TEST_SFTP_PASSWORD or TEST_SFTP_PRIVATE_KEY_PATH"):
        sftp.list_files()


def test_dropped_connections_are_retried(sshd, remote_dir):
    (remote_dir / "f.csv").write_text("a\n")
    with TcpProxy(sshd.port, drop_first=2) as proxy:
        kh = _known_hosts_for_port(sshd, proxy.port, remote_dir.parent / f"kh_{proxy.port}")
        sftp = make_sftp(sshd, remote_dir, port=proxy.port, known_hosts=str(kh), retries=3)
        assert [f.name for f in sftp.list_files()] == ["f.csv"]
    assert proxy.connections == 3


def test_a_file_not_found_keeps_the_sessions_connection(sshd, remote_dir, tmp_path):
    """A range of a table whose files may be gzipped asks for each day's plain name first: the
    server's "no such file" is an answer, so the session's one connection serves on (it was
    dropped, and the next file paid a new SSH handshake: ~120 ms per Accengage file)."""
    (remote_dir / "day.csv.gz").write_bytes(b"gz")
    (remote_dir / "other.csv").write_text("a\n")
    with TcpProxy(sshd.port) as proxy:
        kh = _known_hosts_for_port(sshd, proxy.port, remote_dir.parent / f"kh_{proxy.port}")
        sftp = make_sftp(sshd, remote_dir, port=proxy.port, known_hosts=str(kh))
        with sftp.session():
            for _ in range(3):
                with pytest.raises(SFTPFileNotFound):
                    sftp.download("day.csv", tmp_path / "day.csv")
                assert sftp.download("day.csv.gz", tmp_path / "day.csv.gz").remote.size == 2
            assert sftp.stat("other.csv").size == 2
        assert proxy.connections == 1
        assert not (tmp_path / "day.csv").exists()
        assert not list(tmp_path.glob("*.part"))


def test_retries_give_up_with_a_clear_error(sshd, remote_dir):
    with TcpProxy(sshd.port, drop_first=100) as proxy:
        kh = _known_hosts_for_port(sshd, proxy.port, remote_dir.parent / f"kh_{proxy.port}")
        sftp = make_sftp(sshd, remote_dir, port=proxy.port, known_hosts=str(kh), retries=2)
        with pytest.raises(SFTPTransientError, match="after 3 attempts"):
            sftp.list_files()
    assert proxy.connections == 3


def test_banner_timeout_on_a_silent_server(sshd, remote_dir):
    with TcpProxy(sshd.port, silent=True) as proxy:
        sftp = make_sftp(
            sshd, remote_dir, port=proxy.port, banner_timeout=0.5, connect_timeout=0.5, retries=0
        )
        started = time.monotonic()
        with pytest.raises(SFTPTransientError):
            sftp.list_files()
    assert time.monotonic() - started < 10


def test_download_streams_exact_bytes_and_hash(sshd, remote_dir, tmp_path):
    payload = os.urandom(9 * 1024 * 1024 + 17)  # several prefetch requests and read blocks
    (remote_dir / "big.csv").write_bytes(payload)
    result = make_sftp(sshd, remote_dir).download("big.csv", tmp_path / "big.csv")
    assert (tmp_path / "big.csv").read_bytes() == payload
    assert result.sha256 == hashlib.sha256(payload).hexdigest()
    assert result.remote.size == len(payload)
    assert not list(tmp_path.glob("*.part"))


def test_download_cut_midway_is_retried_and_never_leaves_a_partial_file(sshd, remote_dir, tmp_path):
    payload = os.urandom(4 * 1024 * 1024)
    (remote_dir / "big.csv").write_bytes(payload)
    with TcpProxy(sshd.port, cut_first=1, cut_after_bytes=1024 * 1024) as proxy:
        kh = _known_hosts_for_port(sshd, proxy.port, remote_dir.parent / f"kh_{proxy.port}")
        sftp = make_sftp(sshd, remote_dir, port=proxy.port, known_hosts=str(kh), retries=2)
        result = sftp.download("big.csv", tmp_path / "big.csv")
    assert proxy.connections == 2
    assert result.sha256 == hashlib.sha256(payload).hexdigest()
    assert (tmp_path / "big.csv").read_bytes() == payload

    target = tmp_path / "never.csv"
    with TcpProxy(sshd.port, cut_first=100, cut_after_bytes=1024 * 1024) as proxy:
        kh = _known_hosts_for_port(sshd, proxy.port, remote_dir.parent / f"kh_{proxy.port}")
        sftp = make_sftp(sshd, remote_dir, port=proxy.port, known_hosts=str(kh), retries=1)
        with pytest.raises(SFTPTransientError):
            sftp.download("big.csv", target)
    assert not target.exists()
    assert not list(tmp_path.glob("*.part"))


def test_download_of_a_missing_file_names_the_remote_path(sshd, remote_dir, tmp_path):
    with pytest.raises(SFTPFileNotFound, match=f"{remote_dir}/nope.csv"):
        make_sftp(sshd, remote_dir).download("nope.csv", tmp_path / "nope.csv")
    assert not (tmp_path / "nope.csv").exists()


def test_stat_reports_size_and_mtime_or_names_the_missing_path(sshd, remote_dir):
    (remote_dir / "s.csv").write_bytes(b"12345")
    os.utime(remote_dir / "s.csv", (1_690_000_000, 1_690_000_000))
    sftp = make_sftp(sshd, remote_dir)
    remote = sftp.stat("s.csv")
    assert (remote.size, remote.mtime, remote.path) == (5, 1_690_000_000, f"{remote_dir}/s.csv")
    with pytest.raises(SFTPFileNotFound, match=f"{remote_dir}/gone.csv"):
        sftp.stat("gone.csv")


def _descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (sshd's per-connection processes and their sftp-server)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        todo += children
    return found


@contextmanager
def _stopped(pids: list[int]) -> Iterator[None]:
    """SIGSTOP ``pids`` (a server that hangs, its sockets open), SIGCONT them after."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def test_a_stopped_session_times_out_within_the_operation_time_out_and_says_so(sshd, remote_dir):
    (remote_dir / "day.csv").write_text("a\n1\n")
    sftp = make_sftp(sshd, remote_dir, operation_timeout=2, retries=0)
    assert sshd.proc is not None

    def stat_a_stopped_server(client):
        with _stopped(_descendants(sshd.proc.pid)):  # this connection's sshd and sftp-server
            return sftp._stat(client, "day.csv")

    started = time.monotonic()
    with pytest.raises(SFTPTimeoutError, match=r"stat day\.csv .* timed out after 2 s"):
        sftp._with_retries("stat day.csv", stat_a_stopped_server)
    assert time.monotonic() - started < 2 * 1.5  # one time-out, not one per polite close


def test_a_download_whose_server_stops_midway_times_out_once(sshd, remote_dir, tmp_path):
    (remote_dir / "big.bin").write_bytes(os.urandom(1 << 20) * 300)  # 300 MB: seconds to send
    sftp = make_sftp(sshd, remote_dir, operation_timeout=2, retries=0)
    assert sshd.proc is not None
    part = tmp_path / "big.bin.part"
    stopped: list[int] = []

    def stop_once_bytes_flow() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if part.exists() and part.stat().st_size > (8 << 20):
                stopped.extend(_descendants(sshd.proc.pid))
                for pid in stopped:
                    os.kill(pid, signal.SIGSTOP)
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=stop_once_bytes_flow)
    watcher.start()
    started = time.monotonic()
    try:
        # the message's seconds are the attempt's: the bytes before the stop (~1 s, more on busy
        # cores: a run here said 4 s), then the one operation time-out it names
        with pytest.raises(
            SFTPTimeoutError,
            match=r"download .*big\.bin .* timed out after \d+ s .* operation 2 s; 1 attempts",
        ):
            sftp.download("big.bin", tmp_path / "big.bin")
        elapsed = time.monotonic() - started
    finally:
        watcher.join()
        for pid in stopped:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert stopped, "the download ended before the server could be stopped"
    assert elapsed < 2 * 1.5 + 5  # the bytes before the stop, then one time-out
    assert not part.exists() and not (tmp_path / "big.bin").exists()  # nothing half-written


def test_a_stopped_sshd_fails_on_the_banner_time_out_and_says_so(sshd, remote_dir):
    sftp = make_sftp(
        sshd, remote_dir, banner_timeout=1, connect_timeout=1, retries=1, retry_backoff_seconds=0.1
    )
    assert sshd.proc is not None
    started = time.monotonic()
    with _stopped([sshd.proc.pid]), pytest.raises(SFTPTimeoutError, match="timed out after 1 s"):
        sftp.list_files()  # the kernel accepts; sshd never sends its banner
    assert time.monotonic() - started < 2 * (1 + 1) + 1  # two attempts of one banner time-out
