"""Real processes killed at chosen points, for the randomized trials of the outbound promises
(``system/test_outbound_trials.py``: the API; ``system/test_delivery_trials.py``: the uploads)
and the loads killed at 20 moments (``system/test_faults.py``): a forked child that runs a body
and can SIGKILL itself inside it or be killed from outside, and the trials' seed."""

from __future__ import annotations

import gc
import os
import select
import signal
from collections.abc import Callable

SEED = int(os.environ.get("TRIAL_SEED", "20261202"))
"""The first trial's seed (each trial's: this plus its number); a failure names its seed."""
TIME_LIMIT_SECONDS = 600


def die() -> None:
    """SIGKILL this process: a run killed at this point (no clean-up, no ``finally``)."""
    os.kill(os.getpid(), signal.SIGKILL)


class Child:
    """A forked process that runs ``body`` once told to (:meth:`go`), then leaves without Python's
    clean-up; it may SIGKILL itself inside ``body`` (:func:`die`), or be killed from outside.
    Forked from the test's warm process: nothing to import, ready at once. The parent's objects
    are frozen for the fork (``gc.freeze``, as the warm code server does): a child's garbage
    collection would otherwise walk the ~300,000 objects a test worker holds and copy every page
    it touches (0.18 s of CPU per child that collects, 0.007 s frozen)."""

    def __init__(self, body: Callable[[], None]) -> None:
        read, write = os.pipe()
        gc.freeze()
        try:
            pid = os.fork()
        except BaseException:
            gc.unfreeze()
            raise
        if pid == 0:  # the child: wait for the go, run, leave without Python's clean-up
            code = 0
            try:
                os.close(write)
                if os.read(read, 1) == b"g":  # not when the parent ended without a go
                    body()
            except BaseException:  # noqa: BLE001
                import traceback

                traceback.print_exc()
                code = 1
            os._exit(code)
        gc.unfreeze()
        os.close(read)
        self.pid, self._go = pid, write

    def go(self) -> None:
        """Let the child run its body."""
        os.write(self._go, b"g")
        os.close(self._go)

    def kill(self) -> None:
        """SIGKILL the child; back once it is dead (reaped by :meth:`wait`, so its pid is never
        another process's)."""
        os.kill(self.pid, signal.SIGKILL)
        os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)

    def wait(self, timeout: float = 300) -> int:
        """The child's exit status once it has ended (-9: killed); one still running after
        ``timeout`` seconds (a hung child) is killed and named."""
        ended = os.pidfd_open(self.pid)
        try:
            if not select.select([ended], [], [], timeout)[0]:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                raise TimeoutError(f"the forked child {self.pid} ran past {timeout:.0f} s")
        finally:
            os.close(ended)
        _, status = os.waitpid(self.pid, 0)
        return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def forked(body: Callable[[], None], armed: Callable[[int], None] = lambda pid: None) -> int:
    """Run ``body`` in a forked :class:`Child` (after ``armed(pid)``); its exit status."""
    child = Child(body)
    armed(child.pid)
    child.go()
    return child.wait()
