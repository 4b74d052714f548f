"""``make workers``: Celery workers for ``PLATFORM_EXECUTOR=celery`` runs, started with
dagster-celery's own worker command (``dagster-celery worker start -A dagster_celery.app``) and
the executor's own configuration (:mod:`platform_assets.core.execution`), written once as the
workers' YAML. No scheduling of ours: Dagster's run queue and pools decide what runs, Celery
hands each step to a free worker.

Each worker takes one step at a time (``--concurrency 1``) and logs to ``<logs>/<name>.log``.
The machine's workers share one warm dbt (:mod:`platform_assets.models.dbt_server`, as ``make
dev`` starts it): a models step's dbt command runs in a fork of it instead of a new ``dbt``
process (~2 s of imports saved per command; ``--no-warm-dbt`` leaves it out).
Workers on other machines run the same command with the same environment: ``DAGSTER_HOME``
(its instance on PostgreSQL), ``PLATFORM_CELERY_BROKER``, the ``PLATFORM_LAKE_*`` variables and
the vendors' settings (a step loads the definitions from that environment). Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from platform_assets.core.settings import Settings
from platform_assets.models import dbt_server

log = logging.getLogger("platform_assets.workers")


def write_config(settings: Settings, path: Path) -> Path:
    """The workers' YAML (dagster-celery reads ``execution: config:``), from the settings;
    written as JSON, which is YAML."""
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"execution": {"config": settings.execution.celery_config()}}
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def worker_command(config: Path, name: str) -> list[str]:
    """dagster-celery's worker command: one step at a time, named ``name@<host>``."""
    executable = Path(sys.executable).with_name("dagster-celery")
    return [
        str(executable), "worker", "start", "-A", "dagster_celery.app", "-y", str(config),
        "-n", name, "--loglevel", "INFO", "--", "--concurrency", "1",
    ]  # fmt: skip


def start_worker(
    config: Path, name: str, logs: Path, base_env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """One worker in its own process group (stopped as a whole), its output to its log, in
    ``base_env`` (default: this process's environment) with this environment's ``celery`` first
    on its PATH (dagster-celery runs it by name)."""
    logs.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    base = dict(os.environ if base_env is None else base_env)
    env = {**base, "PATH": os.pathsep.join([bin_dir, base.get("PATH", "")])}
    with open(logs / f"{name}.log", "ab") as out:
        return subprocess.Popen(
            worker_command(config, name),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


@contextmanager
def running(
    config: Path,
    count: int,
    logs: Path,
    base_env: Mapping[str, str] | None = None,
    warm_dbt: bool = True,
    stop_seconds: float = 60,
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """``count`` workers (``worker1``...) for the block, by name, with one warm dbt for all of
    them when ``warm_dbt`` (its socket in their ``PLATFORM_DBT_SERVER``, its log
    ``<logs>/dbt-server.log``); after the block, each worker stopped (:func:`stop`, a kill after
    ``stop_seconds``), then the warm dbt."""
    env = dict(os.environ if base_env is None else base_env)
    with ExitStack() as stack:
        if warm_dbt:
            socket_path = stack.enter_context(dbt_server.started(logs / "dbt-server.log"))
            env[dbt_server.SERVER_ENV] = str(socket_path)
        workers: dict[str, subprocess.Popen[bytes]] = {}
        for n in range(1, count + 1):
            name = f"worker{n}"
            workers[name] = start_worker(config, name, logs, env)
            stack.callback(stop, workers[name], stop_seconds)
        yield workers


def stop(worker: subprocess.Popen[bytes], wait: float = 60) -> None:
    """Celery's warm shutdown (the step under way finishes), then a kill after ``wait`` s."""
    if worker.poll() is not None:
        return
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platform_assets.workers")
    parser.add_argument("--count", type=int, default=2, help="workers on this machine")
    parser.add_argument("--dir", type=Path, default=Path("data/workers"), help="config and logs")
    parser.add_argument(
        "--no-warm-dbt", action="store_true", help="each dbt command a new process (no warm dbt)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = Settings.from_env()
    if settings.execution.executor != "celery":
        log.warning("PLATFORM_EXECUTOR is not celery here: runs will not send steps to workers")
    config = write_config(settings, args.dir / "celery.yaml")
    host = socket.gethostname()
    logs = args.dir / "logs"
    with running(config, args.count, logs, warm_dbt=not args.no_warm_dbt) as workers:
        for name, worker in workers.items():
            log.info(f"{name}@{host} (pid {worker.pid}): log {logs / f'{name}.log'}")
        if not args.no_warm_dbt:
            log.info(f"warm dbt for their models steps: log {logs / 'dbt-server.log'}")
        log.info("Ctrl-C stops them (a step under way finishes first)")
        try:
            while all(w.poll() is None for w in workers.values()):
                time.sleep(1)
            log.error("a worker ended: see its log")
            return 1
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
