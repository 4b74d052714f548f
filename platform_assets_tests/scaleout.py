"""The platform deployed as it scales out, on one machine, for the scale-out test and ``make
bench-scale``: a Dagster instance (PostgreSQL storage, or the shipped SQLite one), its daemon
(the queued run coordinator, pools, run monitoring of the shipped ``dagster.yaml``), the
warehouse (a DuckDB file or a DuckLake with its catalog in PostgreSQL), and, for
``PLATFORM_EXECUTOR=celery``, Redis and N workers started by ``platform_assets.workers`` (the
``make workers`` code). The instance is migrated, the models' sensor stopped and the runs
launched as the ``dagster`` commands do it, by their own functions in this process
(:mod:`platform_assets_tests.dagster_cli`), over the deployment's workspace: no process per
command importing Dagster beside the deployment's first steps. Runs are queued, dequeued by the
daemon, their steps sent to the workers.

The vendor files are the demo generator's, one day of every table written once and moved to
each date (every day has its own keys and timestamps), served by the real sshd.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import yaml  # type: ignore[import-untyped]  # (PyYAML: Dagster's; no stubs here)

from platform_assets.core.partitions import partition_key_for
from platform_assets.core.warehouse import Warehouse
from platform_assets.demo.serve import code_server
from platform_assets.workers import running, write_config
from platform_assets_tests import dagster_cli as cli
from platform_assets_tests.postgres import PostgresServer
from platform_assets_tests.redis import RedisServer
from platform_assets_tests.sshd import SshServer
from platform_assets_tests.warehouses import lake_env, new_lake

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
APPS = {"ios": "member_id", "android": "client_ref"}
VENDOR_FOLDERS = {
    "ATTENTIVE": "attentive",
    "POSTSCRIPT": "postscript",
    "ASAPP": "asapp/out",
    "ACCENGAGE": "accengage",
}
LOAD_JOBS = [
    ("attentive_daily_job", None),
    ("postscript_daily_job", None),
    ("asapp_daily_job", None),
    *(("accengage_daily_job", app) for app in APPS),
]
"""One run per source (Accengage: per app) loads every table of it over the days."""
MODEL_JOBS = ["models_daily_job", "models_app_daily_job", "models_full_job"]


def generate(remote: Path, first: dt.date, days: int, rows: int) -> dict[str, int]:
    """Day one from the demo's generator, the other days copied with their dates moved."""
    from platform_assets.demo.samples import write_attentive_day
    from platform_assets.demo.vendor_samples import write_vendor_day

    template = remote / "template"
    written = write_vendor_day(template, first, first, rows=rows)
    written += write_attentive_day(template / "attentive", first, rows, rows)
    total = 0
    for n in range(days):
        day = first + dt.timedelta(days=n)
        for path in written:
            folder = remote / path.parent.relative_to(template)
            folder.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            for fmt in ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y"):
                data = data.replace(first.strftime(fmt).encode(), day.strftime(fmt).encode())
            target = folder / path.name.replace(first.strftime("%Y%m%d"), day.strftime("%Y%m%d"))
            target.write_bytes(data)
            total += len(data)
    shutil.rmtree(template)
    for folder in [remote, *remote.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o755)
    return {"files_per_day": len(written), "bytes": total}


def vendor_env(sshd: SshServer, remote: Path, first: dt.date) -> dict[str, str]:
    """The settings of every vendor source on ``remote`` (the generator's folders)."""
    env: dict[str, str] = {}
    auth = "password" if sshd.password else "ed25519"
    for prefix, folder in VENDOR_FOLDERS.items():
        env.update(sshd.env(prefix, auth))
        env[f"{prefix}_SFTP_REMOTE_DIR"] = str(remote / folder)
    env.update(
        PLATFORM_START_DATE=first.isoformat(),
        ACCENGAGE_APP_IDS=",".join(APPS),
        ACCENGAGE_MEMBER_ID_COLUMNS=",".join(f"{a}={c}" for a, c in APPS.items()),
        ASAPP_CUSTOMER_ID_HASH="md5",
        PLATFORM_PII_KEY="scale-out-test-key-0123456789abcdef",
    )
    return env


def range_tags(first: dt.date, last: dt.date, app: str | None) -> dict[str, str]:
    """The tags of one run over ``first`` to ``last`` (of ``app``'s partitions)."""
    return {
        "dagster/asset_partition_range_start": str(partition_key_for(first, app)),
        "dagster/asset_partition_range_end": str(partition_key_for(last, app)),
    }


