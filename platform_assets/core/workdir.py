"""Private work folders of loads, and the sweep that removes those of dead runs.

A load's download, inflated file and DuckDB spill files live in a folder of their own under the
work dir (``PLATFORM_WORK_DIR``, else the system's temporary folder), removed when the load ends.
A run killed with SIGKILL cannot remove it: each folder therefore holds an exclusive ``flock`` on
its ``.owner`` file for as long as its load runs. The kernel releases the lock when the process
dies, however it dies, so a folder whose lock can be taken belongs to nobody: :func:`sweep`
(called before every new work folder is made) removes it. No PID is trusted (PIDs are reused).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PREFIXES = ("platform-load-", "platform-history-", "platform-delivery-", "platform-api-")
OWNER = ".owner"
GRACE_SECONDS = 60.0
"""A folder without its owner file yet (being created) is left alone this long."""


@dataclass
class WorkFolder:
    """A work folder and the lock that says its load is alive."""

    path: Path
    _fd: int | None

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)  # after the removal: never a moment unowned with files in it
            self._fd = None


def base_dir(work_dir: str | None) -> Path:
    base = Path(work_dir) if work_dir else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    return base


def new_work_folder(work_dir: str | None, kind: str = "load") -> WorkFolder:
    """Sweep the dead runs' folders, then make a folder owned (locked) by this process."""
    base = base_dir(work_dir)
    sweep(base)
    path = Path(tempfile.mkdtemp(prefix=f"platform-{kind}-", dir=base))
    # locked under another name, then renamed: a sweep (another thread's, or process's) never
    # finds the owner file unlocked, so never takes a folder being made for a dead one's
    fd = os.open(path / f"{OWNER}-new", os.O_CREAT | os.O_WRONLY, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.rename(path / f"{OWNER}-new", path / OWNER)
    return WorkFolder(path, fd)


def sweep(base: Path) -> list[Path]:
    """Remove the work folders under ``base`` whose load is dead (their owner lock is free).
    Returns the folders removed."""
    removed = []
    for folder in base.iterdir():
        if not folder.name.startswith(PREFIXES) or not folder.is_dir():
            continue
        try:
            fd = os.open(folder / OWNER, os.O_WRONLY)
        except FileNotFoundError:
            if _age(folder) > GRACE_SECONDS:  # made, never owned: its maker died at once
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live load holds it
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)
        removed.append(folder)
    for folder in removed:
        logger.warning("removed the work folder of a dead load: %s", folder)
    return removed


def _age(folder: Path) -> float:
    try:
        return time.time() - folder.stat().st_mtime
    except OSError:
        return 0.0
