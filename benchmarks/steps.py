"""One measured step of the benchmark, run in its own process so that its peak RSS is its own.

Each step prints one JSON line: wall seconds, peak RSS (this process and any child it ran), and
step-specific figures. Run by ``benchmarks/bench.py``; not meant to be called by hand.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM: unlike ru_maxrss, not inherited across fork/exec),
    or that of the children it waited for, whichever is larger."""
    own_kb = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            own_kb = int(line.split()[1])
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own_kb, children_kb) / 1024


def floor_download(args: argparse.Namespace) -> dict:
    """OpenSSH's sftp client downloads the file (the network floor)."""
    batch = Path(args.local).with_suffix(".batch")
    batch.write_text(f'get "{args.remote}" "{args.local}"\n')
    cmd = [
        "sftp",
        "-q",
        "-b",
        str(batch),
        "-P",
        str(args.port),
        "-i",
        args.key,
        "-o",
        f"UserKnownHostsFile={args.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        f"{args.user}@127.0.0.1",
    ]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def platform_download(args: argparse.Namespace) -> dict:
    """The platform's SFTP download alone (paramiko, as the loader downloads: prefetch, 4 MiB
    window, hashed on the way, the part file renamed when complete): a part no design skips."""
    import dagster as dg

    from platform_assets.core.settings import Settings

    resources = {"sftp": Settings.from_env().sftp("ATTENTIVE")}
    with dg.build_resources(resources) as built:  # the EnvVars resolved, as in a run
        started = time.perf_counter()
        built.sftp.download(Path(args.remote).name, Path(args.local))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def platform_keypass(args: argparse.Namespace) -> dict:
    """The least any loader must do between the download and the insert: every row's key (the
    loader's own parse and md5 SQL, its staging DuckDB and settings), in file order, so that the
    repeated keys are known before a row is written. No rules, no row hash, no formula count (a
    design could fold those into the insert): a lower bound of the validation stage."""
    import datetime as dt

    from platform_assets.core.csvfile import CsvFile
    from platform_assets.core.settings import Settings
    from platform_assets.core.staging import staging_connection
    from platform_assets.core.warehouse import ordered
    from platform_assets.defs.attentive import NOTIFICATIONS

    settings = Settings.from_env().loader
    local = Path(args.local)
    day = dt.date.fromisoformat(args.partition)
    spill = local.parent / "keypass"
    spill.mkdir(exist_ok=True)
    started = time.perf_counter()
    with staging_connection(settings, spill) as con:
        csv = CsvFile(
            local, local.name, NOTIFICATIONS, day=day, max_line_bytes=settings.max_line_bytes
        )
        ordered(con)
        con.execute(f"CREATE TABLE positions AS SELECT {csv.key} AS k FROM {csv.plain}")
        [(rows,)] = con.execute("SELECT count(*) FROM positions").fetchall()
        con.execute("DROP TABLE positions")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "rows": rows}


def floor_duckdb(args: argparse.Namespace) -> dict:
    """DuckDB's read_csv creates a table from the local copy, with the documented md5 key."""
    import duckdb

    started = time.perf_counter()
    with duckdb.connect(args.database) as con:
        key_inputs = (
            "{'type': 'VARCHAR', 'phone': 'VARCHAR', 'email': 'VARCHAR', 'timestamp': 'VARCHAR'}"
        )
        con.execute(
            "CREATE TABLE notifications AS SELECT md5(coalesce(type, '') || ':' || "
            "coalesce(phone, '') || ':' || coalesce(email, '') || ':' || "
            "substr(coalesce(\"timestamp\", ''), 1, 19)) AS __sync_key, * "
            f"FROM read_csv(?, header = true, types = {key_inputs})",
            [args.local],
        )
        [(rows,)] = con.execute("SELECT count(*) FROM notifications").fetchall()
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": _peak_rss_mb(), "rows": rows}


def platform(args: argparse.Namespace) -> dict:
    """Materialize the partition of attentive_mobile/notifications through Dagster."""
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from platform_assets.core.settings import Settings
    from platform_assets.defs.attentive import NOTIFICATIONS, SOURCE
    from platform_assets.ingest.assets import build_source_assets

    settings = Settings.from_env()
    assets = build_source_assets(SOURCE.configure(settings))
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            assets,
            selection=[NOTIFICATIONS.asset_key],
            partition_key=args.partition,
            resources={
                "attentive_sftp": settings.sftp("ATTENTIVE"),
                "duckdb": DuckDBResource(database=args.database),
            },
            instance=instance,
        )
    seconds = time.perf_counter() - started
    mat = result.asset_materializations_for_node("attentive_mobile__notifications")[0]
    meta = {k: v.value for k, v in mat.metadata.items() if isinstance(v.value, int | float)}
    return {
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "rows": meta["rows_read"],
        "rows_inserted": meta["rows_inserted"],
        "rows_updated": meta["rows_updated"],
        "table_rows": meta["table_rows_total"],
        "stages_s": {
            k.removeprefix("seconds_"): v for k, v in meta.items() if k.startswith("seconds_")
        },
    }


