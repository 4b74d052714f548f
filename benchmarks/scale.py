"""A 30-day backfill of every table, deployed as it scales out: the embedded default against
DuckLake with 1, 2 and 4 Celery workers, all on this machine.

    .venv-lake/bin/python benchmarks/scale.py                        # 30 days x 10,000 rows
    .venv-lake/bin/python benchmarks/scale.py --days 5 --rows 2000   # quick

The files are the demo generator's (every table; Accengage's two apps), served by a real
OpenSSH sshd. Each mode is a fresh deployment (``platform_assets_tests/scaleout.py``: the
daemon's run queue, ``dagster job launch`` per source, i.e. 5 range runs):

- ``embedded``: the shipped instance (SQLite), the DuckDB file, in-process runs: one writer;
- ``lake``: the instance on PostgreSQL, DuckLake, in-process runs (a writer per table);
- ``lake+N``: the instance on PostgreSQL, DuckLake (its catalog in the same PostgreSQL), runs
  on the Celery executor with N workers (``make workers``'s code), Redis as broker.

Wall time is from the first run's start to the last run's end (as the instance records them:
the queue and the launch commands are left out); rows/s is the rows read over it; peak memory is
the largest resident set of one process doing the work (a run's process in-process; a worker's,
on Celery), sampled every 0.2 s; conflict retries are the loads' ``commit_retries``. Writes
``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS = REPO / "benchmarks" / "results"
FIRST = dt.date(2026, 6, 1)


class PeakMemory:
    """The largest resident set (MB) of processes of the given sessions, sampled in a thread
    (run processes come and go: their high-water mark dies with them)."""

    def __init__(self) -> None:
        self.sessions: dict[int, str] = {}
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                    sid = int(stat.rsplit(")", 1)[1].split()[3])  # state ppid pgrp session
                    if sid not in self.sessions:
                        continue
                    status = Path(f"/proc/{pid}/status").read_text()
                except (OSError, IndexError, ValueError):
                    continue
                for line in status.splitlines():
                    if line.startswith("VmRSS:"):
                        name = self.sessions[sid]
                        mb = int(line.split()[1]) / 1024
                        self.peaks[name] = max(self.peaks.get(name, 0.0), round(mb, 1))


def run_mode(mode: str, sshd, remote: Path, days: int, work: Path) -> dict:
    import dagster as dg

    from platform_assets_tests import scaleout
    from platform_assets_tests.postgres import postgres_server
    from platform_assets_tests.redis import redis_server

    workers = int(mode.split("+")[1]) if "+" in mode else 0
    on_lake = mode.startswith("lake")
    last = FIRST + dt.timedelta(days=days - 1)
    env = scaleout.vendor_env(sshd, remote, FIRST)
    with (
        postgres_server() as postgres,
        redis_server() as redis,
        scaleout.cluster(
            work / mode, env,
            postgres if on_lake else None,
            redis if workers else None,
            workers=workers,
            backend="ducklake" if on_lake else "duckdb",
            executor="celery" if workers else "in_process",
        ) as deployment,
        deployment.instance() as instance,
        _sampled(deployment) as memory,
    ):  # fmt: skip
        ids = deployment.launch_all(
            instance,
            [(job, scaleout.range_tags(FIRST, last, app)) for job, app in scaleout.LOAD_JOBS],
        )
        runs = deployment.wait(instance, ids, timeout=7200)
        failed = [r.job_name for r in runs if r.status != dg.DagsterRunStatus.SUCCESS]
        if failed:
            raise SystemExit(f"{mode}: {failed} failed (logs: {work / mode})")
        records = [instance.get_run_record_by_id(r.run_id) for r in runs]
        starts = [r.start_time for r in records if r is not None and r.start_time]
        ends = [r.end_time for r in records if r is not None and r.end_time]
        rows = retries = 0
        for run in runs:
            for event in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ):
                assert event.dagster_event is not None
                metadata = event.dagster_event.step_materialization_data.materialization.metadata
                read = metadata.get("rows_read")
                rows += read.value if read is not None and isinstance(read.value, int) else 0
                retried = metadata.get("commit_retries")
                retries += (
                    retried.value if retried is not None and isinstance(retried.value, int) else 0
                )
        wall = max(ends) - min(starts)
        peaks = memory.peaks
    return {
        "workers": workers,
        "warehouse": "ducklake" if on_lake else "duckdb file",
        "executor": "celery" if workers else "in_process",
        "wall_s": round(wall, 1),
        "rows": rows,
        "rows_per_s": round(rows / wall),
        "peak_rss_mb": peaks,
        "commit_retries": retries,
    }


@contextmanager
def _sampled(deployment) -> Iterator[PeakMemory]:
    """Peak memory of each worker's session (Celery) or of the daemon's (its run processes)."""
    with PeakMemory() as memory:
        for name, worker in deployment.workers.items():
            memory.sessions[os.getsid(worker.pid)] = name
        if not deployment.workers:
            memory.sessions[_daemon_session(deployment)] = "runs"
        yield memory


def _daemon_session(deployment) -> int:
    """The session of the daemon's processes (its code server launches the runs)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "platform_assets.demo.daemon" in cmd and str(deployment.workspace) in cmd:
            return os.getsid(int(pid))
    raise RuntimeError("the daemon is not running")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--modes", default="embedded,lake,lake+1,lake+2,lake+4")
    args = parser.parse_args()

    from platform_assets_tests.scaleout import generate
    from platform_assets_tests.sshd import start_sshd

    sshd = start_sshd()
    work = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        remote = sshd.remote_dir / "scale"
        remote.mkdir()
        generated = generate(remote, FIRST, args.days, args.rows)
        print(f"generated {args.days} days: {generated}", flush=True)
        results: dict = {"days": args.days, "rows_per_file": args.rows, "generated": generated}
        for mode in args.modes.split(","):
            results[mode] = run_mode(mode, sshd, remote, args.days, work)
            print(f"{mode}: {results[mode]}", flush=True)
        results["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        results["machine"] = {"cpus": os.cpu_count()}
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "scale.json").write_text(json.dumps(results, indent=1) + "\n")
        print(f"results: {RESULTS / 'scale.json'} (deployments' logs: {work})")
    finally:
        sshd.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
