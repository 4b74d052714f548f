"""The file-source interface the loader and the sensors read vendor files through.

:class:`~platform_assets.core.transport.sftp.SFTPResource` implements it for a vendor's SFTP
server (the only source in production); :class:`LocalFolderResource` implements it for a local
folder (a mounted share, or the loader's rule tests, which need no network to prove a rule).
Both list a folder with sizes and mtimes, stat one file, and download it to a local path
atomically with its SHA-256."""

from __future__ import annotations

import hashlib
import inspect
import os
import queue
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

import dagster as dg
from pydantic import Field

from platform_assets.core.transport.arrival import Arrival

COPY_BLOCK = 1024 * 1024


class RemoteFileNotFound(FileNotFoundError):
    """The file (or folder) a source was asked for is not there."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    path: str
    size: int
    mtime: int


@dataclass(frozen=True)
class DownloadResult:
    remote: RemoteFile
    local_path: Path
    sha256: str
    seconds: float


@runtime_checkable
class FileSource(Protocol):
    """Where a vendor's files are: a folder that can be listed and read."""

    @property
    def remote_dir(self) -> str: ...

    def list_files(self) -> list[RemoteFile]:
        """Regular files in the folder with their sizes and modification times."""
        ...

    def stat(self, name: str) -> RemoteFile:
        """One file's size and mtime; :class:`RemoteFileNotFound` when it is not there."""
        ...

    def download(
        self, name: str, local_path: Path, *, arrival: Arrival | None = None
    ) -> DownloadResult:
        """Copy ``name`` to ``local_path`` (complete or not at all), with its SHA-256;
        ``arrival`` hears of each block written to the part file (see :mod:`.arrival`)."""
        ...


def kept_open(files: object) -> AbstractContextManager[object]:
    """One connection for every operation inside (a range run's downloads and stats): the
    source's ``session()`` where it has one (SFTP: one handshake instead of two per file), else
    nothing to keep (a local folder)."""
    session = getattr(files, "session", None)
    return session() if callable(session) else nullcontext()


def follows_arrival(files: object) -> bool:
    """Whether the source's ``download`` takes an ``arrival`` (both sources here do; a source
    written to the older contract is read whole, then loaded)."""
    download = getattr(files, "download", None)
    if download is None:
        return False
    return "arrival" in inspect.signature(download).parameters


class StreamHasher:
    """SHA-256 of a stream in a thread beside the download (hashlib releases the GIL on large
    blocks, so hashing overlaps paramiko's decryption instead of adding to it). The queue is
    bounded: at most 8 blocks (8 MiB) wait."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        while (block := self._queue.get()) is not None:
            self._digest.update(block)

    def update(self, block: bytes) -> None:
        self._queue.put(block)

    def result(self) -> str:
        self.close()
        return self._digest.hexdigest()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()


class PartFile:
    """A download on its way to its local path (:func:`part_file`): the bytes written to
    ``<local path>.part``, hashed on the way, each block told to the arrival."""

    def __init__(
        self, path: Path, out: BinaryIO, hasher: StreamHasher, arrival: Arrival | None
    ) -> None:
        self.path, self._out, self._hasher, self._arrival = path, out, hasher, arrival
        self.received = 0
        """Bytes written so far."""
        self.sha256 = ""
        """The SHA-256 of the whole file, once it is in place."""

    def begin(self, size: int) -> None:
        """The download starts; ``size``: the bytes the source says the file has."""
        if self._arrival is not None:
            self._arrival.begin(self.path, size)

    def write(self, block: bytes) -> None:
        self._out.write(block)
        self._hasher.update(block)
        self.received += len(block)
        if self._arrival is not None:
            self._out.flush()  # a reader following the part file sees the block
            self._arrival.advance(len(block))


@contextmanager
def part_file(local_path: Path, arrival: Arrival | None) -> Iterator[PartFile]:
    """Where every source downloads to: ``local_path`` appears, whole, only when the block ends
    normally (the part file renamed); an error inside removes the part file and fails the
    arrival (a reader following it is freed with the error)."""
    path = local_path.with_name(local_path.name + ".part")
    hasher = StreamHasher()
    try:
        with path.open("wb") as out:
            part = PartFile(path, out, hasher, arrival)
            yield part
        part.sha256 = hasher.result()
        os.replace(path, local_path)
    except BaseException:
        if arrival is not None:
            arrival.fail()
        raise
    finally:
        hasher.close()
        path.unlink(missing_ok=True)
    if arrival is not None:
        arrival.finish()


class LocalFolderResource(dg.ConfigurableResource):
    """A local folder as a file source (same contract as the SFTP resource, no network)."""

    remote_dir: str = Field(description="The folder that holds the vendor's files.")

    def _path(self, name: str) -> Path:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"not a file name: {name!r}")
        return Path(self.remote_dir) / name

    def list_files(self) -> list[RemoteFile]:
        folder = Path(self.remote_dir)
        if not folder.is_dir():
            raise RemoteFileNotFound(f"folder {self.remote_dir!r} does not exist")
        files = []
        for entry in os.scandir(folder):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                files.append(RemoteFile(entry.name, entry.path, st.st_size, int(st.st_mtime)))
        return files

    def stat(self, name: str) -> RemoteFile:
        path = self._path(name)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise RemoteFileNotFound(f"expected file {path} is not there") from None
        return RemoteFile(name, str(path), st.st_size, int(st.st_mtime))

    def download(
        self, name: str, local_path: Path, *, arrival: Arrival | None = None
    ) -> DownloadResult:
        started = time.perf_counter()
        remote = self.stat(name)
        with part_file(local_path, arrival) as part, open(remote.path, "rb") as src:
            part.begin(remote.size)
            while block := src.read(COPY_BLOCK):
                part.write(block)
        return DownloadResult(remote, local_path, part.sha256, time.perf_counter() - started)
