"""A run whose step waits for its pool's slot sleeps until its next claim instead of spinning a
core (``platform_assets.core.execution.sleep_while_waiting_for_a_pool``), on a real instance
(Dagster's SQLite storage in a temporary ``DAGSTER_HOME``, its pools at limit 1 as the shipped
``dagster.yaml`` sets them).

Another run holds the slot for a few seconds while the waiting run's executor loop is counted
(each turn of Dagster's in-process executor asks for the next step). Sleeping, it turns about
once per claim; spinning, hundreds of thousands of times. Dagster's own behaviour is checked
too: when that test fails, Dagster no longer spins and the fix can go."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.instance_concurrency_context import (
    InstanceConcurrencyContext,
)

from platform_assets.compose import build_definitions
from platform_assets.core import execution
from platform_assets.core.settings import Settings
from platform_assets.defs import VENDOR_SOURCES

HELD = 2.5
"""Seconds the other run holds the slot."""
POOL = "duckdb_warehouse"


@dg.op(pool=POOL)
def write() -> float:
    return time.time()


@dg.job
def waits_for_the_writer() -> None:
    write()


@pytest.fixture
def dagster_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dagster's own wait for the test (whatever was there is put back after it)."""
    assert execution.DAGSTER_WAIT is not execution._seconds_to_next_claim
    monkeypatch.setattr(
        InstanceConcurrencyContext, "interval_to_next_pending_claim_check", execution.DAGSTER_WAIT
    )


@pytest.fixture
def turns(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Each turn of the executor's loop (a call for the next step): its time."""
    seen: list[float] = []
    ask = ActiveExecution.get_next_step

    def counted(self: ActiveExecution):  # type: ignore[no-untyped-def]
        seen.append(time.monotonic())
        return ask(self)

    monkeypatch.setattr(ActiveExecution, "get_next_step", counted)
    yield seen


def _run_behind_a_held_slot() -> tuple[dg.ExecuteInProcessResult, float, float]:
    """The job, its step's pool slot held by another run for :data:`HELD` s: the result, when
    the slot was freed and when the step wrote."""
    overrides = {"concurrency": {"pools": {"default_limit": 1, "granularity": "op"}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(POOL)
        assert storage.claim_concurrency_slot(POOL, "another-run", "load").is_claimed
        freed: list[float] = []

        def free() -> None:
            time.sleep(HELD)
            freed.append(time.time())
            storage.free_concurrency_slots_for_run("another-run")

        holder = threading.Thread(target=free)
        holder.start()
        result = waits_for_the_writer.execute_in_process(instance=instance)
        holder.join()
        return result, freed[0], result.output_for_node("write")


def test_a_step_waiting_for_its_pool_sleeps_until_its_next_claim(dagster_wait, turns):
    execution.sleep_while_waiting_for_a_pool()
    result, freed, wrote = _run_behind_a_held_slot()
    assert result.success
    assert wrote >= freed  # it waited for the slot
    assert wrote - freed < 3  # and took it at its next claim (1 s, then 10% more each)
    assert len(turns) < 30, f"{len(turns)} turns in {HELD} s"


def test_dagster_alone_spins_while_a_step_waits(dagster_wait, turns):
    result, freed, wrote = _run_behind_a_held_slot()
    assert result.success and wrote >= freed
    assert len(turns) > 1000, f"Dagster no longer spins ({len(turns)} turns): drop the fix"


def test_building_the_definitions_installs_the_sleep(dagster_wait):
    build_definitions(VENDOR_SOURCES, Settings.from_env())
    assert (
        InstanceConcurrencyContext.__dict__["interval_to_next_pending_claim_check"]
        is execution._seconds_to_next_claim
    )
