"""Deliveries: the brand's files uploaded to a vendor's SFTP folder (ASAPP's ``in``, Accengage's
imports), with an account of their own (``<VENDOR>_DELIVERY_SFTP_*``), never the read-only
ingestion one.

An upload is atomic under its final name: the bytes go to a hidden temporary name, the server's
size is checked against the local file's, and only then is it renamed over the final name
(OpenSSH's ``posix-rename``: an earlier delivery of the same name is replaced in one step). When
the vendor wants a done-marker (Accengage: an empty ``.txt`` with the CSV's name), the marker of an
earlier delivery is removed before the new CSV goes up and the new marker is written only after
the CSV's rename succeeded, so the vendor never sees a marker beside an incomplete or older file.
A failed upload leaves nothing under the final names; its temporary file, if the connection died
before it could be removed, is removed by the next upload of that name.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import paramiko

from platform_assets.core.transport.failures import SFTPError
from platform_assets.core.transport.sftp import SFTPResource

PARALLEL_FROM_BYTES = 4 * 1024 * 1024
"""Files from this size go up over several SFTP channels of the one connection at once."""
CHANNELS = 4
WRITE_REQUEST = 255 * 1024
"""Bytes per write request (OpenSSH's sftp-server takes messages of up to 256 KiB)."""

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
"""A delivered file's name: plain ASCII, no folder, no leading dot (temporary names have one)."""
HASH_BLOCK = 1 << 20


class UploadError(SFTPError):
    """The upload did not complete (nothing was left under the final name)."""


class UploadRefused(UploadError):
    """The server refused a write, rename or removal (permission denied): not transient."""


@dataclass(frozen=True)
class UploadResult:
    name: str
    path: str
    size: int
    sha256: str
    seconds: float
    marker: str | None


def write_part(sftp: paramiko.SFTPClient, local_path: Path, part: str, size: int) -> None:
    """``local_path`` written to the server as ``part``. A file of ``PARALLEL_FROM_BYTES`` or
    more goes up as ``CHANNELS`` ranges at once, each over its own SFTP channel of the same
    connection: a channel may have only the server's window (OpenSSH: 2 MiB) unacknowledged, so
    one channel moves ~2 MiB per round trip, as OpenSSH's ``sftp`` does; four move four times
    that over a long link (``benchmarks/long_link.py``)."""
    if size < PARALLEL_FROM_BYTES:
        sftp.put(str(local_path), part, confirm=False)
        return
    sftp.open(part, "wb").close()  # created empty; each range writes at its own offset
    transport = sftp.get_channel().get_transport()  # type: ignore[union-attr]
    step = -(-size // CHANNELS)
    ranges = [(start, min(start + step, size)) for start in range(0, size, step)]
    with ThreadPoolExecutor(len(ranges), thread_name_prefix="upload") as pool:
        for done in [pool.submit(_write_range, transport, local_path, part, r) for r in ranges]:
            done.result()  # the first failure is raised (the caller removes the part file)


def _write_range(
    transport: paramiko.Transport, local_path: Path, part: str, span: tuple[int, int]
) -> None:
    start, end = span
    channel = paramiko.SFTPClient.from_transport(transport)
    assert channel is not None
    try:
        with channel.open(part, "r+b") as remote, local_path.open("rb") as local:
            remote.set_pipelined(True)
            remote.MAX_REQUEST_SIZE = WRITE_REQUEST
            remote.seek(start)
            local.seek(start)
            left = end - start
            while left:
                block = local.read(min(WRITE_REQUEST * 8, left))
                if not block:
                    raise UploadError(f"{local_path} ended before byte {end}")
                remote.write(block)
                left -= len(block)
    finally:
        channel.close()


def marker_name(name: str) -> str:
    """The done-marker of ``name``: the same name with ``.txt`` for its extension."""
    return name.rsplit(".", 1)[0] + ".txt"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class SFTPDeliveryResource(SFTPResource):
    """A vendor's SFTP folder the brand writes to: atomic uploads, optional done-markers."""

    def upload(self, local_path: Path, name: str, *, marker: bool = False) -> UploadResult:
        """Upload ``local_path`` as ``remote_dir/name`` (see the module's docstring)."""
        if not SAFE_NAME.fullmatch(name):
            raise UploadError(f"refusing to upload under the name {name!r}: not a plain file name")
        local_path = Path(local_path)
        size = local_path.stat().st_size
        digest = sha256_of(local_path)
        final, done = self.remote_path(name), self.remote_path(marker_name(name))

        def _put(sftp: paramiko.SFTPClient) -> UploadResult:
            started = time.perf_counter()
            step = "listing the folder"
            part = self.remote_path(f".{name}.part-{secrets.token_hex(4)}")
            try:
                self._remove_stale_parts(sftp, name)
                if marker:
                    step = "removing the earlier done-marker"
                    _remove(sftp, done, strict=True)  # never a marker beside a file replaced
                try:
                    step = "writing the file"
                    write_part(sftp, local_path, part, size)
                    got = sftp.stat(part).st_size
                    if got != size:
                        raise UploadError(
                            f"upload of {final} on {self.host}:{self.port} stored {got} bytes "
                            f"of {size}; nothing was delivered"
                        )
                    step = "renaming it to its final name"
                    sftp.posix_rename(part, final)
                except BaseException:
                    _remove(sftp, part)
                    raise
                if marker:
                    step = "writing the done-marker"
                    empty = self.remote_path(f".{marker_name(name)}.part-{secrets.token_hex(4)}")
                    sftp.open(empty, "wb").close()
                    sftp.posix_rename(empty, done)
            except PermissionError as exc:
                # the account may not write there: no retry can change that
                raise UploadRefused(
                    f"upload of {final} on {self.host}:{self.port} refused: permission denied "
                    f"when {step} (the delivery account {self.username!r} may not write in "
                    f"{self.remote_dir}); nothing was delivered"
                ) from exc
            return UploadResult(
                name=name,
                path=final,
                size=size,
                sha256=digest,
                seconds=time.perf_counter() - started,
                marker=done if marker else None,
            )

        return self._with_retries(f"upload {final}", _put)

    def _remove_stale_parts(self, sftp: paramiko.SFTPClient, name: str) -> None:
        """Temporary files of earlier uploads of ``name`` whose connection died."""
        prefixes = (f".{name}.part-", f".{marker_name(name)}.part-")
        for entry in sftp.listdir_attr(self.remote_dir):
            regular = entry.st_mode is not None and stat.S_ISREG(entry.st_mode)
            if regular and entry.filename.startswith(prefixes):
                _remove(sftp, self.remote_path(entry.filename))


def _remove(sftp: paramiko.SFTPClient, path: str, *, strict: bool = False) -> None:
    """Remove ``path`` if it is there; ``strict``: a refused removal is an error."""
    try:
        sftp.remove(path)
    except FileNotFoundError:
        pass
    except PermissionError:
        if strict:
            raise
    except OSError:
        pass  # the connection is gone: the next upload of this name removes it
