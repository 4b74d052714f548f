"""Where a run's steps execute (``PLATFORM_EXECUTOR``), stated once for the code location and
for the Celery workers (``make workers``), which must agree on the broker and on how a step's
message is handed over.

- ``in_process`` (the default): every step in the run's own process. The DuckDB file has one
  writer at a time, so a process per step would only add its start-up.
- ``multiprocess``: Dagster's process per step, on one machine; on a lake the steps of different
  tables write at once (each takes its table's pool).
- ``celery``: dagster-celery's executor; the steps go through the broker (Redis) to Celery
  workers on any machine that sees the same instance (PostgreSQL), lake and broker. Dagster's
  pools still hold: the run claims a step's pool slot before it sends the step.

A step waiting for its pool's slot sleeps until its next claim
(:func:`sleep_while_waiting_for_a_pool`): Dagster 1.13's in-process executor would spin a core.

A worker that dies mid-step must give its step back, not lose it: a step's message is
acknowledged when the step ends (``task_acks_late``), a worker's process that dies hands its
message back at once (``task_reject_on_worker_lost``), and a worker that vanishes whole gives it
back after Redis's visibility timeout (``PLATFORM_CELERY_VISIBILITY_TIMEOUT``), when another
worker runs the step again. Each load is one transaction, so the step that died left its table
as it was.

The workers look for such messages every :func:`restore_sweep_seconds`: kombu's Redis transport
otherwise looks every 10 s but scans only on every tenth look, so a message could wait up to
~100 s past its timeout (celery/kombu#2558; kombu 5.7's ``unacked_restore_*`` options).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.execution.plan.instance_concurrency_context import (
    InstanceConcurrencyContext,
)

from platform_assets.core.errors import SettingsError

EXECUTORS = ("in_process", "multiprocess", "celery")
BROKER = "PLATFORM_CELERY_BROKER"
BACKEND = "PLATFORM_CELERY_BACKEND"
VISIBILITY_TIMEOUT = "PLATFORM_CELERY_VISIBILITY_TIMEOUT"
DEFAULT_VISIBILITY_TIMEOUT = 7200
"""Two hours: longer than any step (a 31-day range of 1 GB files loads in about 20 minutes)."""
NETWORK_TIMEOUT = 30
"""Seconds to connect to the broker, and between a worker's heartbeats."""


def restore_sweep_seconds(visibility_timeout: int) -> int:
    """How often a worker looks for messages past their visibility timeout (one Redis query):
    every 10 s, or a quarter of the timeout when that is shorter. A dead worker's step starts
    again at most this long after its timeout."""
    return max(1, min(10, visibility_timeout // 4))


@dataclass(frozen=True)
class ExecutionSettings:
    """The executor of every job, and what the Celery workers need to agree with it."""

    executor: str = "in_process"
    backend_variable: str = BROKER
    """The variable of the Celery result backend: ``PLATFORM_CELERY_BACKEND`` when set, else
    the broker's."""
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ExecutionSettings:
        executor = (env.get("PLATFORM_EXECUTOR") or "in_process").lower()
        if executor not in EXECUTORS:
            raise SettingsError(f"PLATFORM_EXECUTOR must be one of {EXECUTORS}, got {executor!r}")
        if executor == "celery" and not env.get(BROKER):
            raise SettingsError(
                f"PLATFORM_EXECUTOR=celery needs {BROKER} (e.g. redis://host:6379/0)"
            )
        raw = env.get(VISIBILITY_TIMEOUT) or str(DEFAULT_VISIBILITY_TIMEOUT)
        if not raw.isdigit() or int(raw) < 1:
            raise SettingsError(
                f"{VISIBILITY_TIMEOUT} must be a whole number of seconds, got {raw!r}"
            )
        return cls(
            executor=executor,
            backend_variable=BACKEND if env.get(BACKEND) else BROKER,
            visibility_timeout=int(raw),
        )

    def celery_config(self) -> dict[str, Any]:
        """dagster-celery's executor config, the same for the runs and for the workers
        (``execution: config:`` of the workers' YAML). Broker and backend as ``{"env": ...}``:
        their passwords stay in the environment."""
        return {
            "broker": {"env": BROKER},
            "backend": {"env": self.backend_variable},
            "config_source": {
                "task_acks_late": True,
                "task_reject_on_worker_lost": True,
                "worker_prefetch_multiplier": 1,
                "broker_connection_timeout": NETWORK_TIMEOUT,
                "broker_heartbeat": NETWORK_TIMEOUT,
                "broker_transport_options": {
                    "visibility_timeout": self.visibility_timeout,
                    "unacked_restore_interval": restore_sweep_seconds(self.visibility_timeout),
                    "unacked_restore_throttle": 1,  # every look scans
                    "socket_connect_timeout": NETWORK_TIMEOUT,
                    "socket_timeout": NETWORK_TIMEOUT,
                },
                "result_backend_transport_options": {
                    "socket_connect_timeout": NETWORK_TIMEOUT,
                },
            },
        }

    def executor_def(self) -> dg.ExecutorDefinition:
        """The executor of every job of the code location."""
        if self.executor == "celery":
            from dagster_celery import celery_executor  # the `scale` extra

            return celery_executor.configured(self.celery_config(), name="celery")
        if self.executor == "multiprocess":
            return dg.multiprocess_executor
        return dg.in_process_executor


DAGSTER_WAIT = InstanceConcurrencyContext.interval_to_next_pending_claim_check
"""Dagster's own method, as this module found it (the test that checks it still spins)."""


def sleep_while_waiting_for_a_pool() -> None:
    """Make a run's process sleep, not spin, while a step waits for its pool's slot.

    Dagster 1.13's in-process executor sleeps between claims for as long as
    ``InstanceConcurrencyContext.interval_to_next_pending_claim_check`` says, and that returns
    ``min([0, *seconds_to_each_next_claim])``: 0 whenever the next claim is still ahead. The
    run's process then loops without sleeping until the slot frees, at 100% of a core (measured:
    9.7 CPU-s in a 9.8 s wait; dagster-io/dagster#20367 describes it). Every load here takes the
    writer pool (limit 1), so runs queued behind a load spent the cores the load needed: on 2
    cores, three waiting runs beside one writing.

    This replaces it with the seconds to the earliest next claim, never negative. When a step
    claims again (Dagster's back-off: 1 s, growing by 10% a claim up to 15 s), and so when it
    gets the slot, is unchanged. Called when the definitions are built (:func:`platform_assets.
    compose.build_definitions`): in every process that executes the code location's runs."""
    InstanceConcurrencyContext.interval_to_next_pending_claim_check = _seconds_to_next_claim  # type: ignore[method-assign]


def _seconds_to_next_claim(self: InstanceConcurrencyContext) -> float:
    pending = self._pending_timeouts  # the step keys waiting for a slot: when each claims again
    if not self._pending_claims or not pending:
        return 0.0
    return max(0.0, min(pending.values()) - time.time())