def prefill(args: argparse.Namespace) -> dict:
    """Fill the warehouse with N existing notifications (other keys, an older file date)."""
    import duckdb

    from platform_assets.core.warehouse import table_ddl
    from platform_assets.defs.attentive import NOTIFICATIONS

    started = time.perf_counter()
    with duckdb.connect(args.database) as con:
        for ddl in table_ddl(NOTIFICATIONS):
            con.execute(ddl)
        con.execute(
            f"""
            INSERT INTO attentive_mobile.notifications
            SELECT md5('old' || i::VARCHAR), 'MESSAGE_RECEIPT', '+1' || (2012000000 + i % 7000000),
                   'c' || (i % 500000), NULL, TIMESTAMP '2025-01-01' + to_seconds(i % 31536000),
                   NULL, (1000 + i % 40)::VARCHAR, 'Campaign', 'Flash sale, today only',
                   'CAMPAIGN', 'STANDARD', TIMESTAMP '2025-01-01', '50000', 'Popup', 'POPUP',
                   'SMS_ONLY', md5('old' || i::VARCHAR), DATE '2025-06-30',
                   'attentive_email_SMS_20250630.csv', TIMESTAMP '2025-07-01'
            FROM range({args.rows}) t(i)
            """
        )
    return {"seconds": time.perf_counter() - started, "rows": args.rows}


def dlt_peer(args: argparse.Namespace) -> dict:
    """dlt's filesystem source over sftp into DuckDB, with dlt's defaults (its own venv)."""
    import dlt
    from dlt.common.configuration.specs import SFTPCredentials
    from dlt.sources.filesystem import filesystem, read_csv

    credentials = SFTPCredentials(
        sftp_port=args.port, sftp_username=args.user, sftp_key_filename=args.key
    )
    files = filesystem(
        bucket_url=f"sftp://127.0.0.1{args.remote_dir}",
        credentials=credentials,
        file_glob=args.glob,
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt",
        pipelines_dir=args.pipelines_dir,
        destination=dlt.destinations.duckdb(args.database),
        dataset_name="attentive_mobile",
    )
    started = time.perf_counter()
    info = pipeline.run((files | read_csv()).with_name("notifications"))
    seconds = time.perf_counter() - started
    import duckdb

    with duckdb.connect(args.database, read_only=True) as con:
        [(rows,)] = con.execute("SELECT count(*) FROM attentive_mobile.notifications").fetchall()
    return {
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "rows": rows,
        "loads": len(info.load_packages),
    }


def generate(args: argparse.Namespace) -> dict:
    """Write the Attentive notifications file of about ``--size`` bytes into ``--remote-dir``."""
    import datetime as dt

    from platform_assets.defs.attentive import NOTIFICATIONS
    from platform_assets.demo.samples import write_notifications

    day = dt.date.fromisoformat(args.partition)
    folder = Path(args.remote_dir)
    sample = write_notifications(folder / "sample.csv", day, 20_000)
    per_row = sample.stat().st_size / 20_000
    sample.unlink()
    rows = max(1000, int(args.bytes / per_row))
    path = write_notifications(folder / NOTIFICATIONS.file_name(day), day, rows)
    return {"path": str(path), "rows": rows, "bytes": path.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step")
    for opt in (
        "remote",
        "local",
        "key",
        "known_hosts",
        "user",
        "database",
        "partition",
        "remote_dir",
        "glob",
        "pipelines_dir",
    ):
        parser.add_argument(f"--{opt.replace('_', '-')}", dest=opt)
    parser.add_argument("--port", type=int)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--bytes", type=int)
    args = parser.parse_args()
    step = {
        "floor-download": floor_download,
        "floor-duckdb": floor_duckdb,
        "platform": platform,
        "platform-download": platform_download,
        "platform-keypass": platform_keypass,
        "prefill": prefill,
        "dlt": dlt_peer,
        "generate": generate,
    }[args.step]
    sys.stdout.write(json.dumps(step(args)) + "\n")


if __name__ == "__main__":
    main()
