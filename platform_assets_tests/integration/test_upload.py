"""Deliveries over the real sshd with a write-enabled account: atomic uploads under the final
name, the done-marker only after the complete file, re-delivery replacing, a cut upload leaving
nothing under the final names, and hostile names refused."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.core.settings import Settings
from platform_assets.core.transport.failures import SFTPConfigError, SFTPTransientError
from platform_assets.core.transport.upload import (
    PARALLEL_FROM_BYTES,
    SFTPDeliveryResource,
    UploadError,
    UploadRefused,
)
from platform_assets_tests.netutil import TcpProxy
from platform_assets_tests.sshd import SshServer

NAME = "staticlist_converters_android_20261001120000.csv"
MARKER = "staticlist_converters_android_20261001120000.txt"


@pytest.fixture
def inbox(sshd: SshServer, remote_dir: Path) -> Path:
    """The vendor's folder, writable by the delivery account (the sshd's user)."""
    if os.geteuid() == 0:
        shutil.chown(remote_dir, sshd.user)
    return remote_dir


def delivery(sshd: SshServer, folder: Path, **kw) -> SFTPDeliveryResource:
    auth: dict[str, str] = (
        {"password": sshd.password}
        if sshd.password
        else {"private_key_path": str(sshd.client_keys["ed25519"])}
    )
    settings = dict(
        host=sshd.host,
        port=sshd.port,
        username=sshd.user,
        known_hosts=str(sshd.known_hosts),
        remote_dir=str(folder),
        env_prefix="ACCENGAGE_DELIVERY",
        retry_backoff_seconds=0.05,
        **auth,
    )
    settings.update(kw)
    return SFTPDeliveryResource(**settings)


def test_upload_lands_whole_with_its_marker_after_it(sshd, inbox, tmp_path):
    local = tmp_path / NAME
    local.write_bytes(os.urandom(3 << 20))  # 3 MiB: several SFTP writes
    result = delivery(sshd, inbox).upload(local, NAME, marker=True)
    assert (inbox / NAME).read_bytes() == local.read_bytes()
    assert result.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
    assert result.size == local.stat().st_size
    assert (inbox / MARKER).read_bytes() == b""  # an empty marker with the CSV's name
    # the marker came after the complete file
    assert (inbox / MARKER).stat().st_mtime_ns >= (inbox / NAME).stat().st_mtime_ns
    assert sorted(p.name for p in inbox.iterdir()) == [NAME, MARKER]  # no temporary file left


def test_a_large_upload_goes_up_over_several_channels_byte_for_byte(sshd, inbox, tmp_path):
    local = tmp_path / NAME
    local.write_bytes(os.urandom(PARALLEL_FROM_BYTES * 2 + 12_345))  # 4 uneven ranges at once
    result = delivery(sshd, inbox).upload(local, NAME, marker=True)
    assert (inbox / NAME).read_bytes() == local.read_bytes()
    assert result.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
    assert sorted(p.name for p in inbox.iterdir()) == [NAME, MARKER]


def test_re_delivery_replaces_the_file_and_its_marker(sshd, inbox, tmp_path):
    local = tmp_path / NAME
    sftp = delivery(sshd, inbox)
    local.write_text("first\n")
    sftp.upload(local, NAME, marker=True)
    local.write_text("second, longer\n")
    sftp.upload(local, NAME, marker=True)
    assert (inbox / NAME).read_text() == "second, longer\n"
    assert sorted(p.name for p in inbox.iterdir()) == [NAME, MARKER]


def test_a_cut_upload_leaves_nothing_under_the_final_names(sshd, inbox, tmp_path):
    local = tmp_path / NAME
    local.write_bytes(os.urandom(4 << 20))
    with TcpProxy(sshd.port, cut_first=1, cut_upload_after_bytes=1 << 20) as proxy:
        known = tmp_path / "known_hosts"
        known.write_text("".join(f"[127.0.0.1]:{proxy.port} {k}\n" for k in sshd.host_public_keys))
        cut = delivery(sshd, inbox, port=proxy.port, known_hosts=str(known), retries=0)
        with pytest.raises(SFTPTransientError):
            cut.upload(local, NAME, marker=True)
    assert not (inbox / NAME).exists() and not (inbox / MARKER).exists()
    # the next delivery completes and removes what the cut one left behind
    delivery(sshd, inbox).upload(local, NAME, marker=True)
    assert (inbox / NAME).read_bytes() == local.read_bytes()
    assert sorted(p.name for p in inbox.iterdir()) == [NAME, MARKER]


def test_a_refused_write_fails_at_once_naming_the_file_and_the_server(
    sshd, inbox, tmp_path, caplog
):
    local = tmp_path / NAME
    local.write_text("a;b\n")
    inbox.chmod(0o555)  # the delivery account may no longer create files there
    try:
        with pytest.raises(UploadRefused) as refused:
            delivery(sshd, inbox, retries=3).upload(local, NAME, marker=True)
    finally:
        inbox.chmod(0o755)
    message = str(refused.value)
    assert f"upload of {inbox}/{NAME} on {sshd.host}:{sshd.port} refused" in message
    assert "permission denied when writing the file" in message
    assert not [r for r in caplog.records if "retry" in r.getMessage()]  # no retry: one attempt
    assert list(inbox.iterdir()) == []


def test_a_refused_rename_fails_at_once_and_keeps_the_earlier_file(sshd, inbox, tmp_path, caplog):
    if os.geteuid() != 0:
        pytest.skip("needs root: a file owned by another user in a sticky folder (CI runs as root)")
    shutil.chown(inbox, "root")
    inbox.chmod(0o1777)  # anyone may write; only a file's owner may replace it (sticky bit)
    (inbox / NAME).write_text("the vendor's file\n")  # owned by root, not by the account
    local = tmp_path / NAME
    local.write_text("a;b\n")
    with pytest.raises(UploadRefused, match="permission denied when renaming it to its final"):
        delivery(sshd, inbox, retries=3).upload(local, NAME)
    assert not [r for r in caplog.records if "retry" in r.getMessage()]
    assert (inbox / NAME).read_text() == "the vendor's file\n"
    assert sorted(p.name for p in inbox.iterdir()) == [NAME]  # its temporary file removed


@pytest.mark.parametrize(
    "name", ["../escape.csv", "a/b.csv", ".hidden.csv", "bad\nname.csv", "x;rm.csv", "é.csv", ""]
)
def test_hostile_names_are_refused_before_connecting(sshd, inbox, tmp_path, name):
    local = tmp_path / "f.csv"
    local.write_text("x\n")
    with pytest.raises(UploadError, match="not a plain file name"):
        delivery(sshd, inbox, port=1).upload(local, name)  # port 1: never reached


def test_the_delivery_account_is_its_own_on_the_sources_server(sshd, inbox, tmp_path, monkeypatch):
    """``<V>_DELIVERY_SFTP_*``: own credentials (never the read-only account's), the source's
    server unless set, the documented folder unless set; then a real upload with it."""
    env = {
        **sshd.env("ASAPP"),
        "ASAPP_SFTP_REMOTE_DIR": "/out",
        "ASAPP_DELIVERY_SFTP_USERNAME": sshd.user,
    }
    for name, value in env.items():  # dg.EnvVar reads the process environment
        monkeypatch.setenv(name, value)
    local = tmp_path / "asapp_transactions_20261001.csv"
    local.write_text("a,b\n1,2\n")

    def upload_with(env: dict[str, str]) -> None:
        resource = Settings.from_env(env).delivery_sftp("ASAPP", "in")
        with dg.build_resources({"delivery": resource}) as built:
            built.delivery.upload(local, local.name)

    with pytest.raises(SFTPConfigError, match="ASAPP_DELIVERY_SFTP_PASSWORD"):
        upload_with(env)  # the ingestion account's password is not used
    own: dict[str, str] = {}
    if sshd.password:
        own["ASAPP_DELIVERY_SFTP_PASSWORD"] = sshd.password
    else:
        own["ASAPP_DELIVERY_SFTP_PRIVATE_KEY_PATH"] = str(sshd.client_keys["ed25519"])
    for name, value in own.items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env({**env, **own}).delivery_sftp("ASAPP", "in").remote_dir == "in"
    monkeypatch.setenv("ASAPP_DELIVERY_SFTP_REMOTE_DIR", str(inbox))
    upload_with({**env, **own, "ASAPP_DELIVERY_SFTP_REMOTE_DIR": str(inbox)})
    assert (inbox / local.name).read_text() == "a,b\n1,2\n"
