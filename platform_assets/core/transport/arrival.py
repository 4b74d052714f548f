"""A file while it arrives: the download writes it block by block and says how far it got; a
reader (DuckDB, through :class:`ArrivingFiles`) reads what has arrived and waits for the rest.

The loader validates a file while it downloads with this (stage 3 overlapping stage 1). The
arrival is only ever a head start: a download that restarts (a retry writes a new part file)
or fails makes every reader fail, and the loader then waits for the complete file and reads that.
"""

from __future__ import annotations

import io
import itertools
import threading
from pathlib import Path
from typing import Any

from fsspec import AbstractFileSystem

PROTOCOL = "arriving"


class ArrivalBroken(OSError):
    """The download restarted or failed: what a reader saw may not be the file."""


class Arrival:
    """How far a file's download has written its part file (thread-safe)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._path: Path | None = None
        self._size = 0
        self._written = 0
        self._attempts = 0
        self._state = "waiting"  # waiting -> arriving -> done | broken

    # -- the download's side --------------------------------------------------------------

    def begin(self, part: Path, size: int) -> None:
        """The download (re)starts writing ``part``, ``size`` bytes long; a second start breaks
        the arrival (its readers saw the first attempt's bytes)."""
        with self._cond:
            self._attempts += 1
            if self._attempts > 1 or self._state != "waiting":
                self._state = "broken"
            else:
                self._path, self._size, self._state = part, size, "arriving"
            self._cond.notify_all()

    def advance(self, written: int) -> None:
        """``written`` more bytes are in the part file (written through, not buffered)."""
        with self._cond:
            self._written += written
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            if self._state == "arriving" and self._written == self._size:
                self._state = "done"
            elif self._state != "done":
                self._state = "broken"
            self._cond.notify_all()

    def fail(self) -> None:
        with self._cond:
            if self._state != "done":
                self._state = "broken"
            self._cond.notify_all()

    # -- the reader's side ----------------------------------------------------------------

    @property
    def intact(self) -> bool:
        """Every byte a reader saw is the downloaded file's (so far, or done)."""
        with self._cond:
            return self._state in ("arriving", "done")

    def wait_started(self, timeout: float) -> bool:
        """Wait until the part file exists (or the arrival is over); True if it is arriving."""
        with self._cond:
            self._cond.wait_for(lambda: self._state != "waiting", timeout)
            return self._state in ("arriving", "done")

    @property
    def size(self) -> int:
        with self._cond:
            return self._size

    def wait_past(self, offset: int) -> int:
        """Block until some byte past ``offset`` has arrived; how many bytes have.
        :class:`ArrivalBroken` if it never will."""
        with self._cond:
            self._cond.wait_for(lambda: self._written > offset or self._state == "broken")
            if self._state == "broken":
                raise ArrivalBroken("the download restarted or failed")
            return self._written

    def open(self) -> io.BufferedReader:
        """A seekable reader of the file, blocking on bytes not yet arrived."""
        with self._cond:
            if self._path is None or self._state == "broken":
                raise ArrivalBroken("the download has not started or is broken")
            path = self._path
        return io.BufferedReader(_ArrivingReader(self, path), buffer_size=1 << 20)


class _ArrivingReader(io.RawIOBase):
    def __init__(self, arrival: Arrival, path: Path) -> None:
        super().__init__()
        self._arrival = arrival
        self._file = path.open("rb")  # the part file; a rename later keeps this open file
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._arrival.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._arrival.size:
            return 0
        arrived = self._arrival.wait_past(self._pos)  # what has arrived: a short read is fine
        want = min(len(buffer), arrived - self._pos)
        self._file.seek(self._pos)
        got = self._file.readinto(memoryview(buffer)[:want])
        self._pos += got
        return got

    def close(self) -> None:
        self._file.close()
        super().close()


class ArrivingFiles(AbstractFileSystem):
    """Arrivals as an fsspec filesystem (``arriving://<n>``), which DuckDB reads through
    (``register_filesystem``): sizes from the download's server stat, bytes as they arrive."""

    protocol = PROTOCOL
    cachable = False

    def __init__(self) -> None:
        super().__init__()
        self._arrivals: dict[str, Arrival] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, arrival: Arrival, suffix: str) -> str:
        """Register ``arrival``; the URL DuckDB reads it by (``suffix``: its file's name)."""
        with self._lock:
            key = f"{next(self._numbers)}-{suffix}"
            self._arrivals[key] = arrival
        return f"{PROTOCOL}://{key}"

    def remove(self, url: str) -> None:
        with self._lock:
            self._arrivals.pop(self._strip_protocol(url), None)

    def _arrival(self, path: str) -> Arrival:
        with self._lock:
            found = self._arrivals.get(self._strip_protocol(path))
        if found is None:
            raise FileNotFoundError(path)
        return found

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return str(path).removeprefix(f"{PROTOCOL}://").strip("/")

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        arrival = self._arrival(path)
        return {"name": self._strip_protocol(path), "size": arrival.size, "type": "file"}

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        info = self.info(path)
        return [info] if detail else [info["name"]]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> io.BufferedReader:
        if mode != "rb":
            raise PermissionError(f"{path}: an arriving file is read only")
        return self._arrival(path).open()
