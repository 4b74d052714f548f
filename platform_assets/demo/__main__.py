"""The embedded default: ``python -m platform_assets.demo run|dev``.

``run`` (``make demo``) generates sample files of every vendor (Attentive, Postscript, ASAPP,
Accengage with two apps) for the last N days, serves them from an embedded SFTP server on
127.0.0.1 (one folder per vendor), materializes every partition of every table into the DuckDB
file (``DUCKDB_PATH``, default ``data/warehouse.duckdb``) and prints a per-table summary.
``dev`` (``make dev``) does the same set-up and then runs ``dagster dev`` against that server.
Both keep Dagster's run history in ``data/dagster_home`` so the UI shows the demo's runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from platform_assets.defs import VENDOR_SOURCES
from platform_assets.demo.server import EmbeddedSFTPServer

DAGSTER_YAML = """\
# Written by `python -m platform_assets.demo`: one warehouse writer at a time (DuckDB is a
# single-writer file; the table assets share the pool below).
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def _prepare(data_dir: Path, days: int, rows: int) -> tuple[EmbeddedSFTPServer, list[dt.date]]:
    import shutil

    from platform_assets.demo.samples import write_attentive_day
    from platform_assets.demo.vendor_samples import DEMO_APPS, write_vendor_day

    today = dt.datetime.now(dt.UTC).date()
    dates = [today - dt.timedelta(days=n) for n in range(days, 0, -1)]
    sftp_root = data_dir / "demo" / "sftp"
    shutil.rmtree(sftp_root, ignore_errors=True)
    for day in dates:
        write_attentive_day(
            sftp_root / "attentive", day, conversions=max(rows // 10, 1), notifications=rows
        )
        write_vendor_day(sftp_root, day, today, rows=max(rows // 20, 10))
    server = EmbeddedSFTPServer(root=sftp_root, known_hosts=data_dir / "demo" / "known_hosts")
    server.start()
    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    for source in VENDOR_SOURCES:
        os.environ.update(server.env(source.prefix))
        os.environ[f"{source.prefix}_SFTP_REMOTE_DIR"] = "/" + "/".join(
            filter(None, (source.name, source.documented_folder))
        )
    os.environ["ACCENGAGE_APP_IDS"] = ",".join(DEMO_APPS)
    os.environ["ACCENGAGE_MEMBER_ID_COLUMNS"] = ",".join(f"{a}={h}" for a, h in DEMO_APPS.items())
    os.environ.setdefault("DUCKDB_PATH", str(data_dir / "warehouse.duckdb"))
    os.environ.setdefault("PLATFORM_START_DATE", (today - dt.timedelta(days=30)).isoformat())
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return server, dates


def _summary(warehouse: str, read: dict[str, int], partitions: dict[str, int]) -> str:
    """Per table: partitions loaded, rows read from files, rows and keys in the table, rejects."""
    import duckdb

    from platform_assets.lib.specs import quote_ident

    lines = [
        f"{'table':40} {'partitions':>10} {'rows read':>9} {'rows':>7} {'keys':>7} {'rejects':>7}"
    ]
    with duckdb.connect(warehouse, read_only=True) as con:
        for spec in (t for s in VENDOR_SOURCES for t in s.tables):
            [(rows, keys)] = con.execute(
                f"SELECT count(*), count(DISTINCT {quote_ident(spec.key)}) "
                f"FROM {spec.qualified_name}"
            ).fetchall()
            [(rejects,)] = con.execute(
                f"SELECT count(*) FROM {spec.schema}.{spec.rejects_table}"
            ).fetchall()
            name = spec.qualified_name
            lines.append(
                f"{name:40} {partitions.get(name, 0):>10} {read.get(name, 0):>9} {rows:>7} "
                f"{keys:>7} {rejects:>7}"
            )
    return "\n".join(lines)


def run(data_dir: Path, days: int, rows: int) -> int:
    server, dates = _prepare(data_dir, days, rows)
    try:
        import dagster as dg

        from platform_assets.lib.build import build_definitions
        from platform_assets.lib.partitions import partition_key_for
        from platform_assets.lib.settings import Settings

        settings = Settings.from_env()  # the environment _prepare set
        defs = build_definitions(VENDOR_SOURCES, settings)

        read: dict[str, int] = {}
        partitions: dict[str, int] = {}
        failed = 0
        with dg.DagsterInstance.get() as instance:
            for source in VENDOR_SOURCES:
                job = defs.resolve_job_def(f"{source.name}_daily_job")
                configured = source.configure(settings)
                apps: list[str | None] = list(configured.app_ids) if source.has_apps else [None]
                for day in dates:
                    for app in apps:
                        result = job.execute_in_process(
                            partition_key=partition_key_for(day, app),
                            instance=instance,
                            raise_on_error=False,
                            tags={"launched_by": "make demo"},
                            run_config={
                                "loggers": {"console": {"config": {"log_level": "WARNING"}}}
                            },
                        )
                        failed += 0 if result.success else 1
                        for event in result.get_asset_materialization_events():
                            mat = event.step_materialization_data.materialization
                            name = ".".join(mat.asset_key.path)
                            rows_read = mat.metadata["rows_read"].value
                            assert isinstance(rows_read, int)
                            read[name] = read.get(name, 0) + rows_read
                            partitions[name] = partitions.get(name, 0) + 1
        print(f"\nLoaded {len(dates)} days of every vendor's files into {settings.duckdb_path}")
        print(_summary(settings.duckdb_path, read, partitions))
        if failed:
            print(f"\n{failed} partition run(s) failed; see the logs above.")
            return 1
        print("\nNext: `make dev` to browse the assets, lineage and these runs in the Dagster UI.")
        return 0
    finally:
        server.stop()


def dev(data_dir: Path, days: int, rows: int, port: int) -> int:
    server, _ = _prepare(data_dir, days, rows)
    try:
        print(f"Embedded SFTP server on 127.0.0.1:{server.port}; starting dagster dev on :{port}")
        exe = Path(sys.executable).with_name("dagster")
        return subprocess.call(
            [str(exe), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
        )
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platform_assets.demo", description=__doc__)
    parser.add_argument("command", choices=["run", "dev"])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows", type=int, default=5000, help="notification rows per day")
    parser.add_argument("--port", type=int, default=3000, help="dagster dev's port")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.data_dir, args.days, args.rows)
    return dev(args.data_dir, args.days, args.rows, args.port)


if __name__ == "__main__":
    sys.exit(main())