@dataclass
class Cluster:
    """A running deployment: its environment, instance folder, daemon and workers."""

    env: dict[str, str]
    home: Path
    workspace: Path
    warehouse: str | Warehouse
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    worker_logs: Path | None = None

    def launch_all(
        self, instance: dg.DagsterInstance, runs: list[tuple[str, dict[str, str]]]
    ) -> list[str]:
        """Queue runs of ``(job, tags)`` as ``dagster job launch -w workspace -j job --tags ...``
        does (in this process, ``instance`` from :meth:`instance`); their ids."""
        return [cli.launch(instance, self.workspace, job, tags) for job, tags in runs]

    def wait(
        self, instance: dg.DagsterInstance, run_ids: list[str], timeout: float
    ) -> list[dg.DagsterRun]:
        """The runs once all have finished (success, failure or canceled), in ``run_ids``'s
        order. One query per look (dagster-postgres opens a connection per call)."""
        deadline = time.monotonic() + timeout
        while True:
            found = {r.run_id: r for r in instance.get_runs(dg.RunsFilter(run_ids=run_ids))}
            runs = [found[r] for r in run_ids if r in found]
            if len(runs) == len(run_ids) and all(r.is_finished for r in runs):
                return runs
            if time.monotonic() > deadline:
                states = [(r.job_name, str(r.status)) for r in runs]
                raise TimeoutError(f"runs did not finish in {timeout:.0f} s: {states}")
            time.sleep(0.5)

    def kill_worker(self, name: str) -> None:
        """SIGKILL to the worker's whole process group: no warm shutdown, no goodbye."""
        worker = self.workers[name]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)

    @contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        """The deployment's instance, read from this process."""
        with cli.deployment_instance(self.env) as instance:
            yield instance


@contextmanager
def cluster(
    work: Path,
    base_env: dict[str, str],
    postgres: PostgresServer | None,
    redis: RedisServer | None = None,
    workers: int = 0,
    backend: str = "ducklake",
    executor: str = "celery",
    visibility_timeout: int = 7200,
) -> Iterator[Cluster]:
    """The deployment in ``work``: instance on ``postgres`` (None: the shipped SQLite storage),
    the warehouse ``backend``, ``executor`` with ``workers`` Celery workers on ``redis``."""
    home = work / "dagster_home"
    home.mkdir(parents=True)
    shipped = REPO / "dagster_home"
    config = yaml.safe_load((shipped / "dagster.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "PLATFORM_"))}
    env.update(base_env)
    if postgres is not None:
        storage = yaml.safe_load((shipped / "storage-postgres.yaml").read_text())
        config["storage"] = storage["storage"]
        env.update(postgres.env())
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    warehouse: str | Warehouse = str(work / "warehouse.duckdb")
    env.update(
        DAGSTER_HOME=str(home),
        DUCKDB_PATH=str(warehouse),
        RAW_ARCHIVE_DIR=str(work / "raw"),
        PLATFORM_WORK_DIR=str(work / "staging"),
        PLATFORM_EXECUTOR=executor,
        PLATFORM_CELERY_VISIBILITY_TIMEOUT=str(visibility_timeout),
    )
    if backend == "ducklake":
        assert postgres is not None, "the lake's catalog is in PostgreSQL"
        catalog = new_lake(postgres, work / "lake")
        env.update(lake_env(catalog))
        warehouse = Warehouse(lake=catalog)
    if redis is not None:
        env["PLATFORM_CELERY_BROKER"] = redis.url
    deployment = Cluster(env=env, home=home, workspace=work / "workspace.yaml", warehouse=warehouse)
    with deployment.instance() as instance:
        cli.migrate(instance)  # once, before any run
    with ExitStack() as stack:
        # one code server, Dagster's own (`dagster api grpc`, as the Helm chart's user code
        # deployment runs it), for the daemon and every CLI call: the code loads once
        stack.enter_context(code_server(env, deployment.workspace, cwd=REPO, warm=False))
        # the models' automation (running by default) would add runs of its own: only the
        # launched runs here
        with deployment.instance() as instance:
            cli.stop_sensors(instance, deployment.workspace, "models_automation_sensor")
        workspace = str(deployment.workspace)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "platform_assets.demo.daemon", "run", "-w", workspace],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        stack.callback(_end, daemon)
        if workers:
            yaml_path = _worker_config(env, work / "workers" / "celery.yaml")
            deployment.worker_logs = work / "workers" / "logs"
            # as `make workers` starts them: one warm dbt beside them for the models steps
            deployment.workers = stack.enter_context(
                running(yaml_path, workers, deployment.worker_logs, env, stop_seconds=30)
            )
            _wait_for_workers(deployment, workers)
        yield deployment


def _worker_config(env: dict[str, str], path: Path) -> Path:
    """The workers' YAML, written by ``make workers``'s code from the deployment's settings."""
    from platform_assets.core.settings import Settings

    return write_config(Settings.from_env(env), path)


def _wait_for_workers(deployment: Cluster, count: int, timeout: float = 120) -> None:
    """Until every worker says it is ready (Celery's ``ready.`` line in its log)."""
    assert deployment.worker_logs is not None
    deadline = time.monotonic() + timeout
    while True:
        ready = [
            name
            for name in deployment.workers
            if (deployment.worker_logs / f"{name}.log").exists()
            and " ready." in (deployment.worker_logs / f"{name}.log").read_text(errors="replace")
        ]
        if len(ready) == count:
            return
        for name, worker in deployment.workers.items():
            if worker.poll() is not None:
                log = (deployment.worker_logs / f"{name}.log").read_text(errors="replace")
                raise RuntimeError(f"{name} ended: {log[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"workers not ready in {timeout:.0f} s: {ready}")
        time.sleep(0.5)


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
