"""A range's next day loads while the day before it is reported (``one_ahead``): the same items in
the same order, an error in its place after every item before it, never more than one item
computed beyond the one being consumed, and an early stop that ends the loads in their thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from platform_assets.ingest.loader.ahead import one_ahead


class Loads:
    """A generator of days that records what it computed, in which thread, and its close."""

    def __init__(self, days: int, fail_at: int | None = None, seconds: float = 0.0) -> None:
        self.days, self.fail_at, self.seconds = days, fail_at, seconds
        self.computed: list[int] = []
        self.threads: set[str] = set()
        self.closed_in: str | None = None

    def __iter__(self) -> Iterator[int]:
        try:
            for day in range(1, self.days + 1):
                time.sleep(self.seconds)
                self.threads.add(threading.current_thread().name)
                if day == self.fail_at:
                    raise ValueError(f"day {day} failed")
                self.computed.append(day)
                yield day
        finally:
            self.closed_in = threading.current_thread().name


def test_the_same_items_in_order_computed_in_a_thread_of_their_own():
    loads = Loads(5)
    assert list(one_ahead(iter(loads))) == [1, 2, 3, 4, 5]
    assert loads.threads == {"loads-ahead"}
    assert loads.closed_in == "loads-ahead"


def test_an_error_comes_after_every_item_before_it_and_nothing_after_it_is_computed():
    loads = Loads(5, fail_at=3)
    got = []
    with pytest.raises(ValueError, match="day 3 failed"):
        for day in one_ahead(iter(loads)):
            got.append(day)
    assert got == [1, 2]
    assert loads.computed == [1, 2]


def test_at_most_one_item_is_computed_beyond_the_one_being_consumed():
    loads = Loads(6)
    seen = []
    for day in one_ahead(iter(loads)):
        time.sleep(0.05)  # the report: the next day has time to load, the one after it must not
        seen.append((day, list(loads.computed)))
    for day, computed in seen:
        assert computed[-1] <= day + 1, (day, computed)
    assert [c[-1] for _, c in seen[:-1]] == [d + 1 for d, _ in seen[:-1]]  # it did run ahead


def test_overlap_saves_the_consumers_time():
    loads = Loads(6, seconds=0.05)
    started = time.perf_counter()
    for _ in one_ahead(iter(loads)):
        time.sleep(0.05)
    overlapped = time.perf_counter() - started
    assert overlapped < 6 * 0.1 * 0.8  # one after the other: 0.6 s


def test_stopping_early_lets_the_day_in_progress_finish_then_closes_the_loads():
    loads = Loads(10, seconds=0.02)
    iterator = one_ahead(iter(loads))
    assert next(iterator) == 1
    assert next(iterator) == 2
    iterator.close()  # the step interrupted
    assert loads.closed_in == "loads-ahead"  # closed before close() returned
    assert loads.computed in ([1, 2], [1, 2, 3])  # at most the one day loading ahead
