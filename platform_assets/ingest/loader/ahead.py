"""A range's next day loads while the day before it is reported.

Reporting a committed day to Dagster (its materializations, checks and observation: five events,
~3 ms each on the shipped SQLite storage, and the latest materialization read back) is Python
work that holds the GIL; a day's load is mostly DuckDB's, which releases it. :func:`one_ahead`
runs the loads in a thread of their own, at most one day ahead of the reporting: the next day
loads while the step yields the events of the day before. What a range run guarantees does not
change: days commit in order, each in its own transaction; a failing day's error comes after the
reports of every day before it, and no day after it is loaded.

Stopping early (the step interrupted, or a report failing) lets the day being loaded finish, then
ends the loads (their connections closed, their downloads discarded) before the step ends. That
day may then be committed and not yet reported, as when a run is killed after a commit: a retry
finds it in the load records and does not load it again (:mod:`.records`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


def one_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items`` in order, each computed in a thread while the one before it is consumed; an
    exception of ``items`` raised in its place. Closing this iterator lets the item being
    computed finish, then closes ``items`` (in its thread) before returning."""
    done: queue.Queue[tuple[bool, object]] = queue.Queue()
    permit = threading.Semaphore(1)  # one item computed beyond the one being consumed
    stop = threading.Event()

    def produce() -> None:
        try:
            while True:
                permit.acquire()
                if stop.is_set():
                    return
                try:
                    item = next(items)
                except StopIteration:
                    done.put((False, StopIteration()))
                    return
                except BaseException as exc:  # noqa: BLE001 - handed to the consumer, in order
                    done.put((False, exc))
                    return
                done.put((True, item))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="loads-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, value = done.get()
            if not ok:
                if isinstance(value, StopIteration):
                    return
                assert isinstance(value, BaseException)
                raise value
            permit.release()  # the next item starts while this one is consumed
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        permit.release()
        thread.join()
