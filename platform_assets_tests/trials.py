"""Real processes killed at chosen points, for the randomized trials of the outbound promises
(``system/test_outbound_trials.py``: the API; ``system/test_delivery_trials.py``: the uploads):
a forked child that runs a body and can SIGKILL itself inside it, and the trials' seed."""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Callable

SEED = int(os.environ.get("TRIAL_SEED", "20261202"))
"""The first trial's seed (each trial's: this plus its number); a failure names its seed."""
TIME_LIMIT_SECONDS = 600


def die() -> None:
    """SIGKILL this process: a run killed at this point (no clean-up, no ``finally``)."""
    os.kill(os.getpid(), signal.SIGKILL)


def forked(body: Callable[[], None], armed: Callable[[int], None] = lambda pid: None) -> int:
    """Run ``body`` in a forked process (after ``armed(pid)``); its exit status (-9: killed).
    The parent's objects are frozen for the fork (``gc.freeze``, as the warm code server does):
    a child's garbage collection would otherwise walk the ~300,000 objects a test worker holds
    and copy every page it touches (0.18 s of CPU per child that collects, 0.007 s frozen)."""
    read, write = os.pipe()
    gc.freeze()
    try:
        pid = os.fork()
    except BaseException:
        gc.unfreeze()
        raise
    if pid != 0:
        gc.unfreeze()
    if pid == 0:  # the child: wait for the go, run, leave without Python's clean-up
        code = 0
        try:
            os.close(write)
            os.read(read, 1)
            body()
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    os.close(read)
    armed(pid)
    os.write(write, b"g")
    os.close(write)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
