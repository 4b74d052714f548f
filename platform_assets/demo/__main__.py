"""The embedded default: ``python -m platform_assets.demo run|dev``.

``run`` (``make demo``) generates realistic Attentive files for the last N days, serves them from
an embedded SFTP server on 127.0.0.1, materializes every Attentive partition into the DuckDB file
(``DUCKDB_PATH``, default ``data/warehouse.duckdb``) and prints a per-table, per-partition summary.
``dev`` (``make dev``) does the same set-up and then runs ``dagster dev`` against that server.
Both keep Dagster's run history in ``data/dagster_home`` so the UI shows the demo's runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import subprocess
import sys
from pathlib import Path

DAGSTER_YAML = """\
# Written by `python -m platform_assets.demo`: one warehouse writer at a time (DuckDB is a
# single-writer file; the table assets share the pool below).
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def _prepare(data_dir: Path, days: int, rows: int) -> tuple[object, list[dt.date]]:
    from platform_assets.demo.samples import write_attentive_day
    from platform_assets.demo.server import EmbeddedSFTPServer

    today = dt.datetime.now(dt.UTC).date()
    dates = [today - dt.timedelta(days=n) for n in range(days, 0, -1)]
    sftp_root = data_dir / "demo" / "sftp"
    for day in dates:
        write_attentive_day(sftp_root, day, conversions=max(rows // 10, 1), notifications=rows)
    server = EmbeddedSFTPServer(root=sftp_root, known_hosts=data_dir / "demo" / "known_hosts")
    server.start()
    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ.update(server.env("ATTENTIVE"))
    os.environ.setdefault("DUCKDB_PATH", str(data_dir / "warehouse.duckdb"))
    os.environ.setdefault("PLATFORM_START_DATE", (today - dt.timedelta(days=30)).isoformat())
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return server, dates


def _summary(days: list[dt.date], read: dict[tuple[str, str], int]) -> str:
    import duckdb

    from platform_assets.defs.attentive.tables import TABLES

    lines = [
        f"{'table':32} {'partition':10} {'rows read':>9} {'rows':>7} {'keys':>7} {'rejects':>7}"
    ]
    with duckdb.connect(os.environ["DUCKDB_PATH"], read_only=True) as con:
        for spec in TABLES:
            for day in days:
                rows, keys = con.execute(
                    f"SELECT count(*), count(DISTINCT {spec.key}) FROM {spec.qualified_name} "
                    "WHERE __file_date = ?",
                    [day],
                ).fetchone()
                rejects = con.execute(
                    f"SELECT count(DISTINCT line) FROM {spec.schema}.{spec.rejects_table} "
                    "WHERE __file_date = ?",
                    [day],
                ).fetchone()[0]
                n_read = read.get((spec.qualified_name, day.isoformat()), 0)
                lines.append(
                    f"{spec.qualified_name:32} {day.isoformat():10} {n_read:>9} {rows:>7} "
                    f"{keys:>7} {rejects:>7}"
                )
    return "\n".join(lines)


def run(data_dir: Path, days: int, rows: int) -> int:
    server, dates = _prepare(data_dir, days, rows)
    try:
        import dagster as dg

        definitions = importlib.import_module("platform_assets.definitions")
        defs: dg.Definitions = definitions.defs
        job = defs.resolve_implicit_global_asset_job_def()
        from platform_assets.defs.attentive.tables import TABLES

        read: dict[tuple[str, str], int] = {}
        failed = 0
        with dg.DagsterInstance.get() as instance:
            for day in dates:
                result = job.execute_in_process(
                    partition_key=day.isoformat(),
                    asset_selection=[s.asset_key for s in TABLES],
                    instance=instance,
                    raise_on_error=False,
                    tags={"launched_by": "make demo"},
                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                )
                failed += 0 if result.success else 1
                for event in result.get_asset_materialization_events():
                    mat = event.event_specific_data.materialization
                    assert mat is not None
                    read[(".".join(mat.asset_key.path), day.isoformat())] = int(
                        mat.metadata["rows_read"].value
                    )
        print(f"\nLoaded {len(dates)} days of Attentive files into {os.environ['DUCKDB_PATH']}")
        print(_summary(dates, read))
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
