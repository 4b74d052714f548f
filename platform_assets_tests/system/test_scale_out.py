"""The platform scaled out, for real: PostgreSQL (the instance and the lake's catalog), Redis (the
broker), the daemon's run queue, two Celery workers and their warm dbt started by ``make
workers``'s code, and the warehouse on DuckLake. Ten days of every table are loaded through them
(one run per source, its tables as steps on the workers) and the models built, while one worker
is killed mid-step.

Checked: every table and model equals the same load done on the embedded default (in-process
runs into a DuckDB file, in a process of its own beside the deployment), row for row; loads of
different tables overlapped in time (their steps' events); the killed worker's table was, right
after the kill, either as before or fully loaded; its step ran again on the other worker, within
the visibility timeout and one sweep of the workers, and the run succeeded; no pool slot is held;
the models' dbt commands ran in the workers' warm dbt.

Needs the lake's install (``make test-lake``); slow (a deployment of six kinds of process).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from platform_assets.compose import build_definitions
from platform_assets.core.execution import restore_sweep_seconds
from platform_assets.core.settings import Settings
from platform_assets.core.warehouse import Warehouse
from platform_assets.defs import VENDOR_SOURCES
from platform_assets.models import dbt_server
from platform_assets_tests import scaleout
from platform_assets_tests.postgres import postgres_server
from platform_assets_tests.redis import redis_server
from platform_assets_tests.warehouses import reading

pytestmark = [pytest.mark.slow, pytest.mark.lake]

FIRST = dt.date(2026, 9, 1)
DAYS = 10
LAST = FIRST + dt.timedelta(days=DAYS - 1)
ROWS = 200
VISIBILITY_TIMEOUT = 20
"""Seconds before Redis gives the killed worker's step to the other (every step here is
shorter: a step still running then would be handed out twice)."""
PER_LOAD = {"__loaded_at", "loaded_at"}
"""Columns that differ between two loads of the same file: when it was written (the vendor
tables' lineage column, and the staging views' name for it)."""


def test_ten_days_on_two_celery_workers_and_the_lake_equal_the_embedded_default(sshd, tmp_path):
    remote = sshd.remote_dir / f"scale_out_{os.getpid()}"
    remote.mkdir()
    scaleout.generate(remote, FIRST, DAYS, ROWS)
    env = scaleout.vendor_env(sshd, remote, FIRST)
    # the reference, in a process of its own beside the deployment (its ~25 s of in-process runs
    # overlap the deployment's waits on workers, queue and broker)
    reference = str(tmp_path / "default" / "warehouse.duckdb")
    with (
        _spawned(_embedded_default, Path(reference).parent, env) as embedded,
        postgres_server() as postgres,
        redis_server() as redis,
        scaleout.cluster(
            tmp_path / "scaled", env, postgres, redis, workers=2,
            visibility_timeout=VISIBILITY_TIMEOUT,
        ) as deployment,
        deployment.instance() as instance,
    ):  # fmt: skip
        loads = deployment.launch_all(
            instance,
            [(job, scaleout.range_tags(FIRST, LAST, app)) for job, app in scaleout.LOAD_JOBS],
        )
        victim, step = _kill_the_worker_of_a_step(deployment, instance, loads[1])
        killed_at = time.time()
        table = _table_of(step)
        right_after = _rows(deployment.warehouse, table)
        load_runs = deployment.wait(instance, loads, timeout=900)
        # the day groups, then the full rebuilds over them (as their automation orders them)
        days = deployment.launch_all(
            instance,
            [(job, scaleout.range_tags(FIRST, LAST, None)) for job in scaleout.MODEL_JOBS[:2]],
        )
        model_runs = deployment.wait(instance, days, timeout=900)
        full = deployment.launch_all(instance, [(scaleout.MODEL_JOBS[2], {})])
        model_runs += deployment.wait(instance, full, timeout=900)

        assert [r.status for r in load_runs + model_runs] == [dg.DagsterRunStatus.SUCCESS] * 8, (
            _failures(instance, load_runs + model_runs)
        )
        # the killed step: sent again, to the other worker, after the broker's timeout and
        # within one sweep of the workers (kombu's own sweep could wait ~100 s more)
        workers = _workers_of(instance, loads[1], step)
        assert len(workers) == 2, workers
        (first, _), (second, again) = workers
        assert first.startswith(victim) != second.startswith(victim), workers
        sweep = restore_sweep_seconds(VISIBILITY_TIMEOUT)
        assert again - killed_at < VISIBILITY_TIMEOUT + sweep + 10, again - killed_at
        # the models steps' dbt ran in the workers' warm dbt (`make workers` starts it), as
        # forks of it: one `dbt build` per model run, none a new dbt process
        assert deployment.worker_logs is not None
        assert _warm_commands(deployment.worker_logs / "dbt-server.log") == ["build"] * 3
        # every pool slot given back: the killed step's included
        storage = instance.event_log_storage
        for pool in storage.get_concurrency_keys():
            info = storage.get_concurrency_info(pool)
            assert info.active_slot_count == 0 and info.pending_step_count == 0, pool
        # loads of different tables ran at once, on the two workers
        spans = _step_spans(instance, loads)
        assert any(
            a != b and sa < eb and sb < ea
            for a, (sa, ea) in spans.items()
            for b, (sb, eb) in spans.items()
        ), spans
        # the lake equals the embedded default: every table (rejects included) and every model
        embedded.join(timeout=600)
        assert embedded.exitcode == 0, f"the embedded default's runs: exit {embedded.exitcode}"
        assert _warm_commands(Path(reference).parent / "dbt-server.log") == ["build"] * 3
        names = _relations(reference)
        assert len([n for n in names if n.startswith(("marts.", "identity."))]) >= 6
        assert len(names) >= 15 + 10
        differ = [n for n in names if _rows(deployment.warehouse, n) != _rows(reference, n)]
        assert differ == []
    # right after the kill, the table was as before (nothing) or fully loaded
    assert right_after in (Counter(), _rows(reference, table))


@contextmanager
def _spawned(target: Callable[..., None], *args: object) -> Iterator[BaseProcess]:
    """``target(*args)`` in a spawned process (nothing of this one's state but its arguments),
    killed on leaving if it is still running (the test failed before it was joined)."""
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    try:
        yield process
    finally:
        if process.is_alive():
            process.kill()
            process.join(timeout=30)


def _embedded_default(work: Path, env: dict[str, str]) -> None:
    """Every load job over the days and the models (their dbt in a warm dbt, as ``make demo``
    runs it), run in-process into a DuckDB file in ``work``: the embedded default's result, the
    reference (the body of a spawned process: its environment is the deployment's vendors and
    this folder, no other ``PLATFORM_`` setting)."""
    for name in [n for n in os.environ if n.startswith("PLATFORM_")]:
        del os.environ[name]
    os.environ.update(
        env,
        DUCKDB_PATH=str(work / "warehouse.duckdb"),
        RAW_ARCHIVE_DIR=str(work / "raw"),
        PLATFORM_WORK_DIR=str(work / "staging"),
    )
    loads = [(job, scaleout.range_tags(FIRST, LAST, app)) for job, app in scaleout.LOAD_JOBS]
    models = [
        (job, scaleout.range_tags(FIRST, LAST, None) if job != "models_full_job" else {})
        for job in scaleout.MODEL_JOBS
    ]
    # the models' dbt commands in a warm dbt, as `make demo` runs them (three new dbt processes
    # cost ~18 CPU-s beside the deployment; the server's start and three forks, ~11)
    with (
        dbt_server.started(work / "dbt-server.log") as warm_dbt,
        dg.DagsterInstance.ephemeral() as instance,
    ):
        os.environ[dbt_server.SERVER_ENV] = str(warm_dbt)
        defs = build_definitions(VENDOR_SOURCES, Settings.from_env())

        def run(job: str, tags: dict[str, str]) -> None:
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, tags=tags, raise_on_error=False
            )
            assert result.success, job

        for job, tags in loads:
            run(job, tags)
        assert dbt_server.ready(warm_dbt), "the warm dbt did not start"
        for job, tags in models:
            run(job, tags)


def _warm_commands(log: Path) -> list[str]:
    """The dbt commands a warm dbt ran as forks of itself, from its log's ``warm dbt: <command>
    in pid <n>`` lines."""
    return re.findall(r"^warm dbt: (\w+) in pid", log.read_text(errors="replace"), re.M)


def _failures(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> list[str]:
    """What failed in ``runs``: each failed step's or run's error."""
    failed = []
    for run in runs:
        for event in instance.all_logs(run.run_id):
            if event.dagster_event is not None and event.dagster_event.is_failure:
                data = event.dagster_event.event_specific_data
                error = getattr(data, "error", None)
                failed.append(f"{run.job_name} {event.step_key}: {error or event.message}"[:3000])
    return failed


def _kill_the_worker_of_a_step(
    deployment: scaleout.Cluster, instance: dg.DagsterInstance, run_id: str
) -> tuple[str, str]:
    """Kill the worker as soon as it starts a step of ``run_id``: (its name, the step)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            metadata = event.dagster_event.engine_event_data.metadata if event.dagster_event else {}
            worker = metadata.get("Celery worker")
            if worker is None or event.step_key is None:
                continue
            name = str(worker.value).split("@")[0]
            deployment.kill_worker(name)
            return name, event.step_key
        time.sleep(0.05)
    raise TimeoutError("no step of the run reached a worker")


def _workers_of(instance: dg.DagsterInstance, run_id: str, step: str) -> list[tuple[str, float]]:
    """The workers that started ``step``, in order, and when."""
    return [
        (str(e.dagster_event.engine_event_data.metadata["Celery worker"].value), e.timestamp)
        for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
        if e.step_key == step
        and e.dagster_event is not None
        and "Celery worker" in e.dagster_event.engine_event_data.metadata
    ]


def _step_spans(instance: dg.DagsterInstance, run_ids: list[str]) -> dict[str, tuple[float, float]]:
    """Each step's last start and its success, from the runs' events."""
    spans: dict[str, tuple[float, float]] = {}
    for run_id in run_ids:
        starts: dict[str, float] = {}
        for event in instance.all_logs(run_id):
            kind = event.dagster_event.event_type if event.dagster_event else None
            if kind == dg.DagsterEventType.STEP_START and event.step_key:
                starts[event.step_key] = event.timestamp
            elif kind == dg.DagsterEventType.STEP_SUCCESS and event.step_key:
                spans[event.step_key] = (starts[event.step_key], event.timestamp)
    return spans


def _table_of(step: str) -> str:
    """The table a load step writes (its asset key, ``schema__table``)."""
    schema, table = step.split("__", 1)
    return f"{schema}.{table}"


def _relations(warehouse: str) -> list[str]:
    """The reference's tables and views, but the platform's journals and the brand's own."""
    with duckdb.connect(warehouse, read_only=True) as con:
        return [
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() "
                "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
                "WHERE NOT internal AND schema_name NOT IN ('information_schema', 'pg_catalog') "
                "ORDER BY ALL"
            ).fetchall()
            if s not in ("platform", "main")
        ]


def _rows(warehouse: str | Warehouse, name: str) -> Counter:
    """The relation's rows as a multiset, without the per-load columns (none if missing)."""
    schema, table = name.split(".")
    with reading(warehouse) as con:
        found = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = $s AND table_name = $t ORDER BY column_index",
            {"s": schema, "t": table},
        ).fetchall()
        columns = [c for (c,) in found if c not in PER_LOAD]
        if not columns:
            return Counter()
        select = ", ".join(f'"{c}"' for c in columns)
        return Counter(con.execute(f'SELECT {select} FROM "{schema}"."{table}"').fetchall())
