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

A worker that dies mid-step must give its step back, not lose it: a step's message is
acknowledged when the step ends (``task_acks_late``), a worker's process that dies hands its
message back at once (``task_reject_on_worker_lost``), and a worker that vanishes whole gives it
back after Redis's visibility timeout (``PLATFORM_CELERY_VISIBILITY_TIMEOUT``), when another
worker runs the step again. Each load is one transaction, so the step that died left its table
as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from platform_assets.core.errors import SettingsError

EXECUTORS = ("in_process", "multiprocess", "celery")
BROKER = "PLATFORM_CELERY_BROKER"
BACKEND = "PLATFORM_CELERY_BACKEND"
VISIBILITY_TIMEOUT = "PLATFORM_CELERY_VISIBILITY_TIMEOUT"
DEFAULT_VISIBILITY_TIMEOUT = 7200
"""Two hours: longer than any step (a 31-day range of 1 GB files loads in about 20 minutes)."""
NETWORK_TIMEOUT = 30
"""Seconds to connect to the broker, and between a worker's heartbeats."""


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
