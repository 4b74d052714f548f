"""A backfill of every table of the demo's generator: one run per partition against range runs.

    .venv/bin/python benchmarks/backfill.py                          # 90 days x 100k rows
    .venv/bin/python benchmarks/backfill.py --days 10 --rows 20000   # quick

The demo's generator writes one day of every table (Attentive, Postscript, ASAPP, Accengage's
two apps) at ``--rows`` rows a file; the other days are that day with its dates moved (so every
day has its own keys and timestamps). A real OpenSSH sshd serves the files. Each mode runs in its
own process over an empty warehouse, through Dagster (``dg.materialize`` on one sqlite instance):

- ``per_partition``: one run per (table, day) partition, as a backfill without a policy runs;
- ``range``: the tables' ``BackfillPolicy`` (``PLATFORM_BACKFILL_PARTITIONS_PER_RUN``, default
  31): one run per table and range of days, the next day downloading while the current one
  validates and writes.

Runs stay in-process (no run worker start per run), so the per-partition figure is a lower bound
of what a deployment pays per run. The raw archive is on, as by default (a hard link to each
download; emptied after each mode). Writes ``benchmarks/results/backfill.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS = REPO / "benchmarks" / "results"
FIRST = dt.date(2026, 6, 1)


def generate(remote: Path, days: int, rows: int) -> dict:
    """Day one from the demo's generator, the other days copied with their dates moved."""
    from platform_assets_tests.scaleout import generate as generate_days

    return generate_days(remote, FIRST, days, rows)


def measure(mode: str, days: int) -> dict:
    """Load every table's days in ``mode`` (this process: the env names server and warehouse)."""
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from platform_assets.core.settings import Settings
    from platform_assets.defs import VENDOR_SOURCES
    from platform_assets.ingest.assets import build_source_assets

    settings = Settings.from_env()
    last = FIRST + dt.timedelta(days=days - 1)
    runs = 0
    rows = 0
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        for vendor in VENDOR_SOURCES:
            source = vendor.configure(settings)
            assets = build_source_assets(source)
            resources = {
                source.source.sftp_resource_key: settings.sftp(source.source.prefix),
                "duckdb": DuckDBResource(database=os.environ["DUCKDB_PATH"]),
            }
            apps: list[str | None] = list(source.app_ids) if source.app_ids else [None]
            for spec in source.tables:
                for app in apps:
                    for tags, key in _runs(
                        mode, days, last, app, source.backfill_partitions_per_run
                    ):
                        result = dg.materialize(
                            assets,
                            selection=[spec.asset_key],
                            partition_key=key,
                            tags=tags,
                            resources=resources,
                            instance=instance,
                        )
                        runs += 1
                        for event in result.get_asset_materialization_events():
                            if event.asset_key != spec.asset_key:
                                continue  # its rejects table's
                            read = event.materialization.metadata["rows_read"].value
                            rows += read if isinstance(read, int) else 0
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "runs": runs, "rows": rows, "peak_rss_mb": _peak_rss()}


def _runs(mode: str, days: int, last: dt.date, app: str | None, per_run: int):
    """(tags, partition key) of each run of one table (and app)."""
    from platform_assets.core.partitions import partition_key_for

    if mode == "per_partition":
        for n in range(days):
            yield {}, partition_key_for(FIRST + dt.timedelta(days=n), app)
        return
    for n in range(0, days, per_run):
        start = FIRST + dt.timedelta(days=n)
        end = min(start + dt.timedelta(days=per_run - 1), last)
        yield (
            {
                "dagster/asset_partition_range_start": str(partition_key_for(start, app)),
                "dagster/asset_partition_range_end": str(partition_key_for(end, app)),
            },
            None,
        )


def _peak_rss() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--modes", default="range,per_partition")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one mode, this process
    args = parser.parse_args()
    if args.measure:
        sys.stdout.write(json.dumps(measure(args.measure, args.days)) + "\n")
        return 0

    from platform_assets_tests.sshd import start_sshd

    sshd = start_sshd()
    work = Path(tempfile.mkdtemp(prefix="bench_backfill_"))
    try:
        remote = sshd.remote_dir / "backfill"
        remote.mkdir()
        started = time.perf_counter()
        generated = generate(remote, args.days, args.rows)
        generated["seconds"] = round(time.perf_counter() - started, 1)
        print(f"generated {generated}", flush=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
        for prefix, folder in (
            ("ATTENTIVE", "attentive"),
            ("POSTSCRIPT", "postscript"),
            ("ASAPP", "asapp/out"),
            ("ACCENGAGE", "accengage"),
        ):
            env.update(sshd.env(prefix, "ed25519"))
            env[f"{prefix}_SFTP_REMOTE_DIR"] = str(remote / folder)
        env.update(
            PYTHONPATH=str(REPO),
            PLATFORM_START_DATE=FIRST.isoformat(),
            PLATFORM_WORK_DIR=str(work / "work"),
            RAW_ARCHIVE_DIR=str(work / "raw"),  # emptied after each mode
            ACCENGAGE_APP_IDS="ios,android",
            ACCENGAGE_MEMBER_ID_COLUMNS="ios=member_id,android=client_ref",
            ASAPP_CUSTOMER_ID_HASH="md5",
        )
        results: dict = {"days": args.days, "rows_per_file": args.rows, "generated": generated}
        for mode in args.modes.split(","):
            env["DUCKDB_PATH"] = str(work / f"{mode}.duckdb")
            proc = subprocess.run(
                [sys.executable, __file__, "--measure", mode, "--days", str(args.days)],
                env=env,
                cwd=REPO,
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                sys.stderr.write(proc.stderr[-4000:])
                raise SystemExit(f"{mode} failed")
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[mode]["warehouse_mb"] = round((work / f"{mode}.duckdb").stat().st_size / 1e6, 1)
            print(f"{mode}: {results[mode]}", flush=True)
            shutil.rmtree(work / "raw", ignore_errors=True)
            (work / f"{mode}.duckdb").unlink()
        if "range" in results and "per_partition" in results:
            results["per_partition_over_range"] = round(
                results["per_partition"]["seconds"] / results["range"]["seconds"], 2
            )
        results["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        results["machine"] = {"cpus": os.cpu_count()}
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "backfill.json").write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps(results, indent=1))
    finally:
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
